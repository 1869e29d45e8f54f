//! devdb's own settings: the `x-devdb:` block of the Compose file. Compose ignores `x-` keys, so
//! the same file works with `docker compose`. Unknown keys here are errors: a typo must not be
//! silently ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::copy::plan::MaskRule;
use crate::generate::GeneratorSettings;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The Compose service that runs the local Postgres.
    #[serde(default = "default_service")]
    pub service: String,
    /// The database devdb creates and targets; default: the service's POSTGRES_DB.
    pub database: Option<String>,
    /// How long `up` waits for Postgres to accept connections (Compose duration, e.g. `60s`).
    pub ready_timeout: Option<String>,
    /// The migrations folder, relative to the Compose file's folder.
    pub migrations: Option<String>,
    /// The one-shot service holding pg_dump/psql for the remote's version.
    #[serde(default = "default_copy_service")]
    pub copy_service: String,
    /// Remote databases, by stage name (`CODE`, `PROD`, ...). `DEV` is the local database.
    #[serde(default)]
    pub stages: BTreeMap<String, StageSettings>,
    /// What `devdb copy` copies by default, and how.
    #[serde(default)]
    pub copy: CopySettings,
    /// Generators `devdb generate` (and `devdb reset`) run, in order.
    #[serde(default)]
    pub generate: Vec<GeneratorSettings>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopySettings {
    /// Tables (or globs such as `aws_ec2_*`) copied when none are named on the command line.
    #[serde(default)]
    pub tables: Vec<String>,
    /// Tables copied at once (default: the number of cores).
    pub jobs: Option<usize>,
    /// `table.column` (or `schema.table.column`) → `null`, `hash` or `{ value: ... }`.
    #[serde(default)]
    pub mask: BTreeMap<String, MaskRule>,
    /// At most this many rows of a table.
    #[serde(default)]
    pub limit: BTreeMap<String, u64>,
    /// A SQL condition selecting the rows of a table (like `--where TABLE:CONDITION`).
    #[serde(default, rename = "where")]
    pub filter: BTreeMap<String, String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            service: default_service(),
            database: None,
            ready_timeout: None,
            migrations: None,
            copy_service: default_copy_service(),
            stages: BTreeMap::new(),
            copy: CopySettings::default(),
            generate: Vec::new(),
        }
    }
}

fn default_service() -> String {
    "postgres".to_string()
}

fn default_copy_service() -> String {
    "db_copy".to_string()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageSettings {
    /// Environment variable holding the stage's connection URL.
    pub url_env: Option<String>,
    /// Command whose standard output is the URL (for short-lived tokens such as IAM auth).
    pub url_command: Option<String>,
    /// TLS mode; overrides `sslmode` in the URL.
    pub sslmode: Option<SslMode>,
    /// CA bundle (PEM) to trust for `verify-full`, relative to the Compose file's folder.
    pub ca_file: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}
