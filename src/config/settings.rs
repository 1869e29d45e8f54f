//! devdb's own settings: the `x-devdb:` block of the Compose file. Compose ignores `x-` keys, so
//! the same file works with `docker compose`. Unknown keys here are errors: a typo must not be
//! silently ignored. Values are typed here, at load time, so a bad one fails before any work.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The Compose service that runs the local Postgres.
    #[serde(default = "default_service")]
    pub service: String,
    /// The database devdb creates and targets; default: the service's POSTGRES_DB.
    pub database: Option<String>,
    /// How long `up` waits for Postgres to accept connections (`60s`, `1m30s`, or seconds).
    #[serde(default = "default_ready_timeout", with = "duration")]
    pub ready_timeout: Duration,
    /// The migrations folder, relative to the Compose file's folder.
    pub migrations: Option<String>,
    /// Env files read after `.env` (later wins), relative to the Compose file's folder, for a
    /// repository that keeps its variables elsewhere (e.g. a root `.env`); `--env-file`
    /// replaces them all, as it replaces `.env` in Compose. Written as plain paths.
    #[serde(default)]
    pub env_files: Vec<String>,
    /// The one-shot service holding pg_dump/psql for the remote's version. When the file has
    /// no such service, devdb builds its own job image (see `copy_image`).
    #[serde(default = "default_copy_service")]
    pub copy_service: String,
    /// The base image of devdb's built-in db-copy job; `{major}` becomes the stage's Postgres
    /// major version. Default: `$DEVDB_POSTGRES_IMAGE_<major>`, else `postgres:<major>`.
    pub copy_image: Option<String>,
    /// Remote databases, by stage name (`CODE`, `PROD`, ...). `DEV` is the local database.
    #[serde(default)]
    pub stages: BTreeMap<String, StageSettings>,
    /// What `devdb copy` copies by default, and how.
    #[serde(default)]
    pub copy: CopySettings,
    /// Generators `devdb generate` (and `devdb reset`) run, in order.
    #[serde(default)]
    pub generate: Vec<GeneratorSettings>,
    /// Steps `devdb reset` (and `devdb seed`) run after the migrations, in order.
    #[serde(default)]
    pub seed: Vec<super::seed::SeedStep>,
    /// `fast`: the local server runs with settings that trade crash safety for load speed.
    #[serde(default)]
    pub server: super::server::ServerProfile,
    /// Foreign keys the schema does not declare, followed and checked like real ones.
    #[serde(default)]
    pub relations: Vec<RelationSettings>,
    /// Named subsets, run by `devdb copy --subset NAME`.
    #[serde(default)]
    pub subsets: BTreeMap<String, SubsetSettings>,
    /// A database per git branch (`devdb branch on|off` overrides it for one clone).
    #[serde(default)]
    pub branches: bool,
}

/// A virtual foreign key: `from: table(cols)` references `to: table(cols)`, for the rows of
/// `from` that meet `condition` (all of them when absent). Names are checked against the
/// database by `devdb copy`, which owns the catalog.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelationSettings {
    pub from: String,
    pub to: String,
    pub condition: Option<String>,
    /// How messages and `follow:` rules name it (default: `<table>_<columns>_relation`).
    pub name: Option<String>,
}

/// A named subset: where it starts, how far it reaches, what it hides.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubsetSettings {
    /// Start tables, each with the condition choosing its rows (`true` for all).
    pub start: BTreeMap<String, String>,
    /// At most this many rows of a table (over `x-devdb.copy.limit`).
    #[serde(default)]
    pub limit: BTreeMap<String, u64>,
    /// Per foreign key (by name): `follow` (default) pulls the parent rows, `set-null` cuts
    /// the key of rows whose parent does not come.
    #[serde(default)]
    pub follow: BTreeMap<String, FollowRule>,
    /// Masks over `x-devdb.copy.mask` (same keys and rules).
    #[serde(default)]
    pub mask: BTreeMap<String, MaskRule>,
    /// Also copy the rows that reference the chosen rows, this many FK levels down.
    pub with_children: Option<usize>,
}

