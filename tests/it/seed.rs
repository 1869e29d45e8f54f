//! Seeds (`x-devdb.seed`) on real Postgres: baked into a snapshot so an unchanged reset never
//! runs them, re-run alone when edited, all-or-nothing when they fail, and `--no-seed`.

use crate::common;

use common::{column, connect, postgres_image, TestProject};
use devdb::workflow::spare::APPLICATION_NAME as SPARES;

const SEED: &str = "  seed:\n    \
    - sql: [seed/*.sql]\n    \
    - run: [sh, -c, \"echo run >> seed-runs.log\"]\n      \
      inputs: [seed/extra.txt]\n";

fn project(label: &str, seed_yaml: &str) -> TestProject {
    let project = TestProject::new(label);
    project.write_compose(&project.database_yaml(&postgres_image(), "\"5432\"", "", seed_yaml));
    project.write_migration(
        "20240101000000_users",
        "CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL);\n",
    );
    std::fs::create_dir_all(project.path().join("seed")).unwrap();
    project
}

fn write(project: &TestProject, file: &str, text: &str) {
    std::fs::write(project.path().join(file), text).unwrap();
}

fn reset(project: &TestProject, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["reset", "--json", "--no-generate"];
    args.extend_from_slice(extra);
    serde_json::from_str(&project.devdb(&args).ok().stdout).expect("reset --json")
}

