//! `devdb lint` on real Postgres: a failing and a passing fixture for every rule, the opt-out
//! comment, and a stage that has a table the local database lacks (lint names the
//! `fix-missing` command before deploy fails), plus lint's part in `migrate deploy --stage`.

use crate::common;

use common::{StagePair, TestProject};

const BASE: &str = "CREATE TYPE mood AS ENUM ('sad', 'ok');
CREATE TABLE users (id int PRIMARY KEY, email varchar(100), name text, mood mood);
CREATE TABLE orders (id int PRIMARY KEY, user_id int, total numeric(10,2), code varchar(10), note text);
CREATE VIEW user_emails AS SELECT id, email FROM users;
CREATE FUNCTION order_count(u int) RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM orders WHERE user_id = u $$;
CREATE FUNCTION touch_notes() RETURNS void LANGUAGE plpgsql AS $$ BEGIN UPDATE orders SET note = 'x'; END $$;
CREATE INDEX orders_code_idx ON orders (code);
CREATE TABLE nokey (n int);
";

const FIXTURE: &str = "20990101000000_fixture";

/// (rule, failing SQL, the line the finding names, passing SQL)
const FIXTURES: &[(&str, &str, usize, &str)] = &[
    (
        "dependencies",
        "SET lock_timeout = '5s';\nCREATE VIEW v AS SELECT * FROM no_such_table;",
        2,
        "CREATE TABLE t (id int);\nCREATE VIEW v AS SELECT * FROM t;",
    ),
    (
        "dependencies",
        "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n  RETURN helper_missing(1);\nEND $$;",
        3,
        "CREATE FUNCTION helper(x int) RETURNS int LANGUAGE sql AS $$ SELECT x $$;\n\
         CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n  RETURN helper(1);\nEND $$;",
    ),
    (
        "dependencies",
        "CREATE TABLE t (id int,\n  m no_such_type);",
        2,
        "CREATE TYPE kind AS ENUM ('a');\nCREATE TABLE t (id int, m kind);",
    ),
    (
        "dependencies",
        "SET lock_timeout = '5s';\n-- devdb:allow drop-or-rename\nDROP TABLE orders;",
        3,
        "SET lock_timeout = '5s';\nDROP FUNCTION order_count(int);\nDROP FUNCTION touch_notes();\n\
         -- devdb:allow drop-or-rename\nDROP TABLE orders;",
    ),
    (
        "dependencies",
        "SET lock_timeout = '5s';\n-- devdb:allow drop-or-rename\nALTER TABLE users DROP COLUMN email;",
        3,
        "SET lock_timeout = '5s';\n-- devdb:allow drop-or-rename\nALTER TABLE users DROP COLUMN name;",
    ),
    (
        "not-null-without-default",
        "SET lock_timeout = '5s';\nALTER TABLE users ADD COLUMN age int NOT NULL;",
        2,
        "SET lock_timeout = '5s';\nALTER TABLE users ADD COLUMN age int NOT NULL DEFAULT 0;\n\
         CREATE TABLE fresh (id int);\nALTER TABLE fresh ADD COLUMN age int NOT NULL;",
    ),
    (
        "index-without-concurrently",
        "CREATE INDEX users_email_idx ON users (email);",
        1,
        "CREATE INDEX CONCURRENTLY users_email_idx ON users (email);\n\
         CREATE TABLE fresh (id int);\nCREATE INDEX fresh_id ON fresh (id);",
    ),
    (
        "rewriting-type-change",
        "SET lock_timeout = '5s';\nALTER TABLE orders ALTER COLUMN total TYPE numeric(12,3);",
        2,
        "SET lock_timeout = '5s';\nALTER TABLE orders ALTER COLUMN code TYPE varchar(20);",
    ),
    (
        "foreign-key-without-not-valid",
        "SET lock_timeout = '5s';\n\
         ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id);",
        2,
        "SET lock_timeout = '5s';\n\
         ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;",
    ),
    (
        "check-without-not-valid",
        "SET lock_timeout = '5s';\nALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0);",
        2,
        "SET lock_timeout = '5s';\nALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0) NOT VALID;",
    ),
    (
        "drop-column",
        "SET lock_timeout = '5s';\nALTER TABLE users DROP COLUMN name;",
        2,
        "CREATE TABLE scratch (id int);\nALTER TABLE scratch RENAME TO scratch2;\nDROP TABLE scratch2;",
    ),
    (
        "rename-table",
        "SET lock_timeout = '5s';\nALTER TABLE users RENAME TO people;",
        2,
        "SET lock_timeout = '5s';\n-- devdb:allow drop-or-rename\nALTER TABLE users RENAME TO people;",
    ),
    (
        "enum-value-in-transaction",
        "ALTER TYPE mood ADD VALUE 'happy';\nUPDATE users SET mood = 'happy';",
        2,
        "ALTER TYPE mood ADD VALUE 'happy';",
    ),
    (
        "enum-value-in-transaction",
        "BEGIN;\nALTER TYPE mood ADD VALUE 'happy';\nINSERT INTO users (id, mood) VALUES (9, 'happy');\nCOMMIT;",
        3,
        "BEGIN;\nALTER TYPE mood ADD VALUE 'happy';\nCOMMIT;\nINSERT INTO users (id, mood) VALUES (9, 'ok');",
    ),
    (
        "set-not-null",
        "SET lock_timeout = '5s';\nALTER TABLE users ALTER COLUMN email SET NOT NULL;",
        2,
        "SET lock_timeout = '5s';\nALTER TABLE users ADD CONSTRAINT email_nn CHECK (email IS NOT NULL) NOT VALID;\n\
         ALTER TABLE users VALIDATE CONSTRAINT email_nn;\nALTER TABLE users ALTER COLUMN email SET NOT NULL;",
    ),
    (
        "volatile-default",
        "SET lock_timeout = '5s';\nALTER TABLE users ADD COLUMN seen timestamptz DEFAULT clock_timestamp();",
        2,
        "SET lock_timeout = '5s';\nALTER TABLE users ADD COLUMN seen timestamptz DEFAULT now();",
    ),
    (
        "unique-without-index",
        "SET lock_timeout = '5s';\nALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);",
        2,
        "SET lock_timeout = '5s';\nCREATE TABLE fresh (id int, code text);\nALTER TABLE fresh ADD UNIQUE (code);",
    ),
    (
        "drop-index-without-concurrently",
        "SET lock_timeout = '5s';\nDROP INDEX orders_code_idx;",
        2,
        "DROP INDEX CONCURRENTLY orders_code_idx;",
    ),
    (
        "integer-primary-key",
        "SET lock_timeout = '5s';\nALTER TABLE nokey ADD COLUMN id serial PRIMARY KEY;",
        2,
        "SET lock_timeout = '5s';\nALTER TABLE nokey ADD COLUMN note text;",
    ),
    (
        "non-transactional-in-transaction",
        "BEGIN;\nCREATE INDEX CONCURRENTLY users_name_idx ON users (name);\nCOMMIT;",
        2,
        "CREATE INDEX CONCURRENTLY users_name_idx ON users (name);",
    ),
    (
        "drop-table",
        "SET lock_timeout = '5s';\nDROP TABLE nokey;",
        2,
        "CREATE TABLE scratch (id int);\nDROP TABLE scratch;",
    ),
    (
        "rename-column",
        "SET lock_timeout = '5s';\nALTER TABLE users RENAME COLUMN name TO full_name;",
        2,
        "CREATE TABLE scratch (id int);\nALTER TABLE scratch RENAME COLUMN id TO key;",
    ),
    (
        "dependencies",
        "SET lock_timeout = '5s';\n-- devdb:allow drop-column\nALTER TABLE users DROP COLUMN name;\n\
         CREATE INDEX CONCURRENTLY users_name_idx ON users (name);",
        4,
        "SET lock_timeout = '5s';\n-- devdb:allow drop-column\nALTER TABLE users DROP COLUMN name;\n\
         ALTER TABLE users ADD COLUMN name text;\nUPDATE users SET name = 'x';",
    ),
    (
        "dependencies",
        "SET lock_timeout = '5s';\n-- devdb:allow rename-column\nALTER TABLE users RENAME COLUMN name TO full_name;\n\
         INSERT INTO users (id, name) VALUES (1, 'x');",
        4,
        "SET lock_timeout = '5s';\n-- devdb:allow rename-column\nALTER TABLE users RENAME COLUMN name TO full_name;\n\
         INSERT INTO users (id, full_name) VALUES (1, 'x');",
    ),
    (
        "dependencies",
        "SET lock_timeout = '5s';\n-- devdb:allow drop-table\nDROP TABLE nokey;\nINSERT INTO nokey VALUES (1);",
        4,
        "SET lock_timeout = '5s';\n-- devdb:allow drop-table\nDROP TABLE nokey;\nCREATE TABLE nokey (n int);\nINSERT INTO nokey VALUES (1);",
    ),
    (
        "lock-timeout",
        "\nALTER TABLE users ADD COLUMN nickname text;",
        2,
        "SET lock_timeout = '5s';\nALTER TABLE users ADD COLUMN nickname text;",
    ),
];

