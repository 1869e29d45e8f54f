//! The development loop against the real Prisma 7.8 CLI (prisma-oracle): `migrate diff
//! --from-prisma` and `migrate new --from-prisma` on the devloop fixture (two migrations Prisma
//! wrote), with the schema edited as a developer would. Prisma itself then judges the result:
//! its own diff from the new history to the schema is empty, and its `migrate status` is up to
//! date; the local database is read for the new objects.

use crate::common;
use crate::oracle;

use std::path::{Path, PathBuf};

use common::TestProject;
use oracle::Oracle;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/devloop")
}

/// devdb runs `PRISMA migrate diff ... --config FILE`; the oracle's wrapper writes its own config
/// (schema and DATABASE_URL) and refuses `--config`, so this adapter drops it.
fn write_adapter(project: &TestProject, oracle: &Oracle) -> PathBuf {
    let path = project.path().join("prisma-adapter");
    let script = format!(
        "#!/usr/bin/env bash\nargs=(); schema=\nwhile [ $# -gt 0 ]; do\n  case $1 in\n    \
         --config) shift 2 ;;\n    --to-schema) schema=$2; args+=(\"$1\" \"$2\"); shift 2 ;;\n    \
         *) args+=(\"$1\"); shift ;;\n  esac\ndone\nexec bash {} --schema \"$schema\" -- \"${{args[@]}}\"\n",
        oracle.tool().display()
    );
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A project holding the fixture's history (deployed) and schema.prisma; None when the oracle
/// cannot run here.
fn setup(label: &str) -> Option<(TestProject, Oracle, PathBuf)> {
    let oracle = Oracle::find()?;
    let project = TestProject::with_database(label, "");
    for name in ["20240101000000_users", "20240102000000_posts"] {
        let sql = std::fs::read_to_string(
            fixture()
                .join("migrations")
                .join(name)
                .join("migration.sql"),
        )
        .unwrap();
        project.write_migration(name, &sql);
    }
    std::fs::create_dir_all(project.path().join("prisma")).unwrap();
    std::fs::copy(
        fixture().join("schema.prisma"),
        project.path().join("prisma/schema.prisma"),
    )
    .unwrap();
    project.devdb(&["migrate", "deploy"]).ok();
    let adapter = write_adapter(&project, &oracle);
    Some((project, oracle, adapter))
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from:?} not in {}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// A model with relations to two others, a column, an index and an enum value.
fn edit_schema(schema: &Path) {
    edit(schema, "  ADMIN\n", "  ADMIN\n  MODERATOR\n");
    edit(
        schema,
        "  posts     Post[]\n",
        "  bio       String?\n  posts     Post[]\n  comments  Comment[]\n",
    );
    edit(
        schema,
        "  author    User    @relation(fields: [authorId], references: [id], onDelete: Cascade)\n",
        "  author    User    @relation(fields: [authorId], references: [id], onDelete: Cascade)\n  \
         comments  Comment[]\n\n  @@index([title])\n",
    );
    let mut text = std::fs::read_to_string(schema).unwrap();
    text.push_str(
        "\nmodel Comment {\n  id       BigInt @id @default(autoincrement())\n  body     String\n  \
         postId   Int    @map(\"post_id\")\n  authorId Int?   @map(\"author_id\")\n  \
         post     Post   @relation(fields: [postId], references: [id], onDelete: Cascade)\n  \
         author   User?  @relation(fields: [authorId], references: [id], onDelete: SetNull)\n\n  \
         @@index([postId, authorId])\n  @@map(\"comments\")\n}\n",
    );
    std::fs::write(schema, text).unwrap();
}

fn json(run: &common::Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.all()))
}

#[tokio::test]
async fn migrate_new_from_prisma_gives_a_history_prisma_finds_up_to_date() {
    new_from_prisma_is_up_to_date("devloop-prisma", "schema").await;
}

#[tokio::test]
async fn the_database_route_gives_a_history_prisma_finds_up_to_date() {
    new_from_prisma_is_up_to_date("devloop-prisma-db", "database").await;
}