/// How often the seed command ran: it appends a line to a file outside the database.
fn command_runs(project: &TestProject) -> usize {
    std::fs::read_to_string(project.path().join("seed-runs.log"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

async fn names(project: &TestProject) -> Vec<String> {
    column(
        &connect(project).await,
        "SELECT name FROM users ORDER BY id",
    )
    .await
}

fn step_names(report: &serde_json::Value) -> Vec<String> {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn an_unchanged_reset_restores_the_seeded_snapshot_and_an_edit_reruns_only_the_seed() {
    let project = project("seed-snapshot", SEED);
    write(
        &project,
        "seed/01_users.sql",
        "INSERT INTO users VALUES (1, 'ada'), (2, 'bob');\n",
    );
    write(&project, "seed/extra.txt", "one\n");

    let first = reset(&project, &[]);
    assert_eq!(first["seed"], "ran");
    assert_eq!(command_runs(&project), 1);
    assert_eq!(names(&project).await, ["ada", "bob"]);

    let unchanged = reset(&project, &[]);
    assert_eq!(unchanged["seed"], "from_snapshot", "{unchanged}");
    assert!(unchanged["applied"].as_array().unwrap().is_empty());
    assert!(
        !step_names(&unchanged).contains(&"seed".to_string()),
        "no seed step ran: {unchanged}"
    );
    assert_eq!(
        command_runs(&project),
        1,
        "the seed command must not run again"
    );
    assert_eq!(
        names(&project).await,
        ["ada", "bob"],
        "the seeded rows come from the snapshot"
    );

    // An edited seed file: migrations restored from their snapshot, only the seed runs. That
    // snapshot is the background job's work: wait until it is done.
    project.devdb(&["internal-prepare-spares", "--wait"]).ok();
    write(
        &project,
        "seed/01_users.sql",
        "INSERT INTO users VALUES (1, 'ada'), (2, 'bob'), (3, 'cy');\n",
    );
    let edited = reset(&project, &[]);
    assert_eq!(edited["seed"], "ran");
    assert_eq!(edited["from_snapshot"], 1);
    assert!(edited["applied"].as_array().unwrap().is_empty(), "{edited}");
    assert_eq!(command_runs(&project), 2);
    assert_eq!(names(&project).await, ["ada", "bob", "cy"]);

    // A changed `inputs:` file of the command re-runs the seed too.
    write(&project, "seed/extra.txt", "two\n");
    assert_eq!(reset(&project, &[])["seed"], "ran");
    assert_eq!(command_runs(&project), 3);
    assert_eq!(reset(&project, &[])["seed"], "from_snapshot");
    assert_eq!(command_runs(&project), 3);

    // --no-seed: the migrated database, nothing seeded, the command not run.
    let unseeded = reset(&project, &["--no-seed"]);
    assert_eq!(unseeded["seed"], "skipped");
    assert!(names(&project).await.is_empty());
    assert_eq!(command_runs(&project), 3);

    // `devdb seed` runs it alone against the current database.
    project.devdb(&["seed"]).ok();
    assert_eq!(command_runs(&project), 4);
    assert_eq!(names(&project).await, ["ada", "bob", "cy"]);
}

#[tokio::test]
async fn a_failing_seed_names_where_and_leaves_the_migrated_database() {
    let project = project("seed-broken", "  seed:\n    - sql: [seed/*.sql]\n");
    write(
        &project,
        "seed/01_ok.sql",
        "INSERT INTO users VALUES (1, 'ada');\n",
    );
    write(
        &project,
        "seed/02_bad.sql",
        "INSERT INTO users VALUES (2, 'bob');\n\nINSERT INTO users\n  VALUES (1, 'again');\n",
    );
    let run = project.devdb(&["reset", "--no-generate"]).fails();
    assert!(
        run.stderr.contains("seed/02_bad.sql:3") && run.stderr.contains("23505"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("left as migrated"), "{}", run.stderr);
    assert!(
        names(&project).await.is_empty(),
        "nothing of the seed may stay"
    );

    // A reference error inside a later statement: the line of the failing token.
    write(
        &project,
        "seed/02_bad.sql",
        "INSERT INTO users VALUES (2, 'bob');\nINSERT INTO users\n  SELECT * FROM no_such_table;\n",
    );
    let run = project.devdb(&["reset", "--no-generate"]).fails();
    assert!(run.stderr.contains("seed/02_bad.sql:3"), "{}", run.stderr);
    assert!(names(&project).await.is_empty());

    // A failing command: its exit code and last stderr lines; the SQL step before it ran on a
    // copy that was thrown away, so the database stays as migrated.
    project.write_compose(&project.database_yaml(
        &postgres_image(),
        "\"5432\"",
        "",
        "  seed:\n    - sql: [seed/01_ok.sql]\n    \
         - run: [sh, -c, \"echo starting; echo $$DATABASE_URL >&2; echo 'seed exploded' >&2; exit 3\"]\n",
    ));
    let run = project.devdb(&["reset", "--no-generate"]).fails();
    assert!(
        run.stderr.contains("exited with code 3") && run.stderr.contains("seed exploded"),
        "{}",
        run.stderr
    );
    // The command printed its DATABASE_URL: devdb shows it redacted.
    assert!(
        !run.all().contains("test-secret-pw") && run.stderr.contains(":***@127.0.0.1"),
        "{}",
        run.stderr
    );
    assert!(
        names(&project).await.is_empty(),
        "the failed copy must not replace the database"
    );
    let url = project.devdb(&["url"]).ok().stdout;
    let admin_url = format!("{}/postgres", url.trim().rsplit_once('/').unwrap().0);
    let (admin, connection) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let leftovers = column(
        &admin,
        "SELECT datname FROM pg_database WHERE datname LIKE 'devdb\\_seedtmp%'",
    )
    .await;
    assert!(leftovers.is_empty(), "working copies left: {leftovers:?}");

    // Fixed: the seed lands.
    project.write_compose(&project.database_yaml(
        &postgres_image(),
        "\"5432\"",
        "",
        "  seed:\n    - sql: [seed/01_ok.sql]\n    - run: [sh, -c, \"exit 0\"]\n",
    ));
    assert_eq!(reset(&project, &[])["seed"], "ran");
    assert_eq!(names(&project).await, ["ada"]);

    // `devdb seed` with only SQL steps logs in once to each database: up's check of the
    // maintenance database, then the seed's own session (no second maintenance session: it seeds
    // no copy), as the server's log of connections shows.
    for sql in [
        "ALTER SYSTEM SET log_connections = on",
        "SELECT pg_reload_conf()",
    ] {
        admin.batch_execute(sql).await.unwrap();
    }
    write(
        &project,
        "seed/03_more.sql",
        "INSERT INTO users VALUES (3, 'cy');\n",
    );
    project.write_compose(&project.database_yaml(
        &postgres_image(),
        "\"5432\"",
        "",
        "  seed:\n    - sql: [seed/03_more.sql]\n",
    ));
    let logins = |database: &str| {
        let log = project.devdb(&["logs"]).ok().stdout;
        log.lines()
            .filter(|l| {
                l.contains("connection authorized")
                    && l.contains(&format!("database={database} "))
                    && l.contains("application_name=devdb")
                    // The background job a reset starts logs in as "devdb spares" meanwhile.
                    && !l.contains(&format!("application_name={SPARES}"))
            })
            .count()
    };
    let before = (logins("postgres"), logins("app"));
    project.devdb(&["seed"]).ok();
    let after = (logins("postgres"), logins("app"));
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        (1, 1),
        "logins of one SQL-only seed (maintenance, app)"
    );
    assert_eq!(names(&project).await, ["ada", "cy"]);
}

#[test]
fn a_malformed_seed_step_is_refused_with_where() {
    let project = project(
        "seed-config",
        "  seed:\n    - sql: [a.sql]\n      run: [sh]\n",
    );
    let run = project.devdb(&["seed"]).fails();
    assert!(
        run.stderr.contains("x-devdb.seed[1]") && run.stderr.contains("not both"),
        "{}",
        run.stderr
    );
    let project = project_with_glob_typo();
    let run = project.devdb(&["seed"]).fails();
    assert!(run.stderr.contains("seed/*.sgl"), "{}", run.stderr);
}

fn project_with_glob_typo() -> TestProject {
    project("seed-glob", "  seed:\n    - sql: [seed/*.sgl]\n")
}