fn lint_json(project: &TestProject, args: &[&str]) -> (i32, Vec<serde_json::Value>) {
    let mut all = vec!["lint", "--json"];
    all.extend_from_slice(args);
    let run = project.devdb(&all);
    let code = run.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 1,
        "lint errored ({code}): {}",
        run.stderr
    );
    let findings: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("lint --json: {e}\n{}\n{}", run.stdout, run.stderr));
    (code, findings.as_array().unwrap().clone())
}

fn with_fixture(project: &TestProject, sql: &str) -> (i32, Vec<serde_json::Value>) {
    project.write_migration(FIXTURE, sql);
    let outcome = lint_json(project, &[]);
    std::fs::remove_dir_all(project.path().join("migrations").join(FIXTURE)).unwrap();
    outcome
}

#[test]
fn every_rule_has_a_failing_and_a_passing_fixture() {
    let project = TestProject::with_database("lint-rules", "");
    project.write_migration("20240101000000_base", BASE);
    project.devdb(&["migrate", "deploy"]).ok();
    assert_eq!(lint_json(&project, &[]), (0, Vec::new()), "nothing pending");

    for (rule, failing, line, passing) in FIXTURES {
        let (code, findings) = with_fixture(&project, failing);
        assert_eq!(code, 1, "{rule} should fail:\n{failing}\n{findings:#?}");
        let found = findings
            .iter()
            .find(|f| f["rule"] == *rule)
            .unwrap_or_else(|| panic!("no {rule} finding for:\n{failing}\n{findings:#?}"));
        assert_eq!(found["line"], *line, "{rule}: {found}");
        assert!(
            found["file"]
                .as_str()
                .unwrap()
                .ends_with(&format!("migrations/{FIXTURE}/migration.sql")),
            "{found}"
        );
        assert!(
            found["message"].as_str().unwrap().contains("fix:"),
            "{found}"
        );
        assert!(matches!(
            found["severity"].as_str(),
            Some("error" | "warning")
        ));

        let (code, findings) = with_fixture(&project, passing);
        assert_eq!(
            (code, findings.clone()),
            (0, Vec::new()),
            "{rule} should pass:\n{passing}\n{findings:#?}"
        );
    }

    // The opt-out comment silences just the rule it names.
    let (code, findings) = with_fixture(
        &project,
        "-- devdb:allow index-without-concurrently\nCREATE INDEX users_email_idx ON users (email);",
    );
    assert_eq!((code, findings.len()), (0, 0), "{findings:#?}");
    let (_, findings) = with_fixture(
        &project,
        "-- devdb:allow lock-timeout\nCREATE INDEX users_email_idx ON users (email);",
    );
    assert_eq!(findings[0]["rule"], "index-without-concurrently");

    // The human output reads like a compiler's.
    project.write_migration(FIXTURE, "CREATE INDEX users_email_idx ON users (email);");
    let run = project.devdb(&["lint"]);
    assert_eq!(run.status.code(), Some(1));
    assert!(
        run.stdout.contains(&format!(
            "migrations/{FIXTURE}/migration.sql:1: warning [index-without-concurrently]"
        )),
        "{}",
        run.stdout
    );
}

