//! A database per git branch, on real git and real Postgres: each branch keeps its own schema
//! and rows across switches, a first-seen branch starts as a copy of the database in place
//! (or from the snapshot when that copy holds migrations it lacks), an app's connection stops
//! a switch before anything moves, and a switch killed halfway is finished by the next command.
//! Checked against the server's catalogs and rows, never devdb's own report alone.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common;

use common::{column, TestProject};

fn git(root: &Path, args: &[&str]) {
    git_with_path(root, args, &std::env::var("PATH").unwrap_or_default());
}

fn git_with_path(root: &Path, args: &[&str], path: &str) {
    let output = Command::new("git")
        .args([
            "-c",
            "user.name=devdb",
            "-c",
            "user.email=devdb@example.invalid",
        ])
        .args(args)
        .current_dir(root)
        .env("PATH", path)
        .output()
        .expect("run git");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A project in a git repository on branch `a`, branches on, with one migration committed.
fn repository(label: &str) -> TestProject {
    let project = TestProject::new(label);
    project.write_compose(&project.database_yaml(
        &common::postgres_image(),
        "\"5432\"",
        "",
        "  branches: true\n",
    ));
    let root = project.path();
    git(root, &["init", "-q", "-b", "a"]);
    project.write_migration(
        "20240101000000_items",
        "CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL);",
    );
    // Committed, as Prisma projects do (devdb writes it on the first deploy otherwise).
    devdb::migrate::files::ensure_lock_file(&root.join("migrations")).unwrap();
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "items"]);
    project
}

/// A connection to any database of the project's server (`devdb url` starts nothing).
async fn open(project: &TestProject, database: &str) -> tokio_postgres::Client {
    let url = project.devdb(&["url"]).ok().stdout.trim().to_string();
    let url = format!("{}/{database}", url.rsplit_once('/').unwrap().0);
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client
}

/// Runs `sql` on the database in place and closes the session (a switch needs none open).
async fn on_app(project: &TestProject, sql: &str) -> Vec<String> {
    let client = open(project, "app").await;
    let rows = column(&client, sql).await;
    close(client).await;
    rows
}

/// Drops the client and lets its connection task send the goodbye (devdb runs synchronously
/// next, so the task would not run until after it).
async fn close(client: tokio_postgres::Client) {
    drop(client);
    tokio::time::sleep(Duration::from_millis(50)).await;
}

async fn names(project: &TestProject) -> Vec<String> {
    on_app(project, "SELECT name FROM items ORDER BY name").await
}

async fn columns(project: &TestProject) -> Vec<String> {
    on_app(
        project,
        "SELECT table_name || '.' || column_name FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> '_prisma_migrations' ORDER BY 1",
    )
    .await
}

async fn ledger(project: &TestProject) -> Vec<String> {
    on_app(
        project,
        "SELECT migration_name FROM _prisma_migrations WHERE rolled_back_at IS NULL ORDER BY 1",
    )
    .await
}

async fn databases(project: &TestProject) -> Vec<String> {
    let client = open(project, "postgres").await;
    let rows = column(
        &client,
        "SELECT datname FROM pg_database WHERE datname = 'app' OR datname LIKE 'app\\_\\_br\\_%' ORDER BY 1",
    )
    .await;
    close(client).await;
    rows
}

fn status(project: &TestProject) -> serde_json::Value {
    serde_json::from_str(&project.devdb(&["branch", "status", "--json"]).ok().stdout)
        .expect("branch status --json")
}

/// On `a`, then a new branch `b` with a second migration (a column and a table).
async fn a_then_b(project: &TestProject) {
    project.devdb(&["migrate", "deploy"]).ok();
    on_app(project, "INSERT INTO items (name) VALUES ('on-a')").await;
    git(project.path(), &["checkout", "-q", "-b", "b"]);
    project.write_migration(
        "20240102000000_b_only",
        "ALTER TABLE items ADD COLUMN b_only integer; CREATE TABLE b_table (id integer);",
    );
    git(project.path(), &["add", "-A"]);
    git(project.path(), &["commit", "-q", "-m", "b"]);
}

