//! Shared test harness: each test gets its own Compose project (unique name, own temp folder)
//! and everything the project created is removed when the test ends, pass or fail.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder,
};
use bollard::Docker;

/// The local Postgres image built by `scripts/test` (official-image compatible).
pub fn postgres_image() -> String {
    std::env::var("DEVDB_TEST_IMAGE").unwrap_or_else(|_| "devdb-postgres:15".to_string())
}

/// The PostgreSQL 17 stand-in built by `scripts/test` (for tests across majors).
pub fn postgres_image_17() -> String {
    std::env::var("DEVDB_TEST_IMAGE_17").unwrap_or_else(|_| "devdb-postgres:17".to_string())
}

/// The PostgreSQL 18 stand-in built by `scripts/test` (laid out as the official 18 image: data
/// under /var/lib/postgresql). Unset: a skip on a developer's clone, a failure in CI (CI=true),
/// where a test that did not run must not pass.
pub fn postgres_image_18() -> Option<String> {
    if let Ok(image) = std::env::var("DEVDB_TEST_IMAGE_18") {
        return Some(image);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "DEVDB_TEST_IMAGE_18 is not set: scripts/test builds devdb-postgres:18 and exports it"
    );
    eprintln!("SKIP: DEVDB_TEST_IMAGE_18 is not set (scripts/test builds devdb-postgres:18)");
    None
}

/// Where a Compose file mounts the data volume for `image`: PostgreSQL 18+ images keep PGDATA in
/// /var/lib/postgresql/<major>/docker (volume at /var/lib/postgresql), older ones in
/// /var/lib/postgresql/data.
pub fn data_mount_for(image: &str) -> &'static str {
    let is_18 = std::env::var("DEVDB_TEST_IMAGE_18").is_ok_and(|i| i == image)
        || image
            .rsplit_once(':')
            .and_then(|(_, tag)| tag.split(['.', '-']).next()?.parse::<u32>().ok())
            .is_some_and(|major| major >= 18);
    if is_18 {
        "/var/lib/postgresql"
    } else {
        "/var/lib/postgresql/data"
    }
}

/// The local registry started by `scripts/test`.
pub fn registry() -> String {
    std::env::var("DEVDB_REGISTRY").unwrap_or_else(|_| "127.0.0.1:5000".to_string())
}

pub struct TestProject {
    pub name: String,
    pub root: tempfile::TempDir,
    /// Extra images this test built, removed on drop.
    pub images: Vec<String>,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestProject {
    pub fn new(label: &str) -> TestProject {
        let name = format!(
            "devdbt-{label}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        )
        .replace('_', "-");
        let root = tempfile::Builder::new()
            .prefix("devdb-test-")
            .tempdir()
            .expect("temp dir");
        std::fs::create_dir_all(root.path().join("compose")).expect("compose dir");
        TestProject {
            name,
            root,
            images: Vec::new(),
        }
    }

    /// A project with the standard database service, plus `extra` appended to the service.
    pub fn with_database(label: &str, extra_service_yaml: &str) -> TestProject {
        let project = TestProject::new(label);
        project.write_compose(&project.database_yaml(
            &postgres_image(),
            "\"5432\"",
            extra_service_yaml,
            "",
        ));
        project
    }

    pub fn database_yaml(
        &self,
        image: &str,
        port: &str,
        extra_service_yaml: &str,
        extra_top: &str,
    ) -> String {
        require_engine();
        format!(
            "name: {name}\n\
             services:\n  \
               postgres:\n    \
                 image: {image}\n    \
                 environment:\n      \
                   POSTGRES_USER: app\n      \
                   POSTGRES_PASSWORD: test-secret-pw\n      \
                   POSTGRES_DB: app\n    \
                 ports: [{port}]\n    \
                 volumes: [\"pgdata:{mount}\"]\n\
             {extra_service_yaml}\
             volumes:\n  pgdata:\n\
             x-devdb:\n  ready_timeout: 60s\n{extra_top}",
            name = self.name,
            mount = data_mount_for(image),
        )
    }

    pub fn compose_path(&self) -> PathBuf {
        self.root.path().join("compose/docker-compose.yaml")
    }

    pub fn path(&self) -> &Path {
        self.root.path()
    }

    pub fn write_compose(&self, yaml: &str) {
        std::fs::write(self.compose_path(), yaml).expect("write compose file");
    }

    /// Runs the devdb binary inside the project folder (it finds the Compose file by walking up).
    pub fn devdb(&self, args: &[&str]) -> Run {
        self.devdb_with_env(args, &[])
    }

    pub fn devdb_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = Command::new(env!("CARGO_BIN_EXE_devdb"));
        command
            .args(args)
            .current_dir(self.root.path())
            .env_remove("DEVDB_FILE")
            .env_remove("COMPOSE_PROJECT_NAME")
            .stdin(std::process::Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        Run::from(command.output().expect("run devdb"))
    }

    pub fn container_name(&self, service: &str) -> String {
        format!("{}-{service}-1", self.name)
    }
}

impl Drop for TestProject {
    fn drop(&mut self) {
        let project = self.name.clone();
        let images = std::mem::take(&mut self.images);
        // Drop may run inside a test's runtime: clean up from a thread with its own runtime.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(remove_project(&project, &images));
        });
        let _ = cleanup.join();
    }
}

