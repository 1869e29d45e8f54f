//! `devdb reset` with snapshots, `devdb generate`, and restoring saved copies, on real Postgres.

use crate::common;

use common::{column, connect, StagePair, TestProject};

fn reset_json(project: &TestProject, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["reset", "--json"];
    args.extend_from_slice(extra);
    serde_json::from_str(&project.devdb(&args).ok().stdout).expect("reset --json")
}

fn applied(report: &serde_json::Value) -> Vec<String> {
    report["applied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// The schema after `reset`, and after a plain from-scratch `migrate reset` (no snapshots).
async fn schema_now(project: &TestProject) -> String {
    devdb::generate::schema_sql(&connect(project).await)
        .await
        .unwrap()
}

async fn schema_from_scratch(project: &TestProject) -> String {
    project.devdb(&["migrate", "reset", "--yes"]).ok();
    schema_now(project).await
}

fn migration_names(project: &TestProject) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(project.path().join("migrations"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn snapshots_apply_only_what_changed_and_never_hide_a_change() {
    let project = TestProject::with_database("snapshots", "");
    let total = project.copy_corpus();
    let names = migration_names(&project);

    let first = reset_json(&project, &[]);
    assert_eq!(first["from_snapshot"], 0);
    assert_eq!(applied(&first).len(), total);
    let scratch = schema_now(&project).await;

    let unchanged = reset_json(&project, &[]);
    assert_eq!(unchanged["from_snapshot"], total);
    assert!(
        applied(&unchanged).is_empty(),
        "nothing changed, nothing applied"
    );
    assert_eq!(schema_now(&project).await, scratch);

    // Editing the last migration re-applies just it. The background job of the last reset
    // re-reads the migrations: let it finish first, or it may snapshot the edit before the
    // reset below (correct, but then that reset applies nothing and proves nothing).
    project.devdb(&["internal-prepare-spares", "--wait"]).ok();
    let last = project
        .path()
        .join("migrations")
        .join(&names[total - 1])
        .join("migration.sql");
    let mut text = std::fs::read_to_string(&last).unwrap();
    text.push_str("\nCREATE TABLE edited_last (id int);\n");
    std::fs::write(&last, text).unwrap();
    let edited = reset_json(&project, &[]);
    assert_eq!(applied(&edited), [names[total - 1].clone()]);
    let after_edit = schema_now(&project).await;
    // The corpus makes schema `app`, first in the app user's search_path.
    assert!(
        after_edit.contains("CREATE TABLE app.edited_last"),
        "the edit must show"
    );
    assert_eq!(after_edit, schema_from_scratch(&project).await);

    // Editing migration k re-applies from k on (from the checkpoint before it: a few more).
    // Checkpoints are the background job's work: wait until it is done.
    project.devdb(&["internal-prepare-spares", "--wait"]).ok();
    let every = devdb::workflow::snapshot::CHECKPOINT_EVERY;
    let k = every + 5;
    let middle = project
        .path()
        .join("migrations")
        .join(&names[k - 1])
        .join("migration.sql");
    let mut text = std::fs::read_to_string(&middle).unwrap();
    text.push_str("\nCREATE TABLE edited_middle (id int);\n");
    std::fs::write(&middle, text).unwrap();
    let edited = reset_json(&project, &[]);
    let restored = edited["from_snapshot"].as_u64().unwrap() as usize;
    assert!(
        restored < k && restored >= k - 10,
        "restored {restored} migrations for an edit at {k}"
    );
    assert_eq!(applied(&edited), names[restored..].to_vec());
    let after_edit = schema_now(&project).await;
    assert!(after_edit.contains("CREATE TABLE app.edited_middle"));
    assert_eq!(after_edit, schema_from_scratch(&project).await);

    // Adding one applies just it (once the job, which would snapshot it first, is done).
    project.devdb(&["internal-prepare-spares", "--wait"]).ok();
    project.write_migration(
        "20991231000000_added",
        "CREATE TABLE added_later (id int);\n",
    );
    let added = reset_json(&project, &[]);
    assert_eq!(applied(&added), ["20991231000000_added"]);
    assert_eq!(added["from_snapshot"], total);
    assert_eq!(
        schema_now(&project).await,
        schema_from_scratch(&project).await
    );

    let list = project.devdb(&["snapshot", "list", "--json"]).ok();
    let snapshots: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    assert!(!snapshots.as_array().unwrap().is_empty());
    project.devdb(&["snapshot", "prune", "--all"]).ok();
    let list = project.devdb(&["snapshot", "list", "--json"]).ok();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&list.stdout).unwrap(),
        serde_json::json!([])
    );
}

const FIXTURE: &[(&str, &str)] = &[
    ("20240101000000_types", "CREATE TYPE mood AS ENUM ('happy', 'sad', 'meh');\n"),
    (
        "20240102000000_people",
        "CREATE TABLE people (\n  id bigserial PRIMARY KEY,\n  email varchar(120) NOT NULL UNIQUE,\n  mood mood NOT NULL DEFAULT 'meh',\n  \
         born date,\n  score numeric(5,2),\n  tags text[] NOT NULL DEFAULT '{}',\n  profile jsonb,\n  created_at timestamptz NOT NULL DEFAULT now()\n);\n",
    ),
    (
        "20240103000000_posts",
        "CREATE TABLE posts (\n  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),\n  author_id bigint NOT NULL REFERENCES people (id) ON DELETE CASCADE,\n  \
         editor_id bigint REFERENCES people (id),\n  title text NOT NULL,\n  published boolean NOT NULL DEFAULT false\n);\n\
         CREATE INDEX posts_author_id_idx ON posts (author_id);\n",
    ),
    (
        "20240104000000_view",
        "CREATE FUNCTION shout(t text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT upper(t) $$;\n\
         CREATE VIEW loud_titles AS SELECT id, shout(title) AS title FROM posts;\n",
    ),
];

fn generator_yaml(extra: &str) -> String {
    format!(
        "  generate:\n    - {{ kind: schema-sql, output: ../generated/schema.sql }}\n    \
         - {{ kind: typescript, output: ../generated/db.ts }}\n    \
         - {{ kind: prisma, schema: ../prisma/schema.prisma }}\n{extra}"
    )
}

#[tokio::test]
async fn generators_match_golden_files_and_are_deterministic() {
    let project = TestProject::new("generate");
    project.write_compose(&project.database_yaml(
        &common::postgres_image(),
        "\"5432\"",
        "",
        &generator_yaml(""),
    ));
    for (name, sql) in FIXTURE {
        project.write_migration(name, sql);
    }
    std::fs::create_dir_all(project.path().join("prisma")).unwrap();
    std::fs::write(
        project.path().join("prisma/schema.prisma"),
        "generator client {\n  provider        = \"prisma-client-js\"\n  previewFeatures = [\"views\"]\n}\n\n\
         datasource db {\n  provider = \"postgresql\"\n  url      = env(\"DATABASE_URL\")\n}\n\nmodel stale {\n  id Int @id\n}\n",
    )
    .unwrap();
    project.devdb(&["migrate", "deploy"]).ok();
    let run = project.devdb(&["generate", "--json"]).ok();
    let outcomes: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(
        outcomes
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["changed"] == true),
        "{outcomes}"
    );

    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    for (written, expected) in [
        ("generated/schema.sql", "schema.sql"),
        ("generated/db.ts", "db.ts"),
        ("prisma/schema.prisma", "schema.prisma"),
    ] {
        let actual = std::fs::read_to_string(project.path().join(written)).unwrap();
        if std::env::var_os("DEVDB_BLESS").is_some() {
            std::fs::write(golden.join(expected), &actual).unwrap();
        }
        assert_eq!(
            actual,
            std::fs::read_to_string(golden.join(expected)).unwrap(),
            "{written} differs from tests/golden/{expected} (DEVDB_BLESS=1 rewrites it)"
        );
    }
    // A second run changes nothing, byte for byte.
    let again: serde_json::Value =
        serde_json::from_str(&project.devdb(&["generate", "--json"]).ok().stdout).unwrap();
    assert!(
        again
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["changed"] == false),
        "{again}"
    );

    // The same schema built in another order gives the same schema-sql.
    let client = connect(&project).await;
    client
        .batch_execute("CREATE DATABASE other_order")
        .await
        .unwrap();
    let url = format!(
        "{}/other_order",
        project
            .devdb(&["url"])
            .ok()
            .stdout
            .trim()
            .strip_suffix("/app")
            .unwrap()
    );
    let (other, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    // Columns added one by one, the enum after the table, the function with the posts table.
    other
        .batch_execute(
            "CREATE TABLE people (id bigserial PRIMARY KEY);
             CREATE TYPE mood AS ENUM ('happy', 'sad', 'meh');
             ALTER TABLE people ADD COLUMN email varchar(120) NOT NULL UNIQUE;
             ALTER TABLE people ADD COLUMN mood mood NOT NULL DEFAULT 'meh', ADD COLUMN born date;
             ALTER TABLE people ADD COLUMN score numeric(5,2), ADD COLUMN tags text[] NOT NULL DEFAULT '{}';
             ALTER TABLE people ADD COLUMN profile jsonb, ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();
             CREATE FUNCTION shout(t text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT upper(t) $$;",
        )
        .await
        .unwrap();
    other.batch_execute(FIXTURE[2].1).await.unwrap();
    other
        .batch_execute("CREATE VIEW loud_titles AS SELECT id, shout(title) AS title FROM posts;")
        .await
        .unwrap();
    let mine = devdb::generate::schema_sql(&client).await.unwrap();
    assert_eq!(devdb::generate::schema_sql(&other).await.unwrap(), mine);
}

#[tokio::test]
async fn a_missing_external_generator_is_named() {
    let project = TestProject::new("extgen");
    let generators = "  generate:\n    - { kind: command, run: [sh, -c, 'echo \"$$DATABASE_URL\" > url.txt'] }\n    - { kind: command, run: [devdb-no-such-generator, build] }\n";
    project.write_compose(&project.database_yaml(
        &common::postgres_image(),
        "\"5432\"",
        "",
        generators,
    ));
    let run = project.devdb(&["generate"]).fails();
    assert!(run.stderr.contains("generator #2 (`command: devdb-no-such-generator build`): `devdb-no-such-generator` is not installed"), "{}", run.stderr);
    let url = std::fs::read_to_string(project.path().join("url.txt")).unwrap();
    assert!(
        url.starts_with("postgres://app:"),
        "the first generator ran with DATABASE_URL: {url}"
    );
}

#[tokio::test]
async fn reset_restores_saved_copies_without_the_stage_and_refuses_stages() {
    let pair = StagePair::new(
        "resetdata",
        "CREATE TABLE items (id serial PRIMARY KEY, name text); INSERT INTO items (name) SELECT 'i' || g FROM generate_series(1, 1000) g;",
        "",
        "",
    )
    .await;
    pair.local.write_migration(
        "20240101000000_items",
        "CREATE TABLE items (id serial PRIMARY KEY, name text);\n",
    );
    pair.local.devdb(&["migrate", "deploy"]).ok();
    pair.local
        .devdb(&["copy", "items", "--from", "CODE", "--save"])
        .ok();
    assert!(pair.local.path().join(".devdb/.gitignore").exists());
    pair.remote.devdb(&["down"]).ok(); // the stage is gone: the reset must not need it

    let report = reset_json(&pair.local, &[]);
    let data = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "data")
        .unwrap()
        .clone();
    assert!(
        data["detail"]
            .as_str()
            .unwrap()
            .contains("restored 1 saved tables (1000 rows)"),
        "{data}"
    );
    let client = connect(&pair.local).await;
    assert_eq!(
        column(&client, "SELECT count(*) FROM items").await,
        ["1000"]
    );
    assert_eq!(
        column(
            &client,
            "INSERT INTO items (name) VALUES ('new') RETURNING id"
        )
        .await,
        ["1001"]
    );

    let no_data = reset_json(&pair.local, &["--no-data"]);
    assert!(no_data["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["name"] != "data"));
    assert_eq!(
        column(&connect(&pair.local).await, "SELECT count(*) FROM items").await,
        ["0"]
    );

    // --recopy fetches the saved tables again from the stage (which changed meanwhile).
    pair.remote.devdb(&["up"]).ok();
    // A restarted container gets a new random host port: point the stage at it.
    let new_url = pair.remote.devdb(&["url"]).ok().stdout.trim().to_string();
    let yaml = std::fs::read_to_string(pair.local.compose_path())
        .unwrap()
        .replace(&pair.remote_url, &new_url);
    pair.local.write_compose(&yaml);
    connect(&pair.remote)
        .await
        .batch_execute("INSERT INTO items (name) VALUES ('fresh')")
        .await
        .unwrap();
    let recopied = reset_json(&pair.local, &["--recopy", "CODE"]);
    let data = recopied["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "data")
        .unwrap()
        .clone();
    assert!(
        data["detail"]
            .as_str()
            .unwrap()
            .contains("copied 1 tables (1001 rows) again from CODE"),
        "{data}"
    );

    let refused = pair.local.devdb(&["reset", "--stage", "CODE"]).fails();
    assert!(
        refused.stderr.contains("never touches a stage"),
        "{}",
        refused.stderr
    );
}