#[test]
fn the_corpus_lints_without_dependency_errors() {
    let project = TestProject::with_database("lint-corpus", "");
    let count = project.copy_corpus();
    let (_, findings) = lint_json(&project, &[]);
    let errors: Vec<_> = findings
        .iter()
        .filter(|f| f["severity"] == "error" || f["rule"] == "dependencies")
        .collect();
    assert!(errors.is_empty(), "{count} migrations: {errors:#?}");
    // Nothing exists before them, so the live-stage rules stay quiet; the corpus does use a
    // new enum value in the migration that adds it (devdb runs that one statement by statement).
    let rules: Vec<&str> = findings
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["enum-value-in-transaction"], "{findings:#?}");
}

#[tokio::test]
async fn lint_names_fix_missing_for_a_table_only_the_stage_has() {
    let pair = StagePair::new(
        "lint-stage",
        "CREATE TABLE legacy_prices (id int PRIMARY KEY, price numeric);\n\
         INSERT INTO legacy_prices VALUES (1, 9.5);\n\
         CREATE TABLE customers (id int PRIMARY KEY);\nINSERT INTO customers VALUES (1);",
        "",
        "",
    )
    .await;
    let local = &pair.local;
    // The stage is baselined on a first migration, so the others are pending there.
    local.write_migration("20240101000000_base", "CREATE TABLE things (id int);\n");
    local
        .devdb(&[
            "migrate",
            "resolve",
            "--applied",
            "20240101000000_base",
            "--stage",
            "CODE",
            "--confirm",
        ])
        .ok();
    local.write_migration(
        "20250101000000_priced",
        "CREATE FUNCTION price_of(p int) RETURNS numeric LANGUAGE sql AS $$\n  \
         SELECT price FROM legacy_prices WHERE id = p\n$$;\n\
         CREATE VIEW priced AS SELECT price_of(1) AS price;\n",
    );

    // Against the stage: the table exists there, so lint names the command that copies it.
    let (code, findings) = lint_json(local, &["--stage", "CODE"]);
    assert_eq!(code, 1);
    let missing = findings
        .iter()
        .find(|f| f["rule"] == "dependencies")
        .expect("a dependencies finding");
    assert_eq!(
        missing["line"], 2,
        "the body line naming legacy_prices: {missing}"
    );
    let message = missing["message"].as_str().unwrap();
    assert!(
        message.contains("devdb fix-missing legacy_prices --from CODE")
            && message.contains("price_of"),
        "{message}"
    );

    // Locally only: it exists nowhere devdb can see, an error.
    let (_, findings) = lint_json(local, &[]);
    assert!(
        findings
            .iter()
            .any(|f| f["rule"] == "dependencies" && f["severity"] == "error"),
        "{findings:#?}"
    );

    // And deploy indeed fails as lint said it would.
    let run = local.devdb(&["migrate", "deploy"]).fails();
    assert!(
        run.stderr
            .contains("relation \"legacy_prices\" does not exist"),
        "{}",
        run.stderr
    );

    // The stage deploy's plan carries the findings.
    let plan = local.devdb(&["migrate", "deploy", "--stage", "CODE"]).ok();
    assert!(
        plan.stdout
            .contains("devdb fix-missing legacy_prices --from CODE"),
        "{}",
        plan.stdout
    );

    // An error finding for the stage stops --confirm, unless allowed by rule.
    local.write_migration(
        "20250102000000_tier",
        "SET lock_timeout = '5s';\nALTER TABLE customers ADD COLUMN tier text NOT NULL;\n",
    );
    let refused = local
        .devdb(&["migrate", "deploy", "--stage", "CODE", "--confirm"])
        .fails();
    assert!(
        refused.stderr.contains("not-null-without-default")
            && refused
                .stderr
                .contains("--allow-lint not-null-without-default")
            && refused.stderr.contains("nothing was changed"),
        "{}",
        refused.stderr
    );
    let functions_on_stage = || async {
        common::column(
            &common::connect(&pair.remote).await,
            "SELECT count(*) FROM pg_proc WHERE proname = 'price_of'",
        )
        .await
    };
    assert_eq!(
        functions_on_stage().await,
        ["0"],
        "nothing may reach the stage"
    );
    // Allowed, deploy runs, and the stage's row makes the migration fail just as lint warned.
    let forced = local.devdb(&[
        "migrate",
        "deploy",
        "--stage",
        "CODE",
        "--confirm",
        "--allow-lint",
        "not-null-without-default",
    ]);
    let forced = forced.fails();
    assert!(forced.stderr.contains("23502"), "{}", forced.stderr);
    assert_eq!(
        functions_on_stage().await,
        ["1"],
        "the first migration was deployed"
    );

    let run = local.devdb(&["lint", "--stage", "CODE", "--json"]);
    assert_eq!(run.status.code(), Some(1));
    let unknown = local
        .devdb(&[
            "migrate",
            "deploy",
            "--stage",
            "CODE",
            "--allow-lint",
            "no-such-rule",
        ])
        .fails();
    assert!(
        unknown.stderr.contains("unknown lint rule"),
        "{}",
        unknown.stderr
    );
}