/// Ends the test with one clear line (no panic backtrace) when no Docker engine answers: these
/// tests start real containers. `cargo test --lib` needs no engine.
pub fn require_engine() {
    static ANSWERS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let answers = *ANSWERS.get_or_init(|| {
        let socket = std::env::var("DOCKER_HOST")
            .ok()
            .and_then(|h| h.strip_prefix("unix://").map(str::to_string))
            .unwrap_or_else(|| "/var/run/docker.sock".to_string());
        std::os::unix::net::UnixStream::connect(socket).is_ok()
    });
    if !answers {
        eprintln!("no Docker engine answers: integration tests need one (scripts/test starts it)");
        std::process::exit(2);
    }
}

pub async fn docker() -> Docker {
    require_engine();
    Docker::connect_with_local_defaults()
        .expect("docker client")
        .negotiate_version()
        .await
        .expect("a Docker engine must run for integration tests (scripts/test starts one)")
}

fn label_filter(project: &str) -> std::collections::HashMap<String, Vec<String>> {
    std::collections::HashMap::from([(
        "label".to_string(),
        vec![format!("com.docker.compose.project={project}")],
    )])
}

/// What a project owns, by its Compose project label: container ids, volume and network names.
/// Listing errors panic: a check that cannot see the engine must not pass.
struct Owned {
    containers: Vec<String>,
    volumes: Vec<String>,
    networks: Vec<String>,
}

async fn owned(docker: &Docker, project: &str) -> Owned {
    let filter = label_filter(project);
    let containers = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filter)
                .build(),
        ))
        .await
        .expect("list containers");
    let volumes = docker
        .list_volumes(Some(
            ListVolumesOptionsBuilder::default()
                .filters(&filter)
                .build(),
        ))
        .await
        .expect("list volumes")
        .volumes
        .unwrap_or_default();
    let networks = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::default()
                .filters(&filter)
                .build(),
        ))
        .await
        .expect("list networks");
    Owned {
        containers: containers.into_iter().filter_map(|c| c.id).collect(),
        volumes: volumes.into_iter().map(|v| v.name).collect(),
        networks: networks.into_iter().filter_map(|n| n.name).collect(),
    }
}

async fn remove_project(project: &str, images: &[String]) {
    let docker = docker().await;
    let owned = owned(&docker, project).await;
    for id in &owned.containers {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        let _ = docker.remove_container(id, Some(options)).await;
    }
    for volume in &owned.volumes {
        let _ = docker
            .remove_volume(
                volume,
                None::<bollard::query_parameters::RemoveVolumeOptions>,
            )
            .await;
    }
    for network in &owned.networks {
        let _ = docker.remove_network(network).await;
    }
    // Only the tag goes: the untagged layers under it are the build cache that another test's
    // build of the same Dockerfile may be standing on right now ("unknown parent image ID").
    for image in images {
        let options = RemoveImageOptionsBuilder::default()
            .force(true)
            .noprune(true)
            .build();
        let _ = docker.remove_image(image, Some(options), None).await;
    }
}

