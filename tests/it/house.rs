//! The house rules every command follows: exit codes as ripgrep (0 ok, 1 not up to date, 2 error),
//! errors as `{"error": {"message", "hint"}}` under `--json`, and `--quiet` meaning quiet.

use crate::common;

use common::TestProject;

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

/// The documented `--json` shapes (README, "Output, exit codes and JSON"), written down here
/// apart from the types devdb serializes, so a changed shape fails this test.
#[allow(dead_code)] // Fields are read by serde: they are the shape.
mod json {
    use serde::Deserialize;

    /// `devdb up --json`.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Up {
        pub project: String,
        pub services: Vec<UpService>,
        pub database: String,
        pub database_created: bool,
        /// Password redacted.
        pub url: String,
        /// False when everything already ran (nothing was pulled, built, created or started).
        pub changed: bool,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct UpService {
        pub service: String,
        pub container: String,
        /// `unchanged`, `started`, `created` or `recreated`.
        pub state: String,
        pub image: String,
    }

    /// `devdb status --json`: one row per service.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ServiceRow {
        pub service: String,
        pub container: String,
        /// `missing` when no container exists, else Docker's state (`running`, `exited`, ...).
        pub state: String,
        pub health: Option<String>,
        pub port: Option<u16>,
        pub image: Option<String>,
    }

    /// `devdb migrate deploy --json`.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Deploy {
        pub stage: String,
        /// Where it points, password redacted.
        pub target: String,
        pub applied: Vec<AppliedMigration>,
    }

    /// `devdb migrate deploy --stage S --json` without `--confirm`: the plan, nothing changed.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct DeployPlan {
        pub stage: String,
        pub target: String,
        /// Always false: a plan changes nothing.
        pub changed: bool,
        /// Pending migrations `--confirm` would apply, in order.
        pub apply: Vec<String>,
        pub modified: Vec<String>,
        pub failed: Vec<String>,
        pub missing_on_disk: Vec<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct AppliedMigration {
        pub name: String,
        pub milliseconds: u64,
        pub in_transaction: bool,
    }

    /// `devdb migrate status --json`.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct MigrateStatus {
        pub stage: String,
        pub target: String,
        pub up_to_date: bool,
        pub migrations: Vec<MigrationState>,
        pub missing_on_disk: Vec<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct MigrationState {
        pub name: String,
        /// `applied`, `pending`, `failed` or `rolled_back`.
        pub state: String,
        pub modified: bool,
        pub checksum: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub logs: Option<String>,
    }

    /// `devdb reset --json`.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Reset {
        pub steps: Vec<ResetStep>,
        /// Migrations restored from a snapshot rather than applied.
        pub from_snapshot: usize,
        pub applied: Vec<String>,
        /// `ran`, `from_snapshot` or `skipped` (`--no-seed`); null without `x-devdb.seed`.
        pub seed: Option<String>,
        pub total_milliseconds: u64,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ResetStep {
        pub name: String,
        pub milliseconds: u64,
        pub detail: String,
    }

    /// Any command's error under `--json` (on stdout; the exit code is 2).
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Error {
        pub error: ErrorBody,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ErrorBody {
        pub message: String,
        /// The next step, when devdb knows one.
        pub hint: Option<String>,
    }
}

/// A hint composed at run time (a config check, Postgres's own HINT) is the error's `hint`
/// under `--json`, and the message no longer carries it.
#[tokio::test]
async fn json_errors_carry_run_time_hints_apart_from_the_message() {
    let project = TestProject::new("hintcfg");
    project.write_compose("services:\n  postgres:\n    image: postgres:16\n");
    let run = project.devdb(&["up", "--json"]);
    assert_eq!(code(&run), Some(2), "{}", run.stderr);
    let error: json::Error = parse(&run.stdout);
    assert!(
        error.error.message.contains("publishes no port"),
        "{error:?}"
    );
    let hint = error.error.hint.clone().expect("a hint");
    assert!(
        hint.contains("ports: [\"127.0.0.1:5432:5432\"]"),
        "{error:?}"
    );
    assert!(
        !error.error.message.contains("hint") && !error.error.message.contains("ports: ["),
        "{error:?}"
    );

    let pair = common::StagePair::new(
        "hintpg",
        "CREATE TABLE people (id int PRIMARY KEY); INSERT INTO people VALUES (1);",
        "CREATE TABLE people (id int PRIMARY KEY);",
        "",
    )
    .await;
    let run = pair.local.devdb(&[
        "copy",
        "people",
        "--from",
        "CODE",
        "--where",
        "people:no_such_function(id)",
        "--json",
    ]);
    assert_eq!(code(&run), Some(2), "{}", run.stderr);
    let error: json::Error = parse(&run.stdout);
    assert!(
        error.error.message.contains("no_such_function"),
        "{error:?}"
    );
    // Postgres: "No function matches the given name and argument types. ..."
    let hint = error.error.hint.clone().expect("Postgres's hint");
    assert!(hint.contains("No function matches"), "{error:?}");
    assert!(
        !error.error.message.contains("No function matches"),
        "{error:?}"
    );
    assert!(!error.error.message.contains("hint"), "{error:?}");
}
