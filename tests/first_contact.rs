//! First contact: devdb in repositories laid out as real ones are (the official image's default
//! database `postgres`, Compose files where Compose finds them, a root `.env`, no `db_copy`
//! service), on real Docker and real Postgres.

mod common;

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
async fn wait_for_ready_copy(project: &TestProject) {
    let started = Instant::now();
    loop {
        let client = common::connect(project).await;
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
    wait_for_ready_copy(project).await;
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
