//! The fast paths keep their guarantees: back-to-back resets (which outrun the background job)
//! give the same schema each time, and a copy killed while the table's indexes are dropped
//! leaves the previous rows and indexes (stopped there by an advisory lock its index waits on).

use crate::common;

use std::time::{Duration, Instant};

use common::{column, connect, StagePair, TestProject};

fn reset_json(project: &TestProject) -> serde_json::Value {
    serde_json::from_str(&project.devdb(&["reset", "--json"]).ok().stdout).expect("reset --json")
}

async fn devdb_databases(project: &TestProject) -> Vec<String> {
    column(
        &connect(project).await,
        "SELECT datname FROM pg_database WHERE datname LIKE 'devdb\\_%' ORDER BY 1",
    )
    .await
}

#[tokio::test]
async fn ten_back_to_back_resets_give_the_same_schema() {
    let project = TestProject::with_database("backtoback", "");
    let total = project.copy_corpus();
    let first = reset_json(&project);
    assert_eq!(first["from_snapshot"], 0);
    let expected = devdb::generate::schema_sql(&connect(&project).await)
        .await
        .unwrap();
    for round in 0..10 {
        // Marks the database: a reset must replace it, not keep it.
        connect(&project)
            .await
            .batch_execute("CREATE TABLE leftover_from_tests (id int)")
            .await
            .unwrap();
        let report = reset_json(&project);
        assert_eq!(report["from_snapshot"], total, "round {round}: {report}");
        assert_eq!(report["applied"], serde_json::json!([]), "round {round}");
        let schema = devdb::generate::schema_sql(&connect(&project).await)
            .await
            .unwrap();
        assert_eq!(schema, expected, "round {round}");
    }
    // Once the job is done: a full pool, nothing set aside left, no half-made database.
    project.devdb(&["internal-prepare-spares", "--wait"]).ok();
    let databases = devdb_databases(&project).await;
    let spares = databases
        .iter()
        .filter(|d| d.starts_with("devdb_spare_"))
        .count();
    assert!(
        (devdb::workflow::spare::POOL..=devdb::workflow::spare::POOL + 1).contains(&spares),
        "{databases:?}"
    );
    assert!(
        databases
            .iter()
            .all(|d| d.starts_with("devdb_spare_") || d.starts_with("devdb_snap_")),
        "{databases:?}"
    );
}

/// The table and its indexes, on both sides. `big_gate_idx` calls `copy_gate`, which waits for
/// a shared hold on advisory lock [`GATE`]: while the test holds that lock exclusively, the
/// copy's index build stops inside `copy_gate` (the other indexes dropped, the rows copied), so
/// the test kills it there, not when a 10 ms poll happens to catch the build.
const TABLE: &str = "CREATE TABLE big (id bigint PRIMARY KEY, label text NOT NULL, n int);
    CREATE FUNCTION copy_gate(id bigint) RETURNS bigint LANGUAGE plpgsql IMMUTABLE AS $$
    BEGIN PERFORM pg_advisory_xact_lock_shared(4242); RETURN id; END $$;
    CREATE INDEX big_label_idx ON big (label);
    CREATE INDEX big_gate_idx ON big (copy_gate(id));";
const GATE: i64 = 4242;
const ROWS: u64 = 5_000;
const INDEXES: &str = "SELECT string_agg(indexname || ':' || indexdef, ' | ' ORDER BY indexname) \
    FROM pg_indexes WHERE tablename = 'big'";

/// Waits until the copy's session is stopped at the gate, inside the build of `big_gate_idx`.
async fn wait_at_the_gate(local: &tokio_postgres::Client, child: &mut std::process::Child) {
    let started = Instant::now();
    let waiting = format!(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = {GATE} AND NOT granted"
    );
    while column(local, &waiting).await != ["1"] {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the copy ended without building big_gate_idx"
        );
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the copy never reached the index build"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The build is under way (and stays so while the gate is held).
    assert_eq!(
        column(
            local,
            "SELECT count(*) FROM pg_stat_progress_create_index WHERE relid = 'big'::regclass"
        )
        .await,
        ["1"]
    );
}