/// The lint corpus (tests/fixtures/lint-corpus): 15 classic unsafe migrations, each flagged by
/// the specific rule its `-- expect:` line names, and a safe one flagged by nothing (and
/// deployable, so "safe" is checked against Postgres too).
#[test]
fn the_hazard_corpus_is_flagged_by_specific_rules() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lint-corpus");
    let project = TestProject::with_database("lint-hazards", "");
    let base = std::fs::read_to_string(dir.join("base.sql")).unwrap();
    project.write_migration("20240101000000_base", &base);
    project.devdb(&["migrate", "deploy"]).ok();
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "base.sql")
        .collect();
    cases.sort();
    assert_eq!(cases.len(), 16, "{cases:?}");
    let mut flagged = 0;
    for case in &cases {
        let sql = std::fs::read_to_string(case).unwrap();
        let expect = sql
            .lines()
            .find_map(|l| l.strip_prefix("-- expect: "))
            .expect("an expect line");
        let (code, findings) = with_fixture(&project, &sql);
        if expect == "none" {
            assert_eq!((code, findings.clone()), (0, Vec::new()), "{case:?}");
            continue;
        }
        let found = findings.iter().find(|f| f["rule"] == expect);
        assert!(found.is_some(), "{case:?}: no {expect}: {findings:#?}");
        let message = found.unwrap()["message"].as_str().unwrap().to_string();
        assert!(
            message.contains("lock") || message.contains("25001"),
            "{message}"
        );
        assert!(message.contains("fix:"), "{message}");
        flagged += 1;
    }
    assert_eq!(flagged, 15);
    let safe = std::fs::read_to_string(dir.join("16_safe.sql")).unwrap();
    project.write_migration("20240102000000_safe", &safe);
    project.devdb(&["migrate", "deploy"]).ok();
}

