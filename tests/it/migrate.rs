//! Prisma-compatible migrations against real Postgres in devdb-managed containers.

use crate::common;

use std::process::Command;

use common::{column, connect, TestProject};

const LEDGER: &str = "public._prisma_migrations";

fn sha256sum(path: &std::path::Path) -> String {
    let output = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn corpus_applies_from_empty_with_prisma_ledger_rows() {
    let project = TestProject::with_database("corpus", "");
    let count = project.copy_corpus();
    assert!(count >= 40, "the corpus has {count} migrations");
    project.devdb(&["migrate", "deploy"]).ok();
    let client = connect(&project).await;

    // Prisma's exact columns and types.
    let columns = column(
        &client,
        "SELECT column_name || ' ' || data_type || coalesce('(' || character_maximum_length || ')', '') || ' ' || is_nullable \
         FROM information_schema.columns WHERE table_schema = 'public' AND table_name = '_prisma_migrations' ORDER BY ordinal_position",
    )
    .await;
    assert_eq!(
        columns,
        [
            "id character varying(36) NO",
            "checksum character varying(64) NO",
            "finished_at timestamp with time zone YES",
            "migration_name character varying(255) NO",
            "logs text YES",
            "rolled_back_at timestamp with time zone YES",
            "started_at timestamp with time zone NO",
            "applied_steps_count integer NO",
        ]
    );
    // One finished row per migration, checksums as `sha256sum` computes them.
    let rows = client
        .query(&format!("SELECT migration_name, checksum, id, applied_steps_count FROM {LEDGER} WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL ORDER BY migration_name"), &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), count);
    for row in &rows {
        let name: String = row.get(0);
        let path = project
            .path()
            .join("migrations")
            .join(&name)
            .join("migration.sql");
        assert_eq!(
            row.get::<_, String>(1),
            sha256sum(&path),
            "checksum of {name}"
        );
        assert!(uuid::Uuid::parse_str(&row.get::<_, String>(2)).is_ok());
        assert_eq!(row.get::<_, i32>(3), 1);
    }
    // The schema is really there: a view over a function, the materialized view, roles.
    assert_eq!(
        column(&client, "SELECT count(*) FROM order_summaries").await,
        ["0"]
    );
    assert_eq!(
        column(
            &client,
            "SELECT count(*) FROM pg_matviews WHERE matviewname = 'product_sales'"
        )
        .await,
        ["1"]
    );
    assert_eq!(
        column(
            &client,
            "SELECT count(*) FROM pg_roles WHERE rolname = 'app_readonly'"
        )
        .await,
        ["1"]
    );

    let again = project.devdb(&["migrate", "deploy", "--json"]).ok();
    let json: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(json["applied"].as_array().unwrap().len(), 0);
    project.devdb(&["migrate", "status"]).ok();
}

#[tokio::test]
async fn ledger_written_by_prisma_reads_as_applied() {
    let project = TestProject::with_database("prismaledger", "");
    let first = "CREATE TABLE a (id int);\n";
    let second = "-- CreateTable\r\nCREATE TABLE b (id int);\r\n";
    project.write_migration("20240101000000_a", first);
    project.write_migration("20240102000000_b", second);
    project.devdb(&["up"]).ok();
    let client = connect(&project).await;
    // Exactly what `prisma migrate deploy` leaves behind (its DDL and rows); the second row's
    // checksum is of the LF version, as on a colleague's machine with other line endings.
    client
        .batch_execute(&format!(
            r#"CREATE TABLE "_prisma_migrations" (
                "id" VARCHAR(36) NOT NULL, "checksum" VARCHAR(64) NOT NULL, "finished_at" TIMESTAMPTZ,
                "migration_name" VARCHAR(255) NOT NULL, "logs" TEXT, "rolled_back_at" TIMESTAMPTZ,
                "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(), "applied_steps_count" INTEGER NOT NULL DEFAULT 0,
                CONSTRAINT "_prisma_migrations_pkey" PRIMARY KEY ("id"));
            CREATE TABLE a (id int); CREATE TABLE b (id int);
            INSERT INTO "_prisma_migrations" VALUES
              ('0c6fa5c4-8a4a-4d0b-a4c2-0c1bd1d6b0a1', '{}', now(), '20240101000000_a', NULL, NULL, now(), 1),
              ('7d1b2a59-2f55-4c33-9a52-3e1fbb1c2c0e', '{}', now(), '20240102000000_b', NULL, NULL, now(), 1);"#,
            devdb::migrate::files::checksum_of(first),
            devdb::migrate::files::checksum_of(&second.replace("\r\n", "\n")),
        ))
        .await
        .unwrap();
    let status = project.devdb(&["migrate", "status", "--json"]).ok();
    let json: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(json["up_to_date"], true, "{json}");
    let deploy = project.devdb(&["migrate", "deploy", "--json"]).ok();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&deploy.stdout).unwrap()["applied"],
        serde_json::json!([])
    );
}

