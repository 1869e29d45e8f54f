//! First contact: devdb in repositories laid out as real ones are (the official image's default
//! database `postgres`, Compose files where Compose finds them, a root `.env`, no `db_copy`
//! service), on real Docker and real Postgres.

use crate::common;

use std::time::{Duration, Instant};

use common::{column, postgres_image, TestProject};

/// A Compose file whose database service sets only `environment_yaml` besides the password.
fn project_with_environment(label: &str, environment_yaml: &str) -> TestProject {
    let project = TestProject::new(label);
    project.write_compose(&format!(
        "name: {name}\n\
         services:\n  \
           postgres:\n    \
             image: {image}\n    \
             environment:\n      \
               POSTGRES_PASSWORD: test-secret-pw\n\
         {environment_yaml}    \
             ports: [\"5432\"]\n    \
             volumes: [\"pgdata:/var/lib/postgresql/data\"]\n\
         volumes:\n  pgdata:\n\
         x-devdb:\n  ready_timeout: 60s\n",
        name = project.name,
        image = postgres_image(),
    ));
    project.write_migration(
        "20240101000000_init",
        "CREATE TABLE items (id int PRIMARY KEY);",
    );
    project.write_migration(
        "20240102000000_more",
        "ALTER TABLE items ADD COLUMN name text;",
    );
    project
}

