//! devdb against a real second Docker engine on its own host: a network namespace with its own
//! address on a veth pair, a dockerd inside it listening on tcp://ADDR:2376 with mutual TLS
//! (certificates made here with rcgen). Only addresses inside that veth pair are dialled.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A dockerd in its own network namespace, removed (engine, namespace, files) on drop.
struct RemoteEngine {
    namespace: String,
    host_veth: String,
    address: String,
    dir: tempfile::TempDir,
    dockerd: Child,
}

fn run(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Skips (with the reason) where namespaces cannot be made; under CI=true that fails instead.
fn namespace_or_skip(namespace: &str) -> bool {
    match run(&["ip", "netns", "add", namespace]) {
        Ok(()) => true,
        Err(reason) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("SKIP: cannot create a network namespace here ({reason})");
            false
        }
        Err(reason) => panic!("CI=true but no network namespace can be created: {reason}"),
    }
}

/// CA, server certificate for `address` and client certificate, as the docker CLI's files.
fn write_certificates(server_dir: &Path, client_dir: &Path, address: &str) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "devdb remote CA");
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let signed = |names: Vec<String>, usage: ExtendedKeyUsagePurpose| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names).unwrap();
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = signed(
        vec![address.to_string()],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client_cert, client_key) = signed(Vec::new(), ExtendedKeyUsagePurpose::ClientAuth);
    for dir in [server_dir, client_dir] {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("ca.pem"), &ca_pem).unwrap();
    }
    std::fs::write(server_dir.join("cert.pem"), server_cert).unwrap();
    std::fs::write(server_dir.join("key.pem"), server_key).unwrap();
    std::fs::write(client_dir.join("cert.pem"), client_cert).unwrap();
    std::fs::write(client_dir.join("key.pem"), client_key).unwrap();
}