/// The acceptance test of `--from-prisma` on one route (`schema`: devdb's datamodel of the
/// history; `database`: the history copy, forced by DEVDB_FROM_PRISMA_ROUTE).
async fn new_from_prisma_is_up_to_date(label: &str, route: &str) {
    let Some((project, oracle, adapter)) = setup(label) else {
        return;
    };
    let forced = if route == "database" { "database" } else { "" };
    let env = [
        ("DEVDB_PRISMA", adapter.to_str().unwrap()),
        ("DEVDB_FROM_PRISMA_ROUTE", forced),
    ];
    let schema = project.path().join("prisma/schema.prisma");

    // The fixture's history is what its schema describes.
    let run = project.devdb_with_env(&["migrate", "diff", "--from-prisma", "--json"], &env);
    assert_eq!(run.status.code(), Some(0), "{}", run.all());
    assert_eq!(json(&run)["empty"], true, "{}", run.all());

    edit_schema(&schema);
    let run = project.devdb_with_env(&["migrate", "diff", "--from-prisma"], &env);
    assert_eq!(
        run.status.code(),
        Some(1),
        "a difference exits 1: {}",
        run.all()
    );
    for expected in [
        "CREATE TABLE \"comments\"",
        "ADD VALUE 'MODERATOR'",
        "ADD COLUMN",
        "CREATE INDEX \"posts_title_idx\"",
    ] {
        assert!(run.stdout.contains(expected), "{expected}: {}", run.all());
    }

    let run = project
        .devdb_with_env(
            &["migrate", "new", "add comments", "--from-prisma", "--json"],
            &env,
        )
        .ok();
    let report = json(&run);
    assert_eq!(report["applied"], true, "{}", run.all());
    assert_eq!(report["route"], route, "{}", run.all());
    let path = PathBuf::from(report["path"].as_str().unwrap());
    let written = std::fs::read_to_string(&path).unwrap();
    assert_eq!(written, report["sql"].as_str().unwrap());
    assert!(
        path.to_string_lossy()
            .ends_with("_add_comments/migration.sql"),
        "{}",
        path.display()
    );

    // Prisma's judgement: no difference left between the new history and the schema, and the
    // local database's ledger holds all of it.
    let url = project.devdb(&["url"]).ok().stdout.trim().to_string();
    let migrations = project.path().join("migrations");
    let diff = oracle.run(
        &schema,
        Some(&migrations),
        &url,
        &[
            "migrate",
            "diff",
            "--from-migrations",
            migrations.to_str().unwrap(),
            "--to-schema",
            schema.to_str().unwrap(),
            "--script",
            "--exit-code",
        ],
    );
    assert!(
        diff.success,
        "Prisma still finds a difference:\n{}",
        diff.all()
    );
    assert!(diff.stdout.contains("empty migration"), "{}", diff.all());
    let status = oracle.run(&schema, Some(&migrations), &url, &["migrate", "status"]);
    assert!(status.success, "{}", status.all());
    assert!(
        status.all().contains("Database schema is up to date"),
        "{}",
        status.all()
    );

    // The local database has the new objects, and no history copy was left behind.
    let client = common::connect(&project).await;
    let found = common::column(
        &client,
        "SELECT (SELECT count(*) FROM information_schema.columns WHERE table_name = 'comments') \
         || ',' || (SELECT count(*) FROM pg_enum WHERE enumlabel = 'MODERATOR') \
         || ',' || (SELECT count(*) FROM pg_indexes WHERE indexname = 'posts_title_idx') \
         || ',' || (SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'bio') \
         || ',' || (SELECT count(*) FROM pg_database WHERE datname LIKE 'devdb\\_diff\\_%')",
    )
    .await;
    assert_eq!(found, ["4,1,1,1,0"]);

    // Nothing left to write: the schema matches the new history.
    let run = project
        .devdb_with_env(
            &["migrate", "new", "again", "--from-prisma", "--json"],
            &env,
        )
        .ok();
    assert_eq!(
        json(&run)["migration"],
        serde_json::Value::Null,
        "{}",
        run.all()
    );
}

#[tokio::test]
async fn create_only_writes_the_migration_and_leaves_the_database_alone() {
    let Some((project, _oracle, adapter)) = setup("devloop-create-only") else {
        return;
    };
    let env = [("DEVDB_PRISMA", adapter.to_str().unwrap())];
    let schema = project.path().join("prisma/schema.prisma");
    edit(
        &schema,
        "  name      String?\n",
        "  name      String?\n  nickname  String?\n",
    );
    let run = project
        .devdb_with_env(
            &[
                "migrate",
                "new",
                "nickname",
                "--from-prisma",
                "--create-only",
            ],
            &env,
        )
        .ok();
    let path = PathBuf::from(run.stdout.trim());
    let sql = std::fs::read_to_string(&path).unwrap();
    assert!(
        sql.contains("ADD COLUMN") && sql.contains("\"nickname\""),
        "{sql}"
    );
    // Pending, not applied: status exits 1, and the column is not there.
    let status = project.devdb(&["migrate", "status"]);
    assert_eq!(status.status.code(), Some(1), "{}", status.all());
    let client = common::connect(&project).await;
    let columns = common::column(
        &client,
        "SELECT count(*)::text FROM information_schema.columns WHERE column_name = 'nickname'",
    )
    .await;
    assert_eq!(columns, ["0"]);
}

