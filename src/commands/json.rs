//! The shapes of `--json` output, one struct per command, so scripts (and the tests) can rely on
//! them: every duration is in milliseconds, every error is `{"error": {"message", "hint"}}`.
//! The README's "Output, exit codes and JSON" section documents them.

use serde::{Deserialize, Serialize};

/// `devdb lint --json`: one per finding.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LintFinding {
    pub rule: String,
    /// `error` or `warning`.
    pub severity: String,
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// `devdb up --json`.
#[derive(Debug, Serialize, Deserialize)]
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

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpService {
    pub service: String,
    pub container: String,
    /// `unchanged`, `started`, `created` or `recreated`.
    pub state: String,
    pub image: String,
}

/// `devdb status --json`: one row per service.
#[derive(Debug, Serialize, Deserialize)]
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
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deploy {
    pub stage: String,
    /// Where it points, password redacted.
    pub target: String,
    pub applied: Vec<AppliedMigration>,
}

/// `devdb migrate deploy --stage S --json` without `--confirm`: the plan, nothing changed.
#[derive(Debug, Serialize, Deserialize)]
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

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppliedMigration {
    pub name: String,
    pub milliseconds: u64,
    pub in_transaction: bool,
}

/// `devdb migrate status --json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrateStatus {
    pub stage: String,
    pub target: String,
    pub up_to_date: bool,
    pub migrations: Vec<MigrationState>,
    pub missing_on_disk: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
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
#[derive(Debug, Serialize, Deserialize)]
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

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetStep {
    pub name: String,
    pub milliseconds: u64,
    pub detail: String,
}

/// Any command's error under `--json` (on stdout; the exit code is 2).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Error {
    pub error: ErrorBody,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    pub message: String,
    /// The next step, when devdb knows one.
    pub hint: Option<String>,
}

/// A lowercase snake_case name for an enum that serializes as a string.
pub fn variant_name(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

/// Milliseconds as JSON carries them (u64; a run is never 584 million years long).
pub fn millis(value: u128) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}