#[tokio::test]
async fn a_copy_killed_while_indexes_are_rebuilt_leaves_old_rows_and_indexes() {
    let remote_sql = format!(
        "{TABLE}\nINSERT INTO big SELECT g, md5(g::text), g % 97 FROM generate_series(1, {ROWS}) g;"
    );
    let local_sql =
        format!("{TABLE}\nINSERT INTO big SELECT g, 'old ' || g, 0 FROM generate_series(1, 10) g;");
    let pair = StagePair::new("killcopy", &remote_sql, &local_sql, "").await;
    let local = connect(&pair.local).await;
    let indexes = column(&local, INDEXES).await;
    for index in ["big_gate_idx:", "big_label_idx:", "big_pkey:"] {
        assert!(indexes[0].contains(index), "{indexes:?}");
    }
    column(&local, &format!("SELECT pg_advisory_lock({GATE})")).await;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_devdb"))
        .args(["copy", "big", "--from", "CODE"])
        .current_dir(pair.local.path())
        .env_remove("DEVDB_FILE")
        .env_remove("COMPOSE_PROJECT_NAME")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start devdb copy");
    wait_at_the_gate(&local, &mut child).await;
    child.kill().unwrap();
    child.wait().unwrap();
    // Past the gate, the session finds its client gone at its next read and rolls back.
    column(&local, &format!("SELECT pg_advisory_unlock({GATE})")).await;
    common::wait_until_other_sessions_end(&local).await;
    assert_eq!(
        column(&local, "SELECT string_agg(label, ',' ORDER BY id) FROM big").await,
        ["old 1,old 2,old 3,old 4,old 5,old 6,old 7,old 8,old 9,old 10"]
    );
    assert_eq!(column(&local, INDEXES).await, indexes);
    assert_eq!(
        column(
            &local,
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 'big'::regclass AND contype = 'p'"
        )
        .await,
        ["1"]
    );

    // And a copy left alone rebuilds the same indexes around the new rows.
    pair.local.devdb(&["copy", "big", "--from", "CODE"]).ok();
    assert_eq!(
        column(&local, "SELECT count(*) FROM big").await,
        [ROWS.to_string()]
    );
    assert_eq!(column(&local, INDEXES).await, indexes);
    assert_eq!(
        column(&local, "SELECT count(*) FROM big WHERE label = md5('4242')").await,
        ["1"]
    );
}

/// The server's value of each setting `x-devdb.server: fast` changes.
async fn durability_settings(project: &TestProject) -> Vec<String> {
    let client = connect(project).await;
    let mut values = Vec::new();
    for name in [
        "wal_level",
        "max_wal_senders",
        "fsync",
        "synchronous_commit",
        "full_page_writes",
    ] {
        values.extend(column(&client, &format!("SHOW {name}")).await);
    }
    values
}

#[tokio::test]
async fn server_fast_reaches_the_local_server_and_the_default_stays_untouched() {
    let project = TestProject::with_database("serverfast", "");
    project.devdb(&["up"]).ok();
    let defaults = durability_settings(&project).await;
    assert_eq!(defaults, ["replica", "10", "on", "on", "on"]);

    let default_yaml = std::fs::read_to_string(project.compose_path()).unwrap();
    project.write_compose(&format!("{default_yaml}  server: fast\n"));
    project.devdb(&["up"]).ok();
    assert_eq!(
        durability_settings(&project).await,
        ["minimal", "0", "off", "off", "off"]
    );
    connect(&project)
        .await
        .batch_execute("CREATE TABLE kept (id int); INSERT INTO kept VALUES (1)")
        .await
        .unwrap();

    // Dropping the setting brings the durable defaults back, on the same data.
    project.write_compose(&default_yaml);
    project.devdb(&["up"]).ok();
    assert_eq!(durability_settings(&project).await, defaults);
    assert_eq!(
        column(&connect(&project).await, "SELECT count(*) FROM kept").await,
        ["1"]
    );
}