impl RemoteEngine {
    /// `index` keeps each test's /30 and names apart (tests run in parallel).
    fn start(index: u8) -> Option<RemoteEngine> {
        let tag = format!("{}{index}", std::process::id() % 10000);
        let namespace = format!("devdbr{tag}");
        if !namespace_or_skip(&namespace) {
            return None;
        }
        let host_veth = format!("ddh{tag}");
        let ns_veth = format!("ddn{tag}");
        let subnet = (std::process::id() % 60) as u8 * 4 + index;
        let host_address = format!("10.213.{subnet}.1");
        let address = format!("10.213.{subnet}.2");
        let dir = tempfile::Builder::new()
            .prefix("devdb-remote-")
            .tempdir()
            .unwrap();
        let netns = format!("--net=/var/run/netns/{namespace}");
        let host_cidr = format!("{host_address}/30");
        let ns_cidr = format!("{address}/30");
        let setup: [&[&str]; 7] = [
            &[
                "ip", "link", "add", &host_veth, "type", "veth", "peer", "name", &ns_veth,
            ],
            &["ip", "link", "set", &ns_veth, "netns", &namespace],
            &["ip", "addr", "add", &host_cidr, "dev", &host_veth],
            &["ip", "link", "set", &host_veth, "up"],
            &[
                "nsenter", &netns, "ip", "addr", "add", &ns_cidr, "dev", &ns_veth,
            ],
            &["nsenter", &netns, "ip", "link", "set", &ns_veth, "up"],
            &["nsenter", &netns, "ip", "link", "set", "lo", "up"],
        ];
        for step in setup {
            if let Err(e) = run(step) {
                let _ = run(&["ip", "link", "del", &host_veth]);
                let _ = run(&["ip", "netns", "del", &namespace]);
                panic!("{e}");
            }
        }
        let root = dir.path().to_path_buf();
        write_certificates(&root.join("server"), &root.join("client"), &address);
        let p = |name: &str| root.join(name).to_string_lossy().into_owned();
        let log = std::fs::File::create(root.join("dockerd.log")).unwrap();
        let dockerd = Command::new("nsenter")
            .arg(&netns)
            .args(["dockerd", "--data-root", &p("data"), "--exec-root", &p("x")])
            .args([
                "--pidfile",
                &p("dockerd.pid"),
                "-H",
                &format!("tcp://{address}:2376"),
                "-H",
                &format!("unix://{}", p("docker.sock")),
            ])
            .args(["--tlsverify", "--tlscacert", &p("server/ca.pem")])
            .args([
                "--tlscert",
                &p("server/cert.pem"),
                "--tlskey",
                &p("server/key.pem"),
            ])
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-masq=false",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let engine = RemoteEngine {
            namespace,
            host_veth,
            address,
            dir,
            dockerd,
        };
        engine.wait_until_listening();
        Some(engine)
    }

    fn wait_until_listening(&self) {
        let started = Instant::now();
        let target = format!("{}:2376", self.address);
        while std::net::TcpStream::connect_timeout(
            &target.parse().unwrap(),
            Duration::from_millis(200),
        )
        .is_err()
        {
            let log = std::fs::read_to_string(self.dir.path().join("dockerd.log"));
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "dockerd in {} did not listen within 60 s:\n{}",
                self.namespace,
                log.unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn host(&self) -> String {
        format!("tcp://{}:2376", self.address)
    }

    fn client_dir(&self) -> PathBuf {
        self.dir.path().join("client")
    }
}

impl Drop for RemoteEngine {
    fn drop(&mut self) {
        let _ = run(&["kill", "-TERM", &self.dockerd.id().to_string()]);
        let started = Instant::now();
        while self.dockerd.try_wait().ok().flatten().is_none()
            && started.elapsed() < Duration::from_secs(20)
        {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.dockerd.kill();
        let _ = self.dockerd.wait();
        let _ = run(&["ip", "link", "del", &self.host_veth]);
        let _ = run(&["ip", "netns", "del", &self.namespace]);
        // Leftover mounts under the data root (overlay) are gone with the engine; a busy one
        // would only leave the temp folder behind.
        let _ = Command::new("umount")
            .args(["-R", &self.dir.path().join("x").to_string_lossy()])
            .output();
    }
}

fn no_docker_env(cmd: &[(&str, &str)]) -> Vec<(String, String)> {
    cmd.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn devdb(project: &common::TestProject, args: &[&str], env: &[(String, String)]) -> common::Run {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    project.devdb_with_env(args, &env)
}

#[test]
fn tls_engine_answers_and_a_wrong_ca_is_one_clear_line() {
    let Some(engine) = RemoteEngine::start(1) else {
        return;
    };
    let project = common::TestProject::with_database("remote-tls", "");
    let client = engine.client_dir();
    let env = no_docker_env(&[
        ("DOCKER_HOST", &engine.host()),
        ("DOCKER_TLS_VERIFY", "1"),
        ("DOCKER_CERT_PATH", client.to_str().unwrap()),
        ("DOCKER_CONTEXT", ""),
    ]);
    // The remote engine knows nothing of the project: status works and shows no container.
    let status = devdb(&project, &["status", "--json"], &env).ok();
    let rows: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(rows[0]["state"], "missing", "{}", status.stdout);

    // The image exists only on this machine's engine: one error naming save | load, no retries.
    let failed = devdb(&project, &["up"], &env).fails();
    assert!(
        failed.stderr.contains("docker save") && failed.stderr.contains(&engine.host()),
        "{}",
        failed.stderr
    );

    // The same engine checked against another CA.
    let other = engine.dir.path().join("other");
    write_certificates(&engine.dir.path().join("unused"), &other, &engine.address);
    let mut wrong = env.clone();
    wrong[2].1 = other.to_string_lossy().into_owned();
    let failed = devdb(&project, &["status"], &wrong).fails();
    let first = failed.stderr.lines().next().unwrap_or_default().to_string();
    assert!(
        first.contains(&engine.host()) && first.to_lowercase().contains("certificate"),
        "{}",
        failed.stderr
    );
    assert!(failed.stderr.contains("hint:"), "{}", failed.stderr);

    // Missing TLS files: named, with the fix.
    let mut missing = env.clone();
    missing[2].1 = engine
        .dir
        .path()
        .join("nowhere")
        .to_string_lossy()
        .into_owned();
    let failed = devdb(&project, &["status"], &missing).fails();
    assert!(
        failed.stderr.contains("ca.pem is missing") && failed.stderr.contains("DOCKER_CERT_PATH"),
        "{}",
        failed.stderr
    );
}

#[test]
fn a_context_with_tls_files_reaches_the_engine() {
    let Some(engine) = RemoteEngine::start(2) else {
        return;
    };
    let project = common::TestProject::with_database("remote-ctx", "");
    let config = engine.dir.path().join("docker-config");
    let files = ["ca.pem", "cert.pem", "key.pem"];
    let tls = write_context(
        &config,
        "far",
        &engine.host(),
        false,
        &engine.client_dir(),
        &files,
    );
    std::fs::write(config.join("config.json"), r#"{"currentContext":"far"}"#).unwrap();
    let env = no_docker_env(&[
        ("DOCKER_CONFIG", config.to_str().unwrap()),
        ("DOCKER_HOST", ""),
        ("DOCKER_CONTEXT", ""),
    ]);
    let status = devdb(&project, &["status", "--json"], &env).ok();
    let rows: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(rows[0]["state"], "missing", "{}", status.stdout);
    // Proof that it was the remote engine: with the context's files gone, TLS fails.
    std::fs::remove_dir_all(&tls).unwrap();
    let failed = devdb(&project, &["status"], &env).fails();
    assert!(failed.stderr.contains(&engine.host()), "{}", failed.stderr);

    // SkipTLSVerify, as the docker CLI honours it: no CA, the engine's certificate unchecked
    // (with one line saying so), the client certificate still sent (the engine demands it).
    write_context(
        &config,
        "loose",
        &engine.host(),
        true,
        &engine.client_dir(),
        &files[1..],
    );
    let mut loose = env.clone();
    loose[2].1 = "loose".to_string();
    let status = devdb(&project, &["status", "--json"], &loose).ok();
    let rows: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(rows[0]["state"], "missing", "{}", status.stdout);
    let warnings: Vec<&str> = status
        .stderr
        .lines()
        .filter(|l| l.contains("SkipTLSVerify"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", status.stderr);
    assert!(warnings[0].contains(&engine.host()), "{}", status.stderr);
}

/// A Docker context `name` in `config` whose endpoint is `host`, with `files` of `from` as its
/// TLS material; returns its TLS folder.
fn write_context(
    config: &Path,
    name: &str,
    host: &str,
    skip_verify: bool,
    from: &Path,
    files: &[&str],
) -> PathBuf {
    let id = sha256_hex(name);
    let meta = config.join("contexts/meta").join(&id);
    std::fs::create_dir_all(&meta).unwrap();
    let meta_json = serde_json::json!({
        "Name": name,
        "Metadata": {},
        "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip_verify}},
    });
    std::fs::write(meta.join("meta.json"), meta_json.to_string()).unwrap();
    let tls = config.join("contexts/tls").join(&id).join("docker");
    if !files.is_empty() {
        std::fs::create_dir_all(&tls).unwrap();
    }
    for file in files {
        std::fs::copy(from.join(file), tls.join(file)).unwrap();
    }
    tls
}

/// `docker save` of `image` from the machine's engine, read from its kept copy when there is one.
/// The remote tests start together: the first one saves it while the others wait on a lock file,
/// instead of three saves at once.
async fn saved_image(image: &str) -> Vec<u8> {
    use futures_util::StreamExt;
    let local = common::docker().await;
    let id = local
        .inspect_image(image)
        .await
        .expect("inspect image")
        .id
        .expect("image id");
    let key = id.replace(':', "-");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let kept = dir.join(format!("{key}.tar"));
    let lock = std::fs::File::create(dir.join(format!("{key}.lock"))).unwrap();
    lock.lock().unwrap();
    if let Ok(tar) = std::fs::read(&kept) {
        return tar;
    }
    let mut tar = Vec::new();
    let mut export = local.export_image(image);
    while let Some(chunk) = export.next().await {
        tar.extend_from_slice(&chunk.expect("export image"));
    }
    let mut file = tempfile::NamedTempFile::new_in(dir).unwrap();
    std::io::Write::write_all(&mut file, &tar).unwrap();
    file.persist(&kept).unwrap();
    // Copies of images rebuilt since are of no use any more.
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let stale = name.starts_with("sha256-") && !name.starts_with(&key);
        if stale && (name.ends_with(".tar") || name.ends_with(".lock")) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    tar
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl RemoteEngine {
    /// A bollard client for this engine (the test's own view, not devdb's).
    async fn client(&self) -> bollard::Docker {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = self.client_dir();
        bollard::Docker::connect_with_ssl(
            &self.host(),
            &dir.join("key.pem"),
            &dir.join("cert.pem"),
            &dir.join("ca.pem"),
            300,
            bollard::API_DEFAULT_VERSION,
        )
        .unwrap()
        .negotiate_version()
        .await
        .unwrap()
    }

    /// `docker save | docker load` of `image` from the machine's engine into this one. The saved
    /// tar is kept in the target's temp folder under the image's id: the engine takes about 13 s
    /// to write 500 MB of layers, and three tests load the same image.
    async fn load_image(&self, image: &str) {
        use futures_util::StreamExt;
        let tar = saved_image(image).await;
        let remote = self.client().await;
        let options = bollard::query_parameters::ImportImageOptionsBuilder::default().build();
        let mut import = remote.import_image(options, bollard::body_full(tar.into()), None);
        while let Some(progress) = import.next().await {
            progress.expect("load image into the remote engine");
        }
    }

    /// What `project` still owns on this engine (containers, volumes, networks).
    async fn resources_of(&self, project: &str) -> Vec<String> {
        let remote = self.client().await;
        let filter = std::collections::HashMap::from([(
            "label".to_string(),
            vec![format!("com.docker.compose.project={project}")],
        )]);
        let containers = remote
            .list_containers(Some(
                bollard::query_parameters::ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&filter)
                    .build(),
            ))
            .await
            .unwrap();
        let volumes = remote
            .list_volumes(Some(
                bollard::query_parameters::ListVolumesOptionsBuilder::default()
                    .filters(&filter)
                    .build(),
            ))
            .await
            .unwrap()
            .volumes
            .unwrap_or_default();
        let networks = remote
            .list_networks(Some(
                bollard::query_parameters::ListNetworksOptionsBuilder::default()
                    .filters(&filter)
                    .build(),
            ))
            .await
            .unwrap();
        containers
            .into_iter()
            .filter_map(|c| c.names?.first().cloned())
            .chain(volumes.into_iter().map(|v| v.name))
            .chain(networks.into_iter().filter_map(|n| n.name))
            .collect()
    }

    fn tls_env(&self) -> Vec<(String, String)> {
        no_docker_env(&[
            ("USER", "dev"),
            ("DOCKER_HOST", &self.host()),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", self.client_dir().to_str().unwrap()),
            ("DOCKER_CONTEXT", ""),
        ])
    }
}

/// The project's name on a shared (remote) engine for `user`.
fn owned(project: &common::TestProject, user: &str) -> String {
    format!("{}-{user}", project.name)
}

fn as_user(env: &[(String, String)], user: &str) -> Vec<(String, String)> {
    let mut env: Vec<_> = env.iter().filter(|(k, _)| k != "USER").cloned().collect();
    env.push(("USER".to_string(), user.to_string()));
    env
}

async fn query_one(url: &str, sql: &str) -> Result<String, String> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let row = client
        .query_one(sql, &[])
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.get::<_, String>(0))
}

/// A project on the remote engine whose database publishes `port` ("5432": all interfaces of
/// the engine's machine; "127.0.0.1::5432": its loopback only).
fn remote_project(label: &str, port: &str) -> common::TestProject {
    let project = common::TestProject::new(label);
    project.write_compose(&remote_yaml(&project, port, ""));
    project
}

/// The project's Compose file with `x_devdb` added under x-devdb.
fn remote_yaml(project: &common::TestProject, port: &str, x_devdb: &str) -> String {
    project.database_yaml(&common::postgres_image(), port, "", x_devdb)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_database_is_reached_from_the_client_in_both_port_shapes() {
    let Some(engine) = RemoteEngine::start(3) else {
        return;
    };
    engine.load_image(&common::postgres_image()).await;
    let env = engine.tls_env();

    // All interfaces: reached at the engine's address, and nothing runs on the local engine.
    let open = remote_project("remote-all", "\"5432\"");
    devdb(&open, &["up"], &env).ok();
    let url = devdb(&open, &["url"], &env).ok().stdout.trim().to_string();
    assert!(url.contains(&format!("@{}:", engine.address)), "{url}");
    let answer = query_one(&url, "select current_database()::text").await;
    assert_eq!(answer.as_deref(), Ok("app"));
    assert_eq!(
        common::project_resources(&open.name).await,
        Vec::<String>::new()
    );

    // A second developer of the same repository on the same engine gets a project of their
    // own, and their `destroy` leaves the first one's alone.
    let bob = as_user(&env, "bob");
    devdb(&open, &["up"], &bob).ok();
    let bob_url = devdb(&open, &["url"], &bob).ok().stdout.trim().to_string();
    assert_ne!(bob_url, url);
    assert_eq!(engine.resources_of(&owned(&open, "bob")).await.len(), 3);
    devdb(&open, &["destroy", "--yes"], &bob).ok();
    assert_eq!(
        engine.resources_of(&owned(&open, "bob")).await,
        Vec::<String>::new()
    );
    assert_eq!(engine.resources_of(&owned(&open, "dev")).await.len(), 3);
    let answer = query_one(&url, "select current_database()::text").await;
    assert_eq!(
        answer.as_deref(),
        Ok("app"),
        "bob's destroy touched dev's database"
    );

    // Loopback only: `url` answers through a tunnel that ends with the command, and says so.
    let private = remote_project("remote-lo", "\"127.0.0.1::5432\"");
    devdb(&private, &["up"], &env).ok();
    let run = devdb(&private, &["url"], &env).ok();
    assert!(run.stderr.contains("devdb tunnel"), "{}", run.stderr);
    let url = run.stdout.trim().to_string();
    assert!(url.contains("@127.0.0.1:"), "{url}");
    assert!(
        query_one(&url, "select 'x'").await.is_err(),
        "the tunnel outlived `devdb url`"
    );

    // Migrations go through the tunnel too.
    private.write_migration(
        "20260101000000_init",
        "create table notes (id int primary key, body text);",
    );
    devdb(&private, &["migrate", "deploy"], &env).ok();

    // `devdb tunnel` holds a port for a long-lived client; the checks below read through it.
    let held = HeldTunnel::open(&private, &env);
    let through = held.url(&url);
    // While it runs, the user's other commands go through it (no exec of their own): `url`
    // says its port, with no note of a tunnel closing.
    let run = devdb(&private, &["url"], &env).ok();
    assert!(
        run.stdout.contains(&format!("@127.0.0.1:{}/", held.port))
            && !run.stderr.contains("devdb tunnel"),
        "{}{}",
        run.stdout,
        run.stderr
    );
    let tables = "select string_agg(tablename, ',' order by tablename)::text from pg_tables \
                  where schemaname = 'public'";
    assert_eq!(
        query_one(&through, tables).await.as_deref(),
        Ok("_prisma_migrations,notes")
    );

    // Copies from a stage: the rows through the client, a structure through the db-copy job,
    // which runs on the remote engine next to the database (pg_dump reaches the stage from there).
    let stage = engine.start_stage(STAGE_SQL).await;
    private.write_compose(&remote_yaml(
        &private,
        "\"127.0.0.1::5432\"",
        &stage_yaml(&stage),
    ));
    devdb(
        &private,
        &["copy", "tags", "--from", "STAGE", "--schema"],
        &env,
    )
    .ok();
    let count = "select count(*)::text from tags";
    assert_eq!(query_one(&through, count).await.as_deref(), Ok("2"));
    devdb(
        &private,
        &["copy", "notes", "--from", "STAGE", "--save"],
        &env,
    )
    .ok();
    let notes = "select count(*)::text || ' ' || max(body) from notes";
    assert_eq!(query_one(&through, notes).await.as_deref(), Ok("25 note 9"));

    // reset (twice: the second from its snapshot) runs over the remote engine and the tunnel:
    // the database is rebuilt from the migrations (the copied structure is gone) and the saved
    // rows are back.
    for _ in 0..2 {
        devdb(&private, &["reset"], &env).ok();
        assert_eq!(
            query_one(&through, tables).await.as_deref(),
            Ok("_prisma_migrations,notes")
        );
        assert_eq!(query_one(&through, notes).await.as_deref(), Ok("25 note 9"));
    }

    // A reset logs in to the maintenance database once (up's session is its admin session),
    // as the server's log of connections shows; the background job's sessions are named apart.
    let (client, connection) = tokio_postgres::connect(&through, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    // Two queries: ALTER SYSTEM refuses the implicit transaction of a multi-statement one.
    for sql in [
        "ALTER SYSTEM SET log_connections = on",
        "SELECT pg_reload_conf()",
    ] {
        client.batch_execute(sql).await.unwrap();
    }
    drop(client);
    let logins = || maintenance_logins(&devdb(&private, &["logs"], &env).ok().stdout);
    let before = logins();
    devdb(&private, &["reset"], &env).ok();
    assert_eq!(logins() - before, 1, "maintenance logins of one reset");
    drop(held);

    for project in [&open, &private] {
        devdb(project, &["destroy", "--yes"], &env).ok();
        assert_eq!(
            engine.resources_of(&owned(project, "dev")).await,
            Vec::<String>::new()
        );
    }
}

/// Logins of devdb's foreground sessions to the maintenance database in a server log with
/// log_connections on.
fn maintenance_logins(log: &str) -> usize {
    log.lines()
        .filter(|line| {
            line.contains("connection authorized")
                && line.contains("database=postgres")
                && line.trim_end().ends_with("application_name=devdb")
        })
        .count()
}

/// The stage's tables: `notes` (as the project's migration makes it) and `tags`, which only
/// the stage has.
const STAGE_SQL: &str = "create table notes (id int primary key, body text); \
    insert into notes select g, 'note ' || g from generate_series(1, 25) g; \
    create table tags (id int primary key, name text not null); \
    insert into tags values (1, 'a'), (2, 'b');";

/// x-devdb naming `url` as stage STAGE.
fn stage_yaml(url: &str) -> String {
    format!("  stages:\n    STAGE: {{ url_command: \"echo '{url}'\", sslmode: disable }}\n")
}

/// `devdb tunnel` running for a project, stopped on drop.
struct HeldTunnel {
    child: Child,
    port: u16,
}

impl HeldTunnel {
    fn open(project: &common::TestProject, env: &[(String, String)]) -> HeldTunnel {
        let mut child = Command::new(env!("CARGO_BIN_EXE_devdb"))
            .arg("tunnel")
            .current_dir(project.path())
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let port = line.trim().parse().expect("devdb tunnel prints its port");
        HeldTunnel { child, port }
    }

    /// `url` (a tunnel URL of a command that ended) pointed at this tunnel's port instead.
    fn url(&self, url: &str) -> String {
        let (head, tail) = url.split_once("@127.0.0.1:").expect("a tunnel URL");
        let database = tail.split_once('/').map_or("", |(_, db)| db);
        format!("{head}@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for HeldTunnel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RemoteEngine {
    /// A stage: a Postgres container of its own on this engine, published on all of its
    /// interfaces, with `sql` applied; its URL, which the client and the engine's containers
    /// reach alike. It goes with the engine.
    async fn start_stage(&self, sql: &str) -> String {
        let login = ["stage", "stage-pw", "shop"];
        self.start_postgres("stage", login, "", sql).await
    }

    /// A Postgres container `name` on a network of its own (the engine runs with
    /// --bridge=none), publishing 5432 on `host_port` ("": any) of all interfaces, logging in
    /// as `[user, password, database]`, with `sql` applied; its URL from the client.
    async fn start_postgres(
        &self,
        name: &str,
        [user, password, database]: [&str; 3],
        host_port: &str,
        sql: &str,
    ) -> String {
        use bollard::models::{ContainerCreateBody, HostConfig, NetworkCreateRequest, PortBinding};
        let remote = self.client().await;
        let network = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".to_string()),
            ..Default::default()
        };
        remote.create_network(network).await.unwrap();
        let binding = PortBinding {
            host_ip: Some(String::new()),
            host_port: Some(host_port.to_string()),
        };
        let body = ContainerCreateBody {
            image: Some(common::postgres_image()),
            env: Some(vec![
                format!("POSTGRES_USER={user}"),
                format!("POSTGRES_PASSWORD={password}"),
                format!("POSTGRES_DB={database}"),
            ]),
            exposed_ports: Some(vec!["5432/tcp".to_string()]),
            host_config: Some(HostConfig {
                network_mode: Some(name.to_string()),
                port_bindings: Some(std::collections::HashMap::from([(
                    "5432/tcp".to_string(),
                    Some(vec![binding]),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = bollard::query_parameters::CreateContainerOptionsBuilder::default()
            .name(name)
            .build();
        remote.create_container(Some(options), body).await.unwrap();
        remote.start_container(name, None).await.unwrap();
        let port = remote
            .inspect_container(name, None)
            .await
            .unwrap()
            .network_settings
            .and_then(|n| {
                n.ports?
                    .get("5432/tcp")?
                    .clone()?
                    .first()?
                    .host_port
                    .clone()
            })
            .expect("the container publishes 5432");
        let url = format!(
            "postgres://{user}:{password}@{}:{port}/{database}",
            self.address
        );
        let started = Instant::now();
        loop {
            match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
                Ok((client, connection)) => {
                    tokio::spawn(connection);
                    client.batch_execute(sql).await.expect("the stage's tables");
                    return url;
                }
                Err(e) if started.elapsed() < Duration::from_secs(60) => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("{name} did not accept connections within 60 s: {e}"),
            }
        }
    }
}

/// A stage on the client's 127.0.0.1 (a database of this machine's engine) while the engine
/// is remote: a structure copy cannot run there (the db-copy job on the engine would dial the
/// engine's own 127.0.0.1, here a decoy of somebody else's on the same port), so `copy
/// --schema` and `fix-missing` are one error naming the stage and the engine and change
/// nothing; a row copy, which the client reads itself, works.
#[tokio::test(flavor = "multi_thread")]
async fn a_stage_on_the_clients_loopback_is_refused_for_structure_but_copies_rows() {
    let Some(engine) = RemoteEngine::start(5) else {
        return;
    };
    engine.load_image(&common::postgres_image()).await;
    let env = engine.tls_env();

    // The stage: on this machine's engine, at 127.0.0.1.
    let stage = common::TestProject::with_database("remote-clientstage", "");
    stage.devdb(&["up"]).ok();
    let stage_url = stage.devdb(&["url"]).ok().stdout.trim().to_string();
    assert!(stage_url.contains("@127.0.0.1:"), "{stage_url}");
    common::connect(&stage)
        .await
        .batch_execute(STAGE_SQL)
        .await
        .expect("the stage's tables");
    let stage_port = stage_url
        .rsplit_once(':')
        .and_then(|(_, tail)| tail.split('/').next())
        .unwrap()
        .to_string();

    // On the remote engine, an unrelated database on the same port, with the same login and
    // a `tags` of another shape.
    let decoy = "create table tags (id int primary key, decoy_only text);";
    let login = ["app", "test-secret-pw", "app"];
    engine
        .start_postgres("decoy", login, &stage_port, decoy)
        .await;

    let project = remote_project("remote-clientcopy", "\"5432\"");
    project.write_compose(&remote_yaml(&project, "\"5432\"", &stage_yaml(&stage_url)));
    project.write_migration(
        "20260101000000_init",
        "create table notes (id int primary key, body text);",
    );
    devdb(&project, &["migrate", "deploy"], &env).ok();
    let url = devdb(&project, &["url"], &env)
        .ok()
        .stdout
        .trim()
        .to_string();
    let tags = "select coalesce(to_regclass('public.tags')::text, 'none')";

    for command in [
        &["copy", "tags", "--from", "STAGE", "--schema"][..],
        &["fix-missing", "tags", "--from", "STAGE"][..],
    ] {
        let failed = devdb(&project, command, &env).fails();
        assert!(
            failed.stderr.contains("stage STAGE")
                && failed.stderr.contains(&format!("127.0.0.1:{stage_port}"))
                && failed.stderr.contains(&engine.host())
                && failed.stderr.contains("hint:"),
            "{command:?}: {}",
            failed.stderr
        );
        assert_eq!(query_one(&url, tags).await.as_deref(), Ok("none"));
    }
    let migrations = std::fs::read_dir(project.path().join("migrations"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().is_dir())
        .count();
    assert_eq!(migrations, 1, "fix-missing wrote a migration");

    // Rows only: the client reads the stage on its own 127.0.0.1.
    devdb(&project, &["copy", "notes", "--from", "STAGE"], &env).ok();
    let notes = "select count(*)::text || ' ' || max(body) from notes";
    assert_eq!(query_one(&url, notes).await.as_deref(), Ok("25 note 9"));

    devdb(&project, &["destroy", "--yes"], &env).ok();
    assert_eq!(
        engine.resources_of(&owned(&project, "dev")).await,
        Vec::<String>::new()
    );
}

/// An sshd in the engine's namespace whose sessions see that engine as their DOCKER_HOST (as
/// a user logging into the engine's machine would), and the client's ssh config for it.
struct Sshd {
    child: Child,
    config: PathBuf,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// None (skip) where openssh-server is missing, except under CI=true (scripts/test installs it).
fn sshd_or_skip(engine: &RemoteEngine) -> Option<Sshd> {
    if !Path::new("/usr/sbin/sshd").exists() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI=true but /usr/sbin/sshd is missing (scripts/test installs openssh-server)"
        );
        eprintln!("SKIP: no /usr/sbin/sshd (apt-get install openssh-server)");
        return None;
    }
    let dir = engine.dir.path().join("ssh");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all("/run/sshd").unwrap();
    let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
    for key in ["host_key", "id", "other_host_key"] {
        run(&["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", &p(key)]).unwrap();
    }
    std::fs::copy(dir.join("id.pub"), dir.join("authorized_keys")).unwrap();
    let socket = engine.dir.path().join("docker.sock");
    let server = format!(
        "ListenAddress {}\nHostKey {}\nAuthorizedKeysFile {}\nPidFile {}\nStrictModes no\n\
         UsePAM no\nPasswordAuthentication no\nPermitRootLogin prohibit-password\n\
         SetEnv DOCKER_HOST=unix://{}\n",
        engine.address,
        p("host_key"),
        p("authorized_keys"),
        p("sshd.pid"),
        socket.display()
    );
    std::fs::write(dir.join("sshd_config"), server).unwrap();
    let known = |key: &str| {
        let public = std::fs::read_to_string(dir.join(format!("{key}.pub"))).unwrap();
        let mut words = public.split_whitespace();
        format!(
            "{} {} {}\n",
            engine.address,
            words.next().unwrap(),
            words.next().unwrap()
        )
    };
    std::fs::write(dir.join("known_hosts"), known("host_key")).unwrap();
    std::fs::write(dir.join("wrong_known_hosts"), known("other_host_key")).unwrap();
    let client = |known_hosts: &str| {
        format!(
            "Host {}\n  User root\n  IdentityFile {}\n  IdentitiesOnly yes\n  \
             UserKnownHostsFile {}\n  StrictHostKeyChecking yes\n  BatchMode yes\n  \
             ConnectTimeout 10\n",
            engine.address,
            p("id"),
            p(known_hosts)
        )
    };
    std::fs::write(dir.join("ssh_config"), client("known_hosts")).unwrap();
    std::fs::write(dir.join("wrong_ssh_config"), client("wrong_known_hosts")).unwrap();
    let log = std::fs::File::create(dir.join("sshd.log")).unwrap();
    let child = Command::new("nsenter")
        .arg(format!("--net=/var/run/netns/{}", engine.namespace))
        .args(["/usr/sbin/sshd", "-D", "-e", "-f", &p("sshd_config")])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let started = Instant::now();
    let target = format!("{}:22", engine.address).parse().unwrap();
    while std::net::TcpStream::connect_timeout(&target, Duration::from_millis(200)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "sshd did not listen: {}",
            std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(Sshd {
        child,
        config: dir.join("ssh_config"),
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ssh_engine_runs_the_database_and_a_changed_host_key_is_one_line() {
    let Some(engine) = RemoteEngine::start(4) else {
        return;
    };
    let Some(sshd) = sshd_or_skip(&engine) else {
        return;
    };
    engine.load_image(&common::postgres_image()).await;
    let ssh = format!("ssh -F {}", sshd.config.display());
    let host = format!("ssh://root@{}", engine.address);
    let env = no_docker_env(&[
        ("DOCKER_HOST", &host),
        ("DOCKER_CONTEXT", ""),
        ("DEVDB_SSH_COMMAND", &ssh),
        ("USER", "dev"),
    ]);
    let project = remote_project("remote-ssh", "\"127.0.0.1::5432\"");
    devdb(&project, &["up"], &env).ok();
    assert!(engine.resources_of(&owned(&project, "dev")).await.len() >= 3);
    assert_eq!(
        common::project_resources(&project.name).await,
        Vec::<String>::new()
    );
    project.write_migration(
        "20260101000000_init",
        "create table t (id int primary key);",
    );
    devdb(&project, &["migrate", "deploy"], &env).ok();
    let status = devdb(&project, &["migrate", "status"], &env).ok();
    assert!(
        status.all().contains("20260101000000_init"),
        "{}",
        status.all()
    );

    // A host key that is not the one known_hosts holds: one line, naming the endpoint and fix.
    let wrong = sshd.config.with_file_name("wrong_ssh_config");
    let mut mismatch = env.clone();
    mismatch[2].1 = format!("ssh -F {}", wrong.display());
    let failed = devdb(&project, &["status"], &mismatch).fails();
    let message = failed.stderr.trim();
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(
        message.contains(&host) && message.contains("ssh-keygen -R"),
        "{message}"
    );

    // A Docker context whose endpoint is the ssh engine reaches the same database (the local
    // engine has no such project: it is the remote one that runs).
    let config = engine.dir.path().join("ssh-docker-config");
    write_context(&config, "box", &host, false, Path::new("/"), &[]);
    std::fs::write(config.join("config.json"), r#"{"currentContext":"box"}"#).unwrap();
    let via_context = no_docker_env(&[
        ("DOCKER_CONFIG", config.to_str().unwrap()),
        ("DOCKER_HOST", ""),
        ("DOCKER_CONTEXT", ""),
        ("DEVDB_SSH_COMMAND", &ssh),
        ("USER", "dev"),
    ]);
    let status = devdb(&project, &["status", "--json"], &via_context).ok();
    let rows: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(rows[0]["state"], "running", "{}", status.stdout);
    assert_eq!(
        rows[0]["container"],
        format!("{}-postgres-1", owned(&project, "dev"))
    );

    devdb(&project, &["destroy", "--yes"], &env).ok();
    assert_eq!(
        engine.resources_of(&owned(&project, "dev")).await,
        Vec::<String>::new()
    );
}