/// What a copy does with a foreign key whose parent row would be missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FollowRule {
    #[default]
    Follow,
    SetNull,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopySettings {
    /// Tables (or globs such as `aws_ec2_*`) copied when none are named on the command line.
    #[serde(default)]
    pub tables: Vec<String>,
    /// Tables copied at once (default: the number of cores).
    pub jobs: Option<usize>,
    /// `table.column` (or `schema.table.column`) → `null`, `hmac` or `{ value: ... }`.
    #[serde(default)]
    pub mask: BTreeMap<String, MaskRule>,
    /// At most this many rows of a table.
    #[serde(default)]
    pub limit: BTreeMap<String, u64>,
    /// A SQL condition selecting the rows of a table (like `--where TABLE:CONDITION`).
    #[serde(default, rename = "where")]
    pub filter: BTreeMap<String, String>,
    /// Per foreign key (by name), for every copy: `follow` (default) or `set-null` (a subset's
    /// `follow` rules go over these).
    #[serde(default)]
    pub follow: BTreeMap<String, FollowRule>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            service: default_service(),
            database: None,
            ready_timeout: default_ready_timeout(),
            migrations: None,
            env_files: Vec::new(),
            copy_service: default_copy_service(),
            copy_image: None,
            stages: BTreeMap::new(),
            copy: CopySettings::default(),
            generate: Vec::new(),
            seed: Vec::new(),
            server: Default::default(),
            relations: Vec::new(),
            subsets: BTreeMap::new(),
            branches: false,
        }
    }
}

fn default_service() -> String {
    "postgres".to_string()
}

fn default_copy_service() -> String {
    "db_copy".to_string()
}

fn default_ready_timeout() -> Duration {
    Duration::from_secs(60)
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

/// How a masked column is replaced on the way: `null`, `hmac` (`hash` is its old name), or
/// `{ value: ... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MaskRule {
    /// NULL.
    Null,
    /// HMAC-SHA256 of the value's text with the project's key (`.devdb/mask.key`), in hex:
    /// equal inputs stay equal across tables and runs, and without the key no dictionary helps.
    Hmac,
    /// A fixed value.
    Value { value: String },
}

impl<'de> Deserialize<'de> for MaskRule {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Keyword(String),
            Value { value: String },
            Null(()),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Null(()) => Ok(MaskRule::Null),
            Raw::Keyword(word) if word == "null" => Ok(MaskRule::Null),
            // `hash` was an unsalted md5, which a dictionary reverses; it now means the keyed HMAC.
            Raw::Keyword(word) if word == "hash" || word == "hmac" => Ok(MaskRule::Hmac),
            Raw::Keyword(word) => Err(serde::de::Error::custom(format!(
                "unknown mask `{word}`; use null, hash, hmac, or {{ value: ... }}"
            ))),
            Raw::Value { value } => Ok(MaskRule::Value { value }),
        }
    }
}

/// One entry of `x-devdb.generate`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum GeneratorSettings {
    /// A sorted, deterministic SQL snapshot of the schema.
    SchemaSql { output: String },
    /// TypeScript row types for tables and views.
    Typescript { output: String },
    /// Models of a schema.prisma, as `prisma db pull` writes them.
    Prisma {
        schema: String,
        /// Tables written with `@@ignore`.
        #[serde(default)]
        ignore: Vec<String>,
    },
    /// An external program (found on PATH), run in the project root with DATABASE_URL set.
    Command { run: Vec<String> },
}

/// Compose durations (`90s`, `1m30s`, `500ms`, `2h`) read with humantime; a bare whole
/// number is seconds. Anything else is an error, never a silent default.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    humantime::parse_duration(text)
        .map_err(|why| format!("`{text}` is not a duration like 30s or 1m30s ({why})"))
}

/// Serde glue: a duration written as a string or a whole number of seconds.
mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(u64),
        Text(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        match Raw::deserialize(deserializer)? {
            Raw::Seconds(seconds) => Ok(Duration::from_secs(seconds)),
            Raw::Text(text) => super::parse_duration(&text)
                .map_err(|why| serde::de::Error::custom(format!("ready_timeout: {why}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("5").unwrap(), Duration::from_secs(5));
        for bad in [
            "soon",
            "1e30s",
            "inf",
            "-5s",
            "99999999999999999999999h",
            "",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad} must be an error");
        }
    }
}
