//! The house rules every command follows: exit codes as ripgrep (0 ok, 1 not up to date, 2 error),
//! errors as `{"error": {"message", "hint"}}` under `--json`, and `--quiet` meaning quiet.

use crate::common;

use common::TestProject;
use devdb::commands::json;

fn code(run: &common::Run) -> Option<i32> {
    run.status.code()
}

#[tokio::test]
async fn migrate_status_exits_0_up_to_date_1_pending_2_unreachable() {
    let project = TestProject::with_database("exitcodes", "");
    project.write_migration("20240101000000_a", "CREATE TABLE a (id int);\n");
    project.devdb(&["migrate", "deploy"]).ok();
    assert_eq!(code(&project.devdb(&["migrate", "status"])), Some(0));

    project.write_migration("20240102000000_b", "CREATE TABLE b (id int);\n");
    let pending = project.devdb(&["migrate", "status"]);
    assert_eq!(code(&pending), Some(1), "{}", pending.all());
    assert!(
        pending.stdout.contains("Not up to date."),
        "{}",
        pending.stdout
    );

    // Port 1 on loopback refuses at once: an error, not drift.
    let stages = "  stages:\n    CODE: { url_env: DEVDB_TEST_CODE_URL, sslmode: disable }\n";
    project.write_compose(&project.database_yaml(
        &common::postgres_image(),
        "\"5432\"",
        "",
        stages,
    ));
    let env = [(
        "DEVDB_TEST_CODE_URL",
        "postgres://app:pw-secret@127.0.0.1:1/app",
    )];
    let unreachable =
        project.devdb_with_env(&["migrate", "status", "--stage", "CODE", "--json"], &env);
    assert_eq!(code(&unreachable), Some(2), "{}", unreachable.all());
    let error: json::Error = parse(&unreachable.stdout);
    assert!(error.error.message.contains("CODE"), "{error:?}");
    assert!(
        !unreachable.all().contains("pw-secret"),
        "{}",
        unreachable.all()
    );
}

#[tokio::test]
async fn bad_input_exits_2_with_a_plain_error() {
    let project = TestProject::new("badinput");
    project.write_compose("services: [not, a, map]\n");
    let run = project.devdb(&["status"]);
    assert_eq!(code(&run), Some(2), "{}", run.all());
    assert!(run.stderr.starts_with("error:"), "{}", run.stderr);
}

#[tokio::test]
async fn quiet_reset_prints_nothing_on_success() {
    let project = TestProject::with_database("quiet", "");
    project.write_migration("20240101000000_a", "CREATE TABLE a (id int);\n");
    let run = project.devdb(&["--quiet", "reset"]).ok();
    assert_eq!(run.stdout, "", "stdout: {}", run.stdout);
    assert_eq!(run.stderr, "", "stderr: {}", run.stderr);
    let loud = project.devdb(&["reset"]).ok();
    assert!(loud.stderr.contains("reset done"), "{}", loud.stderr);
}

fn parse<T: serde::de::DeserializeOwned>(text: &str) -> T {
    serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("{e}: not the documented shape: {text}"))
}

#[tokio::test]
async fn json_outputs_have_the_documented_shapes() {
    let project = TestProject::with_database("jsonshape", "");
    project.write_migration("20240101000000_a", "CREATE TABLE a (id int);\n");
    let up: json::Up = parse(&project.devdb(&["up", "--json"]).ok().stdout);
    assert_eq!(up.services[0].service, "postgres");
    assert!(up.url.contains(":***@"), "{}", up.url);
    let again: json::Up = parse(&project.devdb(&["up", "--json"]).ok().stdout);
    assert!(!again.changed && again.services[0].state == "unchanged");

    let rows: Vec<json::ServiceRow> = parse(&project.devdb(&["status", "--json"]).ok().stdout);
    assert_eq!(rows[0].state, "running");
    let status = project.devdb(&["migrate", "status", "--json"]);
    assert_eq!(code(&status), Some(1));
    let status: json::MigrateStatus = parse(&status.stdout);
    assert_eq!(status.migrations[0].state, "pending");
    let deploy: json::Deploy = parse(&project.devdb(&["migrate", "deploy", "--json"]).ok().stdout);
    assert_eq!(deploy.applied[0].name, "20240101000000_a");
    let reset: json::Reset = parse(&project.devdb(&["reset", "--json"]).ok().stdout);
    assert!(reset.steps.iter().any(|s| s.name == "migrate"), "{reset:?}");

    project.write_compose("services: {}\n");
    let broken = project.devdb(&["up", "--json"]);
    assert_eq!(code(&broken), Some(2));
    let error: json::Error = parse(&broken.stdout);
    assert!(error.error.message.contains("postgres"), "{error:?}");
}