#[tokio::test]
async fn each_branch_keeps_its_own_schema_and_rows() {
    let project = repository("branch-switch");
    a_then_b(&project).await;

    // First seen: a copy of a's database (its rows), then b's own pending migration.
    let report = status(&project);
    assert_eq!(report["owner"], "b", "{report}");
    assert_eq!(names(&project).await, ["on-a"]);
    assert_eq!(
        columns(&project).await,
        ["b_table.id", "items.b_only", "items.id", "items.name"]
    );
    on_app(
        &project,
        "INSERT INTO items (name, b_only) VALUES ('on-b', 1)",
    )
    .await;

    // Back on a: its parked database, renamed in: no b column, no b row, its own ledger.
    git(project.path(), &["checkout", "-q", "a"]);
    let switch = project.devdb(&["migrate", "status"]).ok();
    assert!(
        switch.stderr.contains("branch a:") && switch.stderr.contains("swapped in"),
        "{}",
        switch.stderr
    );
    assert_eq!(names(&project).await, ["on-a"]);
    assert_eq!(columns(&project).await, ["items.id", "items.name"]);
    assert_eq!(ledger(&project).await, ["20240101000000_items"]);
    on_app(&project, "INSERT INTO items (name) VALUES ('on-a-again')").await;
    let parked_b = devdb::branch::names::parked_name("app", "b");
    assert_eq!(databases(&project).await, ["app", parked_b.as_str()]);

    // And b again: its rows and schema came back, a's later row did not follow.
    git(project.path(), &["checkout", "-q", "b"]);
    let report = status(&project);
    assert_eq!(report["owner"], "b");
    assert_eq!(report["parked"][0]["branch"], "a", "{report}");
    assert!(report["parked"][0]["bytes"].as_i64().unwrap() > 0);
    assert_eq!(names(&project).await, ["on-a", "on-b"]);
    assert!(columns(&project)
        .await
        .contains(&"items.b_only".to_string()));
    assert_eq!(
        ledger(&project).await,
        ["20240101000000_items", "20240102000000_b_only"]
    );

    // `devdb status` shows the branch and the parked database; its JSON stays the services.
    let plain = project.devdb(&["status"]).ok();
    let parked_a = devdb::branch::names::parked_name("app", "a");
    assert!(
        plain.stdout.contains("BRANCH: branch b") && plain.stdout.contains(&parked_a),
        "{}",
        plain.stdout
    );
    let rows: serde_json::Value =
        serde_json::from_str(&project.devdb(&["status", "--json"]).ok().stdout).unwrap();
    assert_eq!(rows[0]["service"], "postgres");
}

#[tokio::test]
async fn a_first_seen_branch_missing_migrations_is_built_from_the_snapshot() {
    let project = repository("branch-rebuild");
    a_then_b(&project).await;
    status(&project);
    // A new branch off `a` while b's database (with b's migration) is in place.
    git(project.path(), &["checkout", "-q", "-b", "c", "a"]);
    let run = project.devdb(&["branch", "status"]).ok();
    assert!(
        run.stderr.contains("20240102000000_b_only") && run.stderr.contains("nearest snapshot"),
        "{}",
        run.stderr
    );
    assert_eq!(columns(&project).await, ["items.id", "items.name"]);
    assert_eq!(ledger(&project).await, ["20240101000000_items"]);
    assert_eq!(status(&project)["owner"], "c");
    // b's database waits, untouched.
    git(project.path(), &["checkout", "-q", "b"]);
    status(&project);
    assert_eq!(names(&project).await, ["on-a"]);
    assert!(columns(&project)
        .await
        .contains(&"items.b_only".to_string()));
}

#[tokio::test]
async fn an_open_connection_stops_the_switch_before_anything_moves() {
    let project = repository("branch-busy");
    a_then_b(&project).await;
    status(&project);
    git(project.path(), &["checkout", "-q", "a"]);
    let app = open(&project, "app").await;
    let refused = project.devdb(&["branch", "status"]).fails();
    assert!(
        refused.stderr.contains("other sessions are connected")
            && refused.stderr.contains("stop the app"),
        "{}",
        refused.stderr
    );
    assert_eq!(column(&app, "SELECT count(*) FROM b_table").await, ["0"]);
    close(app).await;
    assert_eq!(status(&project)["owner"], "a");
}