#[test]
fn a_missing_schema_is_a_clear_error() {
    let project = TestProject::with_database("devloop-noschema", "");
    let run = project
        .devdb_with_env(
            &["migrate", "diff", "--from-prisma"],
            &[("DEVDB_PRISMA", "/bin/false")],
        )
        .fails();
    assert_eq!(run.status.code(), Some(2));
    assert!(
        run.stderr.contains("no schema.prisma found") && run.stderr.contains("--schema"),
        "{}",
        run.all()
    );
}

#[test]
fn the_schema_comes_from_prisma_config_ts_and_a_computed_one_names_its_line() {
    let Some((project, _oracle, adapter)) = setup("devloop-config") else {
        return;
    };
    let env = [("DEVDB_PRISMA", adapter.to_str().unwrap())];
    std::fs::create_dir_all(project.path().join("db")).unwrap();
    std::fs::rename(
        project.path().join("prisma/schema.prisma"),
        project.path().join("db/app.prisma"),
    )
    .unwrap();
    let config = project.path().join("prisma.config.ts");
    std::fs::write(
        &config,
        "import path from 'node:path';\nimport { defineConfig, env } from 'prisma/config';\n\n\
         export default defineConfig({\n  schema: path.join('db', 'app.prisma'),\n  \
         datasource: { url: env('DATABASE_URL') },\n});\n",
    )
    .unwrap();
    let run = project.devdb_with_env(&["migrate", "diff", "--from-prisma", "--json"], &env);
    assert_eq!(run.status.code(), Some(0), "{}", run.all());
    let report = json(&run);
    assert_eq!(report["empty"], true, "{}", run.all());
    assert!(
        report["schema"]
            .as_str()
            .unwrap()
            .ends_with("/db/app.prisma"),
        "{}",
        run.all()
    );

    std::fs::write(
        &config,
        "export default {\n  schema: process.env.SCHEMA,\n};\n",
    )
    .unwrap();
    let run = project.devdb_with_env(&["migrate", "diff", "--from-prisma"], &env);
    assert_eq!(run.status.code(), Some(2), "{}", run.all());
    assert!(
        run.stderr.contains("prisma.config.ts:2:")
            && run.stderr.contains("process.env.SCHEMA")
            && run.stderr.contains("--schema PATH"),
        "{}",
        run.all()
    );
}

/// Prisma's `migrate diff --from-migrations` from the project's history to its schema: empty,
/// and `migrate status` up to date (the oracle's judgement of a new migration).
fn assert_prisma_finds_no_difference(project: &TestProject, oracle: &Oracle, schema: &Path) {
    let url = project.devdb(&["url"]).ok().stdout.trim().to_string();
    let migrations = project.path().join("migrations");
    let diff = oracle.run(
        schema,
        Some(&migrations),
        &url,
        &[
            "migrate",
            "diff",
            "--from-migrations",
            migrations.to_str().unwrap(),
            "--to-schema",
            schema.to_str().unwrap(),
            "--script",
            "--exit-code",
        ],
    );
    assert!(
        diff.success && diff.stdout.contains("empty migration"),
        "Prisma still finds a difference:\n{}",
        diff.all()
    );
    let status = oracle.run(schema, Some(&migrations), &url, &["migrate", "status"]);
    assert!(
        status.success && status.all().contains("Database schema is up to date"),
        "{}",
        status.all()
    );
}

