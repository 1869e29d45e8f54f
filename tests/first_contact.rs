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