#[tokio::test]
async fn a_switch_killed_between_park_and_swap_is_finished_by_the_next_command() {
    let project = repository("branch-kill");
    a_then_b(&project).await;
    status(&project);
    git(project.path(), &["checkout", "-q", "a"]);
    status(&project);
    on_app(&project, "INSERT INTO items (name) VALUES ('a-only')").await;
    git(project.path(), &["checkout", "-q", "b"]);

    // A session on b's parked database holds its rename back, so the kill lands in between.
    let parked_a = devdb::branch::names::parked_name("app", "a");
    let parked_b = devdb::branch::names::parked_name("app", "b");
    let blocker = open(&project, &parked_b).await;
    let admin = open(&project, "postgres").await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_devdb"))
        .args(["branch", "status"])
        .current_dir(project.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let parked_sql = format!("SELECT count(*) FROM pg_database WHERE datname = '{parked_a}'");
    while column(&admin, &parked_sql).await != ["1"] {
        assert!(started.elapsed() < Duration::from_secs(60), "never parked");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Half done: a parked with its journal, none in place (b's rename waits on the blocker).
    let app_sql = "SELECT count(*) FROM pg_database WHERE datname = 'app'";
    assert_eq!(column(&admin, app_sql).await, ["0"]);
    let journal = format!(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '{parked_a}'"
    );
    assert_eq!(
        column(&admin, &journal).await,
        [r#"{"devdb_branch":"a","switching_to":"b"}"#]
    );
    // The server may still finish the rename the killed devdb asked for, once the blocker goes
    // (Postgres waits up to 5 s for other sessions): the next command copes either way.
    close(blocker).await;

    let run = project.devdb(&["branch", "status", "--json"]).ok();
    assert!(run.stderr.contains("cut short"), "{}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["owner"], "b");
    assert_eq!(report["parked"][0]["branch"], "a");
    assert!(
        report["parked"][0].get("switching_to").is_none(),
        "{report}"
    );
    assert_eq!(names(&project).await, ["on-a"]);
    assert!(columns(&project)
        .await
        .contains(&"items.b_only".to_string()));
    git(project.path(), &["checkout", "-q", "a"]);
    status(&project);
    assert_eq!(names(&project).await, ["a-only", "on-a"]);
}

/// A child process killed and reaped when dropped (a panicking test included).
struct StopOnDrop(std::process::Child);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits (up to 60 s) until the file holds `needle`; returns its text.
async fn wait_for(path: &Path, needle: &str) -> String {
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no `{needle}` in:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn watch_switches_on_a_checkout_and_keeps_the_rows() {
    let project = repository("branch-watch");
    a_then_b(&project).await;
    status(&project);
    on_app(
        &project,
        "INSERT INTO items (name, b_only) VALUES ('on-b', 2)",
    )
    .await;
    git(project.path(), &["checkout", "-q", "a"]);
    let log = project.path().join("watch.log");
    let watch = Command::new(env!("CARGO_BIN_EXE_devdb"))
        .args(["watch", "--no-generate"])
        .current_dir(project.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // Stopped even when an assertion below fails: a watch left running recreated the project's
    // database after its cleanup.
    let watch = StopOnDrop(watch);
    wait_for(&log, "branch a:").await;
    // The checkout changes migrations/: the loop follows the branch instead of resetting it.
    git(project.path(), &["checkout", "-q", "b"]);
    let text = wait_for(&log, "branch b:").await;
    drop(watch);
    assert!(!text.contains("ok:"), "a reset ran:\n{text}");
    assert_eq!(names(&project).await, ["on-a", "on-b"]);
}

#[tokio::test]
async fn the_post_checkout_hook_switches_and_never_clobbers_a_hook() {
    let project = repository("branch-hook");
    a_then_b(&project).await;
    status(&project);
    let hook = project.path().join(".git/hooks/post-checkout");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    std::fs::write(&hook, "#!/bin/sh\ntouch mine-ran\n").unwrap();
    let refused = project.devdb(&["branch", "hook"]).fails();
    assert!(
        refused.stderr.contains("is not devdb's") && refused.stderr.contains("--chain"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&hook).unwrap(),
        "#!/bin/sh\ntouch mine-ran\n"
    );
    project.devdb(&["branch", "hook", "--chain"]).ok();

    // git runs the hook (with devdb on its PATH): the database follows before any devdb command.
    let bin = Path::new(env!("CARGO_BIN_EXE_devdb")).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    git_with_path(project.path(), &["checkout", "-q", "a"], &path);
    assert!(
        project.path().join("mine-ran").exists(),
        "the existing hook ran too"
    );
    let admin = open(&project, "postgres").await;
    let tag = column(
        &admin,
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = 'app'",
    )
    .await;
    assert_eq!(tag, [r#"{"devdb_branch":"a"}"#]);
    close(admin).await;
    assert_eq!(columns(&project).await, ["items.id", "items.name"]);
}

#[tokio::test]
async fn drop_and_prune_remove_parked_databases_never_the_one_in_place() {
    let project = repository("branch-drop");
    a_then_b(&project).await;
    status(&project);
    let refused = project.devdb(&["branch", "drop", "b"]).fails();
    assert!(
        refused.stderr.contains("the one in place"),
        "{}",
        refused.stderr
    );
    // c starts as a copy of b's database: a and b are parked.
    git(project.path(), &["checkout", "-q", "-b", "c"]);
    assert_eq!(status(&project)["owner"], "c");
    assert_eq!(databases(&project).await.len(), 3);
    let report: serde_json::Value = serde_json::from_str(
        &project
            .devdb(&["branch", "drop", "a", "--json"])
            .ok()
            .stdout,
    )
    .unwrap();
    assert_eq!(report["parked"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["parked"][0]["branch"], "b", "{report}");
    // Prune keeps what git still has, then drops b's database once git's branch b is gone.
    project.devdb(&["branch", "prune"]).ok();
    assert_eq!(databases(&project).await.len(), 2);
    git(project.path(), &["branch", "-q", "-D", "b"]);
    let pruned = project.devdb(&["branch", "prune", "--json"]).ok();
    let report: serde_json::Value = serde_json::from_str(&pruned.stdout).unwrap();
    assert_eq!(report["parked"], serde_json::json!([]), "{report}");
    assert!(
        pruned.stderr.contains("branch b is gone"),
        "{}",
        pruned.stderr
    );
    assert_eq!(databases(&project).await, ["app"]);
    assert_eq!(status(&project)["owner"], "c");
}