#[test]
fn the_schema_route_prints_the_database_routes_sql_byte_for_byte() {
    let Some((project, _oracle, adapter)) = setup("devloop-routes") else {
        return;
    };
    let schema = project.path().join("prisma/schema.prisma");
    edit_schema(&schema);
    let diff = |route: &str| {
        let env = [
            ("DEVDB_PRISMA", adapter.to_str().unwrap()),
            ("DEVDB_FROM_PRISMA_ROUTE", route),
        ];
        let run = project.devdb_with_env(&["migrate", "diff", "--from-prisma", "--json"], &env);
        assert_eq!(run.status.code(), Some(1), "{}", run.all());
        json(&run)
    };
    let uncached = diff("");
    let cached = diff("");
    let database = diff("database");
    for (report, route, from_cache) in [
        (&uncached, "schema", false),
        (&cached, "schema", true),
        (&database, "database", false),
    ] {
        assert_eq!(report["route"], route, "{report}");
        assert_eq!(report["datamodel_cached"], from_cache, "{report}");
    }
    assert_eq!(uncached["fallback"], serde_json::Value::Null, "{uncached}");
    assert_eq!(database["fallback"], "DEVDB_FROM_PRISMA_ROUTE=database");
    let sql = database["sql"].as_str().unwrap();
    assert!(sql.contains("CREATE TABLE \"comments\""), "{sql}");
    assert_eq!(uncached["sql"].as_str().unwrap(), sql);
    assert_eq!(cached["sql"].as_str().unwrap(), sql);
    // The cache holds the rendered datamodel, named by the history, server and devdb.
    let cache: Vec<String> = std::fs::read_dir(project.path().join(".devdb/prisma-history"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        cache.len() == 1 && cache[0].ends_with(".prisma") && cache[0].contains("-pg"),
        "{cache:?}"
    );
}

#[tokio::test]
async fn a_history_no_datamodel_can_say_falls_back_to_the_database() {
    let Some((project, oracle, adapter)) = setup("devloop-fallback") else {
        return;
    };
    project.write_migration(
        "20240103000000_published",
        "CREATE VIEW \"published_posts\" AS SELECT \"id\", \"title\" FROM \"posts\" WHERE \"published\";\n",
    );
    project.devdb(&["migrate", "deploy"]).ok();
    let env = [("DEVDB_PRISMA", adapter.to_str().unwrap())];
    let schema = project.path().join("prisma/schema.prisma");
    edit_schema(&schema);
    for round in 0..2 {
        let run = project.devdb_with_env(&["migrate", "diff", "--from-prisma", "--json"], &env);
        assert_eq!(run.status.code(), Some(1), "round {round}: {}", run.all());
        let report = json(&run);
        assert_eq!(report["route"], "database", "{report}");
        assert_eq!(
            report["fallback"], "public.published_posts is a view",
            "{report}"
        );
    }
    let run = project
        .devdb_with_env(
            &["migrate", "new", "comments", "--from-prisma", "--json"],
            &env,
        )
        .ok();
    assert_eq!(json(&run)["route"], "database", "{}", run.all());
    assert_prisma_finds_no_difference(&project, &oracle, &schema);

    // The background job finds the new history's reason too (cached beside the old one's), and
    // the next run falls back without rendering.
    project.devdb(&["internal-prepare-spares", "--wait"]).ok();
    assert_eq!(cache_entries(&project, ".fallback"), 2);
    edit(
        &schema,
        "  name      String?\n",
        "  name      String?\n  nickname  String?\n",
    );
    let run = project.devdb_with_env(&["migrate", "diff", "--from-prisma", "--json"], &env);
    let report = json(&run);
    assert_eq!(report["route"], "database", "{report}");
    assert_eq!(report["datamodel_cached"], false, "{report}");
    assert_eq!(report["replayed"], 0, "{report}");
    assert_no_history_copy_left(&project).await;
}

/// Files in the datamodel cache ending in `suffix`.
fn cache_entries(project: &TestProject, suffix: &str) -> usize {
    std::fs::read_dir(project.path().join(".devdb/prisma-history"))
        .map(|entries| {
            entries
                .filter(|e| {
                    let name = e.as_ref().unwrap().file_name();
                    name.to_string_lossy().ends_with(suffix)
                })
                .count()
        })
        .unwrap_or(0)
}

/// No `devdb_diff_` database is left, once a background job started earlier is done (10 s).
async fn assert_no_history_copy_left(project: &TestProject) {
    let client = common::connect(project).await;
    let sql = "SELECT count(*)::text FROM pg_database WHERE datname LIKE 'devdb\\_diff\\_%'";
    for _ in 0..100 {
        if common::column(&client, sql).await == ["0"] {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("a history copy was left behind");
}

#[tokio::test]
async fn after_migrate_new_and_the_background_job_the_next_run_is_cached() {
    let Some((project, _oracle, adapter)) = setup("devloop-warm") else {
        return;
    };
    let env = [("DEVDB_PRISMA", adapter.to_str().unwrap())];
    let schema = project.path().join("prisma/schema.prisma");
    edit_schema(&schema);
    project
        .devdb_with_env(&["migrate", "new", "comments", "--from-prisma"], &env)
        .ok();
    // What `migrate new` started, done: the new history's snapshot, then its datamodel.
    project.devdb(&["internal-prepare-spares", "--wait"]).ok();
    edit(
        &schema,
        "  name      String?\n",
        "  name      String?\n  nickname  String?\n",
    );
    let diff = |route: &str| {
        let env = [env[0], ("DEVDB_FROM_PRISMA_ROUTE", route)];
        let run = project.devdb_with_env(&["migrate", "diff", "--from-prisma", "--json"], &env);
        assert_eq!(run.status.code(), Some(1), "{}", run.all());
        json(&run)
    };
    let cached = diff("");
    assert_eq!(cached["route"], "schema", "{cached}");
    assert_eq!(cached["datamodel_cached"], true, "{cached}");
    let database = diff("database");
    assert_eq!(
        database["replayed"], 0,
        "the job made the snapshot: {database}"
    );
    let sql = database["sql"].as_str().unwrap();
    assert!(sql.contains("\"nickname\""), "{sql}");
    assert!(!sql.contains("comments"), "{sql}");
    assert_eq!(cached["sql"].as_str().unwrap(), sql);
    assert_no_history_copy_left(&project).await;
}