/// Project resources that still exist, as "kind name" strings.
pub async fn project_resources(project: &str) -> Vec<String> {
    let owned = owned(&docker().await, project).await;
    let containers = owned.containers.iter().map(|c| format!("container {c}"));
    let volumes = owned.volumes.iter().map(|v| format!("volume {v}"));
    let networks = owned.networks.iter().map(|n| format!("network {n}"));
    containers.chain(volumes).chain(networks).collect()
}

/// The captured result of one devdb run.
pub struct Run {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Run {
        Run {
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Run {
    #[track_caller]
    pub fn ok(self) -> Run {
        assert!(
            self.status.success(),
            "devdb failed ({}):\nstdout:\n{}\nstderr:\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn fails(self) -> Run {
        assert!(
            !self.status.success(),
            "devdb should have failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Connects to the project's database through the URL `devdb url` prints.
pub async fn connect(project: &TestProject) -> tokio_postgres::Client {
    let url = project.devdb(&["url"]).ok().stdout.trim().to_string();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect to devdb's database");
    tokio::spawn(connection);
    client
}

impl TestProject {
    /// Writes `migrations/<name>/migration.sql`.
    pub fn write_migration(&self, name: &str, sql: &str) -> PathBuf {
        let dir = self.root.path().join("migrations").join(name);
        std::fs::create_dir_all(&dir).expect("migration dir");
        let path = dir.join("migration.sql");
        std::fs::write(&path, sql).expect("write migration");
        path
    }

    /// Copies the repository's migration corpus into this project.
    pub fn copy_corpus(&self) -> usize {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut count = 0;
        for entry in std::fs::read_dir(&source).expect("corpus") {
            let entry = entry.unwrap();
            if entry.path().is_dir() {
                let script = std::fs::read_to_string(entry.path().join("migration.sql")).unwrap();
                self.write_migration(&entry.file_name().to_string_lossy(), &script);
                count += 1;
            }
        }
        count
    }
}

/// Runs a query and returns the rows' first column as text.
pub async fn column(client: &tokio_postgres::Client, sql: &str) -> Vec<String> {
    client
        .simple_query(sql)
        .await
        .expect("query")
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => {
                Some(row.get(0).unwrap_or("NULL").to_string())
            }
            _ => None,
        })
        .collect()
}

/// Waits (up to 30 s) until no other client session is connected to the client's database: a
/// killed devdb's session is gone only once the server notices and rolls its transaction back.
pub async fn wait_until_other_sessions_end(client: &tokio_postgres::Client) {
    let started = std::time::Instant::now();
    while column(
        client,
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND datname = current_database()",
    )
    .await
        != ["0"]
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the copy's session lingers"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A "remote stage" (its own devdb project with `remote_sql` applied) and a local project whose
/// x-devdb names it as stage CODE, with the db-copy service built from the repo's container.
pub struct StagePair {
    pub remote: TestProject,
    pub local: TestProject,
    pub remote_url: String,
}

impl StagePair {
    pub async fn new(
        label: &str,
        remote_sql: &str,
        local_sql: &str,
        extra_devdb: &str,
    ) -> StagePair {
        let remote = TestProject::with_database(&format!("{label}-remote"), "");
        remote.devdb(&["up"]).ok();
        let remote_url = remote.devdb(&["url"]).ok().stdout.trim().to_string();
        connect(&remote)
            .await
            .batch_execute(remote_sql)
            .await
            .expect("remote schema");

        let mut local = TestProject::new(&format!("{label}-local"));
        let db_copy = format!(
            "  db_copy:\n    build:\n      context: {}\n      args:\n        BASE_IMAGE: {}\n    profiles: [tools]\n",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("containers/db-copy").display(),
            postgres_image()
        );
        let devdb = format!("  stages:\n    CODE: {{ url_command: \"echo '{remote_url}'\", sslmode: disable }}\n{extra_devdb}");
        let yaml = local
            .database_yaml(&postgres_image(), "\"5432\"", "", &devdb)
            .replacen(
                "volumes:\n  pgdata:",
                &format!("{db_copy}volumes:\n  pgdata:"),
                1,
            );
        local.write_compose(&yaml);
        local.images.push(format!("{}-db_copy", local.name));
        local.devdb(&["up"]).ok();
        if !local_sql.is_empty() {
            connect(&local)
                .await
                .batch_execute(local_sql)
                .await
                .expect("local schema");
        }
        StagePair {
            remote,
            local,
            remote_url,
        }
    }
}