/// With `--stage`, a long lock on a table the stage holds many rows of is an error; on a small
/// one a warning; without `--stage` both are warnings.
#[tokio::test]
async fn severity_follows_the_stage_table_size() {
    let schema = "CREATE TABLE big (id int, v text);\nCREATE TABLE small (id int, v text);\n";
    let stage_rows = "INSERT INTO big SELECT g, 'x' FROM generate_series(1, 150000) g;\n\
                      INSERT INTO small SELECT g, 'x' FROM generate_series(1, 10) g;\nANALYZE big;\nANALYZE small;";
    let pair = StagePair::new("lint-size", &format!("{schema}{stage_rows}"), "", "").await;
    let local = &pair.local;
    local.write_migration("20240101000000_base", schema);
    local.devdb(&["migrate", "deploy"]).ok();
    local
        .devdb(&[
            "migrate",
            "resolve",
            "--applied",
            "20240101000000_base",
            "--stage",
            "CODE",
            "--confirm",
        ])
        .ok();
    local.write_migration(
        "20240102000000_indexes",
        "SET lock_timeout = '5s';\nCREATE INDEX big_v ON big (v);\nCREATE INDEX small_v ON small (v);\n",
    );
    let severities = |findings: &[serde_json::Value]| -> Vec<(u64, String)> {
        findings
            .iter()
            .filter(|f| f["rule"] == "index-without-concurrently")
            .map(|f| {
                (
                    f["line"].as_u64().unwrap(),
                    f["severity"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let (_, staged) = lint_json(local, &["--stage", "CODE"]);
    assert_eq!(
        severities(&staged),
        [(2, "error".to_string()), (3, "warning".to_string())],
        "{staged:#?}"
    );
    assert!(
        staged[0]["message"]
            .as_str()
            .unwrap()
            .contains("150000 rows"),
        "{staged:#?}"
    );
    let (_, local_only) = lint_json(local, &[]);
    assert_eq!(
        severities(&local_only),
        [(2, "warning".to_string()), (3, "warning".to_string())]
    );
}