#[tokio::test]
async fn failed_transactional_migration_leaves_no_trace_and_stays_pending() {
    let project = TestProject::with_database("txfail", "");
    project.write_migration("20240101000000_ok", "CREATE TABLE kept (id int);\n");
    let path = project.write_migration(
        "20240102000000_broken",
        "CREATE TABLE half (id int);\n\nINSERT INTO half VALUES (1);\n-- the next line fails\nINSERT INTO missing_table VALUES (1);\n",
    );
    project.write_migration(
        "20240103000000_after",
        "CREATE TABLE after_broken (id int);\n",
    );
    let run = project.devdb(&["migrate", "deploy"]).fails();
    assert!(
        run.stderr.contains(&format!(
            "{}:5: 42P01: relation \"missing_table\" does not exist",
            path.display()
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("statement: INSERT INTO missing_table VALUES (1)")
            && run.stderr.contains("nothing of it was applied"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("devdb fix-missing missing_table"),
        "{}",
        run.stderr
    );

    let client = connect(&project).await;
    assert_eq!(column(&client, "SELECT to_regclass('half') IS NULL, to_regclass('after_broken') IS NULL, to_regclass('kept') IS NULL").await, ["t"]);
    // The ledger row was inserted in the migration's transaction: it went with the rollback.
    let rows = column(&client, &format!("SELECT migration_name || ' ' || (finished_at IS NULL) || ' ' || (rolled_back_at IS NOT NULL) FROM {LEDGER} ORDER BY started_at")).await;
    assert_eq!(rows, ["20240101000000_ok false false"]);
    let status = project.devdb(&["migrate", "status", "--json"]).fails();
    let json: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(json["migrations"][1]["state"], "pending", "{json}");

    // Scripts get the same facts from --json (main's `{"error": {"message", "hint"}}`).
    let run = project.devdb(&["migrate", "deploy", "--json"]).fails();
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let message = json["error"]["message"].as_str().unwrap_or_default();
    for fact in [
        format!("{}:5: 42P01", path.display()),
        "statement: INSERT INTO missing_table VALUES (1)".to_string(),
    ] {
        assert!(message.contains(&fact), "{fact} missing from {json}");
    }
    // What it left and what to run next is the hint.
    let hint = json["error"]["hint"].as_str().unwrap_or_default();
    assert!(hint.contains("nothing of it was applied"), "{json}");

    // A fixed file simply re-applies.
    std::fs::write(
        &path,
        "CREATE TABLE half (id int);\nINSERT INTO half VALUES (1);\n",
    )
    .unwrap();
    project.devdb(&["migrate", "deploy"]).ok();
    assert_eq!(column(&client, "SELECT count(*) FROM half").await, ["1"]);
    project.devdb(&["migrate", "status"]).ok();
}

#[tokio::test]
async fn failed_non_transactional_migration_blocks_until_resolved() {
    let project = TestProject::with_database("notxfail", "");
    let path = project.write_migration(
        "20240101000000_concurrent",
        "CREATE TABLE items (id int, name text);\nCREATE INDEX CONCURRENTLY items_name_idx ON items (nmae);\n",
    );
    project.write_migration("20240102000000_next", "CREATE TABLE next_one (id int);\n");
    let run = project.devdb(&["migrate", "deploy"]).fails();
    assert!(
        run.stderr.contains(&format!("{}:2: 42703", path.display())),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("outside a transaction"),
        "{}",
        run.stderr
    );
    let client = connect(&project).await;
    // The table from line 1 stays: Postgres cannot run CONCURRENTLY in a transaction.
    assert_eq!(
        column(
            &client,
            "SELECT to_regclass('items') IS NOT NULL, to_regclass('next_one') IS NULL"
        )
        .await,
        ["t"]
    );

    let blocked = project.devdb(&["migrate", "deploy"]).fails();
    assert!(
        blocked.stderr.contains("P3009")
            && blocked
                .stderr
                .contains("migrate resolve --rolled-back 20240101000000_concurrent"),
        "{}",
        blocked.stderr
    );
    let status = project.devdb(&["migrate", "status", "--json"]).fails();
    let json: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(json["migrations"][0]["state"], "failed");

    std::fs::write(&path, "CREATE TABLE IF NOT EXISTS items (id int, name text);\nCREATE INDEX CONCURRENTLY items_name_idx ON items (name);\n").unwrap();
    project
        .devdb(&[
            "migrate",
            "resolve",
            "--rolled-back",
            "20240101000000_concurrent",
        ])
        .ok();
    project.devdb(&["migrate", "deploy"]).ok();
    assert_eq!(
        column(
            &client,
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'items_name_idx'"
        )
        .await,
        ["1"]
    );
    assert_eq!(
        column(&client, "SELECT to_regclass('next_one') IS NOT NULL").await,
        ["t"]
    );
    let unknown = project
        .devdb(&["migrate", "resolve", "--rolled-back", "20240102000000_next"])
        .fails();
    assert!(
        unknown.stderr.contains("not in a failed state"),
        "{}",
        unknown.stderr
    );
}

#[tokio::test]
async fn concurrent_deploys_apply_each_migration_once() {
    let project = TestProject::with_database("concurrent", "");
    let count = project.copy_corpus();
    project.devdb(&["up"]).ok();
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_devdb"))
            .args(["migrate", "deploy"])
            .current_dir(project.path())
            .env_remove("COMPOSE_PROJECT_NAME")
            .env_remove("DEVDB_FILE")
            .output()
    };
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(spawn);
        let b = scope.spawn(spawn);
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    let client = connect(&project).await;
    let counts = column(&client, &format!("SELECT count(*) || ' ' || count(DISTINCT migration_name) || ' ' || count(finished_at) FROM {LEDGER}")).await;
    assert_eq!(counts, [format!("{count} {count} {count}")]);
}

#[tokio::test]
async fn database_with_tables_but_no_ledger_must_be_baselined() {
    let project = TestProject::with_database("baseline", "");
    project.write_migration("0_init", "CREATE TABLE legacy (id int);\n");
    project.write_migration("20240101000000_more", "CREATE TABLE more (id int);\n");
    project.devdb(&["up"]).ok();
    connect(&project)
        .await
        .batch_execute("CREATE TABLE legacy (id int)")
        .await
        .unwrap();
    let run = project.devdb(&["migrate", "deploy"]).fails();
    assert!(
        run.stderr.contains("P3005") && run.stderr.contains("migrate resolve --applied 0_init"),
        "{}",
        run.stderr
    );
    project
        .devdb(&["migrate", "resolve", "--applied", "0_init"])
        .ok();
    project.devdb(&["migrate", "deploy"]).ok();
    project.devdb(&["migrate", "status"]).ok();
    let again = project
        .devdb(&["migrate", "resolve", "--applied", "0_init"])
        .fails();
    assert!(
        again.stderr.contains("already recorded as applied"),
        "{}",
        again.stderr
    );
}

#[tokio::test]
async fn status_reports_modified_and_missing_migrations() {
    let project = TestProject::with_database("modified", "");
    let path = project.write_migration("20240101000000_a", "CREATE TABLE a (id int);\n");
    let gone = project.write_migration("20240102000000_gone", "CREATE TABLE gone (id int);\n");
    project.devdb(&["migrate", "deploy"]).ok();
    std::fs::write(&path, "CREATE TABLE a (id bigint);\n").unwrap();
    std::fs::remove_dir_all(gone.parent().unwrap()).unwrap();
    let run = project.devdb(&["migrate", "status", "--json"]).fails();
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["migrations"][0]["modified"], true);
    assert_eq!(
        json["missing_on_disk"],
        serde_json::json!(["20240102000000_gone"])
    );
    let deploy = project.devdb(&["migrate", "deploy"]).ok();
    assert!(
        deploy.stderr.contains("was modified after it was applied"),
        "{}",
        deploy.stderr
    );
}

#[tokio::test]
async fn remote_stage_changes_only_with_confirm_and_never_prints_the_password() {
    let remote = TestProject::with_database("remote", "");
    remote.devdb(&["up"]).ok();
    let remote_url = remote.devdb(&["url"]).ok().stdout.trim().to_string();
    let local = TestProject::new("stagelocal");
    let stages = "  stages:\n    CODE: { url_env: DEVDB_TEST_CODE_URL, sslmode: disable }\n";
    local.write_compose(&local.database_yaml(&common::postgres_image(), "\"5432\"", "", stages));
    local.write_migration("20240101000000_a", "CREATE TABLE staged (id int);\n");
    let env = [("DEVDB_TEST_CODE_URL", remote_url.as_str())];

    let plan = local
        .devdb_with_env(&["migrate", "deploy", "--stage", "CODE"], &env)
        .ok();
    assert!(
        plan.stdout.contains("Plan for stage CODE")
            && plan.stdout.contains("apply      20240101000000_a"),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("--confirm"), "{}", plan.stdout);
    let remote_client = connect(&remote).await;
    assert_eq!(column(&remote_client, "SELECT to_regclass('public._prisma_migrations') IS NULL, to_regclass('staged') IS NULL").await, ["t"]);
    let status = local
        .devdb_with_env(&["migrate", "status", "--stage", "CODE"], &env)
        .fails();

    let applied = local
        .devdb_with_env(&["migrate", "deploy", "--stage", "CODE", "--confirm"], &env)
        .ok();
    assert_eq!(
        column(
            &remote_client,
            &format!("SELECT migration_name FROM {LEDGER} WHERE finished_at IS NOT NULL")
        )
        .await,
        ["20240101000000_a"]
    );
    assert_eq!(
        column(&remote_client, "SELECT to_regclass('staged') IS NOT NULL").await,
        ["t"]
    );
    let resolve_plan = local
        .devdb_with_env(
            &[
                "migrate",
                "resolve",
                "--applied",
                "20240101000000_a",
                "--stage",
                "CODE",
            ],
            &env,
        )
        .ok();
    assert!(
        resolve_plan.stdout.contains("Nothing was changed"),
        "{}",
        resolve_plan.stdout
    );

    for run in [&plan, &status, &applied, &resolve_plan] {
        assert!(
            !run.all().contains("test-secret-pw"),
            "password printed:\n{}",
            run.all()
        );
    }
    // The local database was never touched by the stage commands.
    let unknown = local
        .devdb_with_env(&["migrate", "status", "--stage", "PROD"], &env)
        .fails();
    assert!(
        unknown.stderr.contains("stage PROD") && unknown.stderr.contains("CODE"),
        "{}",
        unknown.stderr
    );
}

/// Many Compose files keep the database on the project network (no `ports:`): stage-only
/// commands work on them, and only what reaches the local database asks for a port.
#[tokio::test]
async fn stage_commands_need_no_published_local_port() {
    let remote = TestProject::with_database("noport-remote", "");
    remote.devdb(&["up"]).ok();
    let remote_url = remote.devdb(&["url"]).ok().stdout.trim().to_string();
    let local = TestProject::new("noport-local");
    let stages = "  stages:\n    CODE: { url_env: DEVDB_TEST_CODE_URL, sslmode: disable }\n";
    let yaml = local
        .database_yaml(&common::postgres_image(), "", "", stages)
        .replace("    ports: []\n", "");
    assert!(!yaml.contains("ports"), "{yaml}");
    local.write_compose(&yaml);
    local.write_migration("20240101000000_a", "CREATE TABLE staged (id int);\n");
    let env = [("DEVDB_TEST_CODE_URL", remote_url.as_str())];

    let pending = local
        .devdb_with_env(&["migrate", "status", "--stage", "CODE"], &env)
        .fails();
    assert!(
        pending.stdout.contains("20240101000000_a") && !pending.all().contains("publishes no port"),
        "{}",
        pending.all()
    );
    local
        .devdb_with_env(&["migrate", "deploy", "--stage", "CODE", "--confirm"], &env)
        .ok();
    local
        .devdb_with_env(&["migrate", "status", "--stage", "CODE"], &env)
        .ok();
    let remote_client = connect(&remote).await;
    assert_eq!(
        column(
            &remote_client,
            &format!("SELECT migration_name FROM {LEDGER} WHERE finished_at IS NOT NULL")
        )
        .await,
        ["20240101000000_a"]
    );
    assert_eq!(
        column(&remote_client, "SELECT to_regclass('staged') IS NOT NULL").await,
        ["t"]
    );
    // What does reach the local database keeps the clear error, and starts nothing.
    let up = local.devdb(&["up"]).fails();
    assert!(
        up.stderr.contains("publishes no port") && up.stderr.contains("hint: add `ports:"),
        "{}",
        up.stderr
    );
    assert!(common::project_resources(&local.name).await.is_empty());
}

#[tokio::test]
async fn new_and_reset_work_locally_and_reset_refuses_stages() {
    let project = TestProject::with_database("newreset", "");
    let run = project.devdb(&["migrate", "new", "Add Widgets"]).ok();
    let path = std::path::PathBuf::from(run.stdout.trim());
    assert!(
        path.to_string_lossy()
            .ends_with("_add_widgets/migration.sql"),
        "{}",
        run.stdout
    );
    assert!(project
        .path()
        .join("migrations/migration_lock.toml")
        .exists());
    std::fs::write(&path, "CREATE TABLE widgets (id int);\n").unwrap();
    let bad = project.devdb(&["migrate", "new", "!!!"]).fails();
    assert!(
        bad.stderr.contains("no letters or digits"),
        "{}",
        bad.stderr
    );

    project.devdb(&["migrate", "deploy"]).ok();
    let client = connect(&project).await;
    client
        .batch_execute("INSERT INTO widgets VALUES (1)")
        .await
        .unwrap();
    drop(client);
    let refused = project
        .devdb(&["migrate", "reset", "--yes", "--stage", "CODE"])
        .fails();
    assert!(
        refused.stderr.contains("never touches a stage"),
        "{}",
        refused.stderr
    );
    let no_yes = project.devdb(&["migrate", "reset"]).fails();
    assert!(no_yes.stderr.contains("--yes"), "{}", no_yes.stderr);
    project.devdb(&["migrate", "reset", "--yes"]).ok();
    let client = connect(&project).await;
    assert_eq!(column(&client, "SELECT count(*) FROM widgets").await, ["0"]);

    std::fs::write(
        project.path().join("migrations/migration_lock.toml"),
        "provider = \"mysql\"\n",
    )
    .unwrap();
    let wrong = project.devdb(&["migrate", "status"]).fails();
    assert!(wrong.stderr.contains("mysql"), "{}", wrong.stderr);
}

#[tokio::test]
async fn a_syntax_error_names_its_line_and_its_own_statement() {
    let project = TestProject::with_database("syntax", "");
    project.write_migration(
        "20240101000000_typo",
        "CREATE TABLE a (id int);\nCREAT TABLE b (id int);\nCREATE TABLE c (id int);\n",
    );
    let run = project.devdb(&["migrate", "deploy"]).fails();
    assert!(run.stderr.contains("migration.sql:2"), "{}", run.stderr);
    assert!(
        run.stderr.contains("statement: CREAT TABLE b (id int)")
            && !run.stderr.contains("statement: CREATE TABLE a"),
        "{}",
        run.stderr
    );
}