fn json(run: common::Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

/// Waits (up to 30 s) for the background job to leave a ready copy, as the next reset takes it.
async fn wait_for_ready_copy(url: &str) {
    let started = Instant::now();
    loop {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        let spares = column(
            &client,
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'devdb\\_spare\\_%'",
        )
        .await;
        drop(client);
        if spares != ["0"] {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no ready copy appeared within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// reset (from nothing, then from a ready copy), migrate reset and snapshots on the database
/// named `postgres`, which the maintenance connection must not hold open.
async fn reset_cycle_on_the_postgres_database(project: &TestProject) {
    let up = json(project.devdb(&["up", "--json"]).ok());
    assert_eq!(up["database"], "postgres", "{up}");

    let first = json(project.devdb(&["reset", "--json"]).ok());
    assert_eq!(first["applied"].as_array().unwrap().len(), 2, "{first}");
    let url = project.devdb(&["url"]).ok().stdout.trim().to_string();
    wait_for_ready_copy(&url).await;
    let second = json(project.devdb(&["reset", "--json"]).ok());
    assert_eq!(second["from_snapshot"], 2, "{second}");
    assert!(
        second["steps"][1]["detail"]
            .as_str()
            .unwrap()
            .contains("ready copy"),
        "{second}"
    );

    let client = common::connect(project).await;
    client
        .batch_execute("INSERT INTO items VALUES (1, 'kept?')")
        .await
        .unwrap();
    drop(client);
    let run = project.devdb(&["migrate", "reset", "--yes"]).ok();
    assert!(
        run.stderr.contains("applied 2 migrations"),
        "{}",
        run.stderr
    );
    let client = common::connect(project).await;
    assert_eq!(column(&client, "SELECT count(*) FROM items").await, ["0"]);
    assert_eq!(
        column(&client, "SELECT count(*) FROM _prisma_migrations").await,
        ["2"]
    );
    drop(client);

    let snapshots = json(project.devdb(&["snapshot", "list", "--json"]).ok());
    assert!(!snapshots.as_array().unwrap().is_empty(), "{snapshots}");
    project.devdb(&["snapshot", "prune", "--all"]).ok();
    let snapshots = json(project.devdb(&["snapshot", "list", "--json"]).ok());
    assert_eq!(snapshots, serde_json::json!([]));
}

#[tokio::test]
async fn reset_works_when_postgres_db_is_postgres() {
    let project = project_with_environment(
        "pgdb",
        "      POSTGRES_USER: app\n      POSTGRES_DB: postgres\n",
    );
    reset_cycle_on_the_postgres_database(&project).await;
}

#[tokio::test]
async fn reset_works_when_postgres_db_and_user_are_unset() {
    let project = project_with_environment("nodb", "");
    reset_cycle_on_the_postgres_database(&project).await;
}

/// Runs devdb in `dir` (not the project root), with `env` added.
fn devdb_in(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> common::Run {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_devdb"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("DEVDB_FILE")
        .env_remove("COMPOSE_FILE")
        .env_remove("COMPOSE_PROJECT_NAME")
        .stdin(std::process::Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    common::Run::from(command.output().expect("run devdb"))
}

/// A repository whose Compose file is `compose.yaml` at its root and whose variables live in
/// a `.env` one folder up, as `docker compose --env-file ../.env` is used.
#[tokio::test]
async fn compose_yaml_at_the_root_with_env_file_from_the_parent() {
    let project = TestProject::new("envfile");
    let repo = project.path().join("repo");
    let package = repo.join("packages/api");
    std::fs::create_dir_all(&package).unwrap();
    std::fs::write(
        repo.join("compose.yaml"),
        format!(
            "name: {}\nservices:\n  postgres:\n    image: {}\n    environment:\n      \
             POSTGRES_PASSWORD: ${{TEST_DB_PASSWORD}}\n      POSTGRES_DB: shop\n      \
             NOTE: ${{TEST_UNSET_NOTE}}\n    \
             ports: [\"${{TEST_DB_PORTS}}\"]\n",
            project.name,
            postgres_image()
        ),
    )
    .unwrap();
    std::fs::write(
        project.path().join(".env"),
        "TEST_DB_PASSWORD=\"from-the-env-file\"\nTEST_DB_PORTS=127.0.0.1::5432\n",
    )
    .unwrap();

    // Without the env file: an error naming the variable and where to set it.
    let missing = devdb_in(&package, &["up"], &[]).fails();
    assert!(
        missing.stderr.contains("services.postgres.ports")
            && missing.stderr.contains("${TEST_DB_PORTS}")
            && missing.stderr.contains("--env-file"),
        "{}",
        missing.stderr
    );

    // Found from a package folder below the root; the env file relative to the root.
    let up = devdb_in(&repo, &["--env-file", "../.env", "up", "--json"], &[]).ok();
    let report: serde_json::Value = serde_json::from_str(&up.stdout).unwrap();
    assert_eq!(report["database"], "shop");
    assert!(!up.all().contains("from-the-env-file"), "{}", up.all());
    assert!(
        up.stderr.contains(
            "warning: The \"TEST_UNSET_NOTE\" variable is not set. Defaulting to a blank string."
        ),
        "{}",
        up.stderr
    );
    let url = devdb_in(&package, &["--env-file", "../../../.env", "url"], &[]).ok();
    assert!(url.stdout.contains("from-the-env-file"), "{}", url.stdout);
    let client = {
        let (client, connection) =
            tokio_postgres::connect(url.stdout.trim(), tokio_postgres::NoTls)
                .await
                .expect("connect with the env file's password");
        tokio::spawn(connection);
        client
    };
    assert_eq!(column(&client, "SELECT current_database()").await, ["shop"]);

    // COMPOSE_FILE and --project-directory (whose .env is read) select the same project.
    std::fs::write(
        repo.join(".env"),
        std::fs::read(project.path().join(".env")).unwrap(),
    )
    .unwrap();
    let elsewhere = project.path();
    let status = devdb_in(
        elsewhere,
        &["--project-directory", "repo", "status", "--json"],
        &[("COMPOSE_FILE", "repo/compose.yaml")],
    )
    .ok();
    assert!(status.stdout.contains("running"), "{}", status.stdout);

    // The background job reset starts loads the same configuration (the same env files).
    std::fs::remove_file(repo.join(".env")).unwrap();
    std::fs::create_dir_all(repo.join("migrations/20240101000000_init")).unwrap();
    std::fs::write(
        repo.join("migrations/20240101000000_init/migration.sql"),
        "CREATE TABLE t (id int);",
    )
    .unwrap();
    devdb_in(&repo, &["--env-file", "../.env", "reset"], &[]).ok();
    wait_for_ready_copy(url.stdout.trim()).await;
}

#[test]
fn a_port_mapping_to_the_wrong_container_port_names_the_entry() {
    let project = TestProject::new("wrongport");
    project.write_compose(&format!(
        "name: {}\nservices:\n  postgres:\n    image: {}\n    environment: {{ POSTGRES_PASSWORD: pw }}\n    \
         ports: [\"55499:55499\"]\n",
        project.name,
        postgres_image()
    ));
    let run = project.devdb(&["up"]).fails();
    assert!(
        run.stderr
            .contains("`55499:55499` publishes container port 55499")
            && run.stderr.contains("\"55499:5432\""),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("run `devdb up` first"),
        "{}",
        run.stderr
    );

    project.write_compose(&format!(
        "name: {}\nservices:\n  postgres:\n    image: {}\n    ports: [\"127.0.0.1:56002:56003:5432\"]\n",
        project.name,
        postgres_image()
    ));
    let run = project.devdb(&["up"]).fails();
    assert!(run.stderr.contains("too many parts"), "{}", run.stderr);

    let run = project.devdb(&["--file", "compose", "up"]).fails();
    assert!(run.stderr.contains("is a directory"), "{}", run.stderr);
    std::fs::write(project.compose_path(), "- services\n- volumes\n").unwrap();
    let run = project.devdb(&["up"]).fails();
    assert!(
        run.stderr.contains("holds a list at its top level") && !run.stderr.contains("Raw"),
        "{}",
        run.stderr
    );
}

/// A folder where the Compose file should be (Docker makes one when it bind-mounts a file that
/// does not exist) is named as a folder, whichever way devdb was pointed at it.
#[test]
fn a_compose_path_that_is_a_directory_is_named() {
    let root = tempfile::tempdir().unwrap();
    let folder = root.path().join("compose.yaml");
    std::fs::create_dir_all(folder.join("inner")).unwrap();
    let sub = root.path().join("src");
    std::fs::create_dir_all(&sub).unwrap();
    let shown = folder.display().to_string();
    for (args, env) in [
        (vec!["status"], vec![]),
        (vec!["--file", &*shown, "status"], vec![]),
        (vec!["status"], vec![("COMPOSE_FILE", &*shown)]),
    ] {
        let run = devdb_in(&sub, &args, &env).fails();
        assert!(
            run.stderr
                .contains(&format!("{shown}: this is a directory"))
                && run.stderr.contains("hint:")
                && !run.stderr.contains("no Compose file found"),
            "{args:?} {env:?}: {}",
            run.stderr
        );
    }
}

/// A remote stage (its own project) holding `remote_sql`, and a local project whose Compose
/// file has only its Postgres service (no `db_copy`), with that stage as CODE.
async fn stage_and_plain_local(
    label: &str,
    remote_image: &str,
    local_image: &str,
    remote_sql: &str,
) -> (TestProject, TestProject) {
    let remote = TestProject::new(&format!("{label}-remote"));
    remote.write_compose(&remote.database_yaml(remote_image, "\"5432\"", "", ""));
    remote.devdb(&["up"]).ok();
    common::connect(&remote)
        .await
        .batch_execute(remote_sql)
        .await
        .expect("remote schema");
    let remote_url = remote.devdb(&["url"]).ok().stdout.trim().to_string();
    let local = TestProject::new(&format!("{label}-local"));
    let stages = format!(
        "  stages:\n    CODE: {{ url_command: \"echo '{remote_url}'\", sslmode: disable }}\n"
    );
    local.write_compose(&local.database_yaml(local_image, "\"5432\"", "", &stages));
    local.devdb(&["up"]).ok();
    (remote, local)
}

/// The local stand-in images the built-in db-copy job is based on (no registry offline).
fn copy_base_images() -> Vec<(String, String)> {
    let mut images = vec![
        ("DEVDB_POSTGRES_IMAGE_15".to_string(), postgres_image()),
        (
            "DEVDB_POSTGRES_IMAGE_17".to_string(),
            common::postgres_image_17(),
        ),
    ];
    if let Ok(image) = std::env::var("DEVDB_TEST_IMAGE_18") {
        images.push(("DEVDB_POSTGRES_IMAGE_18".to_string(), image));
    }
    images
}

fn with_base_images(project: &TestProject, args: &[&str]) -> common::Run {
    let images = copy_base_images();
    let env: Vec<(&str, &str)> = images
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    project.devdb_with_env(args, &env)
}

#[tokio::test]
async fn copy_schema_without_a_db_copy_service_builds_devdb_s_own_job() {
    let (_remote, local) = stage_and_plain_local(
        "builtin",
        &postgres_image(),
        &postgres_image(),
        "CREATE TABLE legacy_prices (id int PRIMARY KEY, cents int NOT NULL);
         INSERT INTO legacy_prices SELECT g, g * 100 FROM generate_series(1, 30) g;
         CREATE TABLE \"Price List\" (id int PRIMARY KEY);",
    )
    .await;
    // A name with a space reaches pg_dump as one `-t` pattern.
    with_base_images(
        &local,
        &["copy", "Price List", "--from", "CODE", "--schema-only"],
    )
    .ok();
    let run = with_base_images(
        &local,
        &["copy", "legacy_prices", "--from", "CODE", "--schema"],
    )
    .ok();
    assert!(!run.all().contains("test-secret-pw"), "{}", run.all());
    assert!(
        !run.stderr.contains("Building the db-copy job image"),
        "the job image is built once: {}",
        run.stderr
    );
    let client = common::connect(&local).await;
    assert_eq!(
        column(
            &client,
            "SELECT count(*) || ' ' || sum(cents) FROM legacy_prices"
        )
        .await,
        ["30 46500"]
    );
    assert_eq!(
        column(
            &client,
            "SELECT to_regclass('public.\"Price List\"') IS NOT NULL"
        )
        .await,
        ["t"]
    );
}

/// The job never carries the password in its configuration, and Ctrl-C removes it.
#[tokio::test]
async fn the_db_copy_job_holds_no_password_and_ctrl_c_removes_it() {
    let (remote, local) = stage_and_plain_local(
        "jobsecret",
        &postgres_image(),
        &postgres_image(),
        "CREATE TABLE locked_away (id int PRIMARY KEY);",
    )
    .await;
    // pg_dump waits for this lock, so the job stays up while we look at it.
    let holder = common::connect(&remote).await;
    holder
        .batch_execute("BEGIN; LOCK TABLE locked_away IN ACCESS EXCLUSIVE MODE;")
        .await
        .unwrap();

    let images = copy_base_images();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_devdb"));
    command
        .args(["copy", "locked_away", "--from", "CODE", "--schema-only"])
        .current_dir(local.path())
        .env_remove("DEVDB_FILE")
        .env_remove("COMPOSE_FILE")
        .envs(images.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = command.spawn().unwrap();

    let watcher = common::connect(&remote).await;
    let started = Instant::now();
    while column(
        &watcher,
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'devdb-db-copy' AND wait_event_type = 'Lock'",
    )
    .await
        != ["1"]
    {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "pg_dump never reached the lock"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let jobs = job_containers(&local.name).await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let inspect = common::docker()
        .await
        .inspect_container(&jobs[0], None)
        .await
        .unwrap();
    let seen = serde_json::to_string(&inspect).unwrap();
    assert!(!seen.contains("test-secret-pw"), "{seen}");
    assert!(seen.contains("PGPASSFILE="), "{seen}");
    assert_eq!(
        inspect.host_config.unwrap().auto_remove,
        Some(true),
        "auto-removed"
    );

    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(
        job_containers(&local.name).await.is_empty(),
        "the job container is gone when devdb exits"
    );
    holder.batch_execute("ROLLBACK").await.unwrap();
}

/// The project's one-off (job) containers, any state.
async fn job_containers(project: &str) -> Vec<String> {
    let filters = std::collections::HashMap::from([(
        "label".to_string(),
        vec![
            format!("com.docker.compose.project={project}"),
            "com.docker.compose.oneoff=True".to_string(),
        ],
    )]);
    common::docker()
        .await
        .list_containers(Some(
            bollard::query_parameters::ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .unwrap()
        .into_iter()
        .filter_map(|c| c.id)
        .collect()
}

/// up, migrate deploy, copy and copy --schema between a `local_image` database (PostgreSQL
/// `local_major`) and a `remote_image` stage of another major. `copy --schema` runs the stage
/// major's pg_dump (the db-copy job on DEVDB_POSTGRES_IMAGE_<major>) and replays its output on
/// the local server, so an 18 stage with an older local replays pg_dump 18's script there.
async fn across_majors(
    label: &str,
    (local_image, local_major): (&str, &str),
    (remote_image, remote_major): (&str, &str),
) {
    let (remote, local) = stage_and_plain_local(
        label,
        remote_image,
        local_image,
        "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
         INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 40) g;
         CREATE TYPE mood AS ENUM ('ok', 'sad');
         CREATE TABLE legacy (id int PRIMARY KEY, m mood, note text DEFAULT 'x');
         INSERT INTO legacy VALUES (1, 'ok'), (2, 'sad');",
    )
    .await;
    local.write_migration(
        "20240101000000_items",
        "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);",
    );
    with_base_images(&local, &["migrate", "deploy"]).ok();
    with_base_images(&local, &["copy", "items", "--from", "CODE"]).ok();
    with_base_images(&local, &["copy", "legacy", "--from", "CODE", "--schema"]).ok();
    let client = common::connect(&local).await;
    assert_eq!(column(&client, "SELECT count(*) FROM items").await, ["40"]);
    assert_eq!(
        column(
            &client,
            "SELECT string_agg(m::text || note, ',' ORDER BY id) FROM legacy"
        )
        .await,
        ["okx,sadx"]
    );
    // Each side runs the major it claims (the images are not silently the same server).
    assert_eq!(
        column(
            &client,
            "SELECT current_setting('server_version_num')::int / 10000"
        )
        .await,
        [local_major]
    );
    let remote = common::connect(&remote).await;
    assert_eq!(
        column(
            &remote,
            "SELECT current_setting('server_version_num')::int / 10000"
        )
        .await,
        [remote_major]
    );
}

#[tokio::test]
async fn a_15_local_with_a_17_stage() {
    let v17 = common::postgres_image_17();
    across_majors("l15r17", (&postgres_image(), "15"), (&v17, "17")).await;
}

#[tokio::test]
async fn a_17_local_with_a_15_stage() {
    let v17 = common::postgres_image_17();
    across_majors("l17r15", (&v17, "17"), (&postgres_image(), "15")).await;
}

/// Issue 20 item 3: a newer local database dumps an older stage with its own image. No
/// DEVDB_POSTGRES_IMAGE_15 is set and no registry is reachable, so a pull of postgres:15 would fail.
#[tokio::test]
async fn a_newer_local_dumps_an_older_stage_with_its_own_image_without_pulling() {
    let v17 = common::postgres_image_17();
    let (_remote, local) = stage_and_plain_local(
        "ownimg",
        &postgres_image(),
        &v17,
        "CREATE TABLE legacy (id int PRIMARY KEY, note text DEFAULT 'x');
         INSERT INTO legacy (id) VALUES (1), (2);",
    )
    .await;
    let run = local
        .devdb(&["copy", "legacy", "--from", "CODE", "--schema"])
        .ok();
    assert!(!run.all().contains("postgres:15"), "{}", run.all());
    let client = common::connect(&local).await;
    assert_eq!(
        column(
            &client,
            "SELECT string_agg(id || note, ',' ORDER BY id) FROM legacy"
        )
        .await,
        ["1x,2x"]
    );
}

#[tokio::test]
async fn an_18_local_with_a_15_stage() {
    let Some(v18) = common::postgres_image_18() else {
        return;
    };
    across_majors("l18r15", (&v18, "18"), (&postgres_image(), "15")).await;
}

#[tokio::test]
async fn an_18_local_with_a_17_stage() {
    let Some(v18) = common::postgres_image_18() else {
        return;
    };
    let v17 = common::postgres_image_17();
    across_majors("l18r17", (&v18, "18"), (&v17, "17")).await;
}

#[tokio::test]
async fn a_15_local_with_an_18_stage() {
    let Some(v18) = common::postgres_image_18() else {
        return;
    };
    across_majors("l15r18", (&postgres_image(), "15"), (&v18, "18")).await;
}

#[tokio::test]
async fn a_17_local_with_an_18_stage() {
    let Some(v18) = common::postgres_image_18() else {
        return;
    };
    let v17 = common::postgres_image_17();
    across_majors("l17r18", (&v17, "17"), (&v18, "18")).await;
}

/// `devdb init` in a Prisma monorepo: root `.env`, `packages/app/docker-compose.yml`,
/// `packages/app/prisma/migrations`; then up, migrate deploy and fix-missing with no edits.
#[tokio::test]
async fn init_adopts_a_prisma_monorepo_without_further_edits() {
    let remote = TestProject::with_database("init-remote", "");
    remote.devdb(&["up"]).ok();
    common::connect(&remote)
        .await
        .batch_execute(
            "CREATE TABLE legacy_prices (id int PRIMARY KEY, cents int);
             INSERT INTO legacy_prices VALUES (1, 100);",
        )
        .await
        .unwrap();
    let remote_url = remote.devdb(&["url"]).ok().stdout.trim().to_string();

    let project = TestProject::new("init");
    let root = project.path();
    std::fs::create_dir(root.join(".git")).unwrap();
    std::fs::write(
        root.join(".env"),
        format!(
            "# shared by every package\nPG_IMAGE={}\nDB_PASSWORD='s3cret-from-root'\nDATABASE_URL=postgres://localhost/app\nCODE_DATABASE_URL={remote_url}\n",
            postgres_image()
        ),
    )
    .unwrap();
    let app = root.join("packages/app");
    let compose = app.join("docker-compose.yml");
    std::fs::create_dir_all(app.join("prisma/migrations/20240101000000_init")).unwrap();
    let original = format!(
        "# The app's services.   Run: docker compose --env-file ../../.env up\n\
         name: {}\n\
         services:\n  \
           db:\n    \
             image: ${{PG_IMAGE}}   # from the root .env\n    \
             environment:\n      \
               POSTGRES_PASSWORD: ${{DB_PASSWORD}}\n      \
               POSTGRES_DB: shop\n    \
             ports:\n      - \"127.0.0.1::5432\"",
        project.name
    );
    std::fs::write(&compose, &original).unwrap();
    std::fs::write(
        app.join("prisma/schema.prisma"),
        "datasource db {\n  provider = \"postgresql\"\n  url = env(\"DATABASE_URL\")\n}\n",
    )
    .unwrap();
    std::fs::write(
        app.join("prisma/migrations/migration_lock.toml"),
        "provider = \"postgresql\"\n",
    )
    .unwrap();
    std::fs::write(
        app.join("prisma/migrations/20240101000000_init/migration.sql"),
        "CREATE TABLE products (id int PRIMARY KEY);",
    )
    .unwrap();

    let dry = devdb_in(&app, &["init", "--dry-run"], &[]).ok();
    assert!(dry.stdout.contains("x-devdb:"), "{}", dry.stdout);
    assert_eq!(std::fs::read_to_string(&compose).unwrap(), original);

    let init = devdb_in(&app, &["init"], &[]).ok();
    assert!(init.stderr.contains("next: devdb up"), "{}", init.stderr);
    let adopted = std::fs::read_to_string(&compose).unwrap();
    assert!(
        adopted.starts_with(&original),
        "the user's text is kept byte for byte"
    );
    for line in [
        "  service: db\n",
        "  migrations: prisma/migrations\n",
        "  env_files: [../../.env]",
        "    CODE: { url_env: CODE_DATABASE_URL }\n",
    ] {
        assert!(adopted.contains(line), "{line:?} missing from:\n{adopted}");
    }
    let again = devdb_in(&app, &["init"], &[]).fails();
    assert!(
        again.stderr.contains("already has an `x-devdb:` block"),
        "{}",
        again.stderr
    );

    let images = copy_base_images();
    let env: Vec<(&str, &str)> = images
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let up = devdb_in(&app, &["up", "--json"], &env).ok();
    assert!(up.stdout.contains("\"database\":\"shop\""), "{}", up.stdout);
    devdb_in(&app, &["migrate", "deploy"], &env).ok();

    std::fs::create_dir_all(app.join("prisma/migrations/20240201000000_prices_view")).unwrap();
    std::fs::write(
        app.join("prisma/migrations/20240201000000_prices_view/migration.sql"),
        "CREATE VIEW prices AS SELECT id, cents FROM legacy_prices;",
    )
    .unwrap();
    devdb_in(&app, &["migrate", "deploy"], &env).fails();
    devdb_in(
        &app,
        &["fix-missing", "legacy_prices", "--from", "CODE"],
        &env,
    )
    .ok();
    let url = devdb_in(&app, &["url"], &env).ok().stdout;
    assert!(url.contains("s3cret-from-root"), "the root .env's password");
    let (client, connection) = tokio_postgres::connect(url.trim(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    assert_eq!(
        column(
            &client,
            "SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL"
        )
        .await,
        ["3"]
    );
    assert_eq!(column(&client, "SELECT count(*) FROM prices").await, ["0"]);
    assert_eq!(
        std::fs::read_to_string(&compose).unwrap(),
        adopted,
        "no further edits"
    );
}

#[test]
fn init_without_a_compose_file_writes_the_example() {
    let project = TestProject::new("initexample");
    let dir = project.path().join("fresh");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir(dir.join(".git")).unwrap();
    devdb_in(&dir, &["init"], &[]).ok();
    let written = std::fs::read_to_string(dir.join("compose/docker-compose.yaml")).unwrap();
    assert!(
        written.contains("x-devdb:") && written.contains("postgres:"),
        "{written}"
    );
}

/// `devdb init` writes the example with its volume where the image's major keeps the data, and
/// `up` on that file works for an 18 image and a 15 one alike.
#[tokio::test]
async fn init_s_example_mounts_the_data_where_each_major_keeps_it() {
    let Some(v18) = common::postgres_image_18() else {
        return;
    };
    for (image, mount, major) in [
        (v18.as_str(), "pgdata:/var/lib/postgresql\n", "18"),
        (&postgres_image(), "pgdata:/var/lib/postgresql/data\n", "15"),
    ] {
        let project = TestProject::new(&format!("initmount{major}"));
        let dir = project.path().join("fresh");
        std::fs::create_dir_all(dir.join(".git")).unwrap();
        devdb_in(&dir, &["init"], &[("DEVDB_POSTGRES_IMAGE", image)]).ok();
        let written = std::fs::read_to_string(dir.join("compose/docker-compose.yaml")).unwrap();
        assert!(written.contains(&format!("      - {mount}")), "{written}");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
            .to_string();
        let env = [
            ("DEVDB_POSTGRES_IMAGE", image),
            ("DEVDB_PORT", port.as_str()),
        ];
        devdb_in(&dir, &["-p", &project.name, "up"], &env).ok();
        let url = devdb_in(&dir, &["-p", &project.name, "url"], &env)
            .ok()
            .stdout;
        let (client, connection) = tokio_postgres::connect(url.trim(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let expected_dir = if major == "18" {
            "/var/lib/postgresql/18/docker"
        } else {
            "/var/lib/postgresql/data"
        };
        assert_eq!(
            column(
                &client,
                "SELECT current_setting('data_directory') || ' ' || current_setting('server_version_num')::int / 10000"
            )
            .await,
            [format!("{expected_dir} {major}")]
        );
    }
}

#[test]
fn completions_are_printed_for_each_shell() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef devdb"),
        ("fish", "complete -c devdb"),
    ] {
        let run = devdb_in(dir.path(), &["completions", shell], &[]).ok();
        assert!(run.stdout.contains(marker), "{shell}: {}", run.stdout);
        assert!(run.stdout.contains("fix-missing"), "{shell}");
    }
}
