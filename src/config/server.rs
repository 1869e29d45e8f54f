//! `x-devdb.server: fast`: an opt-in local Postgres tuned for loading big copies, for people
//! who copy large data often. It trades crash safety of the local database (a developer's
//! throw-away copy, rebuilt by `devdb reset` or a new copy) for write speed. It only ever shapes
//! the local container's command: stages are never changed by devdb.

use serde::Deserialize;

use super::service::Service;

/// How the local Postgres server is started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerProfile {
    /// The image's own settings (durable, WAL for replicas): nothing is added.
    #[default]
    Default,
    /// The settings of `FAST_SETTINGS`, each passed as `-c name=value`.
    Fast,
}

/// The settings `fast` adds, with what each risks (the README's table says the same).
pub const FAST_SETTINGS: &[(&str, &str)] = &[
    // No WAL for tables created or truncated in the loading transaction; no replicas, no
    // point-in-time recovery, no base backups of this server.
    ("wal_level", "minimal"),
    // Required by wal_level=minimal: no streaming replication from it.
    ("max_wal_senders", "0"),
    // No flush to disk: an OS crash or power loss (not a container stop) can corrupt the cluster.
    ("fsync", "off"),
    // Commits return before their WAL is written: the last commits before a crash are lost.
    ("synchronous_commit", "off"),
    // Torn pages after an OS crash are not repairable from WAL.
    ("full_page_writes", "off"),
    // Fewer checkpoints while loading: a crash replays more WAL (slower restart, no other loss).
    ("max_wal_size", "8GB"),
    ("checkpoint_timeout", "30min"),
];

impl ServerProfile {
    /// The database service's command with this profile's settings added. A custom command
    /// must start Postgres (`postgres ...`) for `-c` flags to mean anything.
    /// An error is its message and its hint.
    pub fn apply(self, service: &mut Service) -> Result<(), (String, String)> {
        if self == ServerProfile::Default {
            return Ok(());
        }
        let mut command = service
            .command
            .clone()
            .unwrap_or_else(|| vec!["postgres".to_string()]);
        if command.first().map(String::as_str) != Some("postgres") {
            return Err((
                format!(
                    "x-devdb.server: fast adds `-c` settings to the postgres command, but \
                     services.{}.command starts with `{}`",
                    service.name,
                    command.first().map(String::as_str).unwrap_or("")
                ),
                "start it with `postgres`, or add the settings to the command yourself and drop \
                 `server: fast`"
                    .into(),
            ));
        }
        for (name, value) in FAST_SETTINGS {
            command.push("-c".to_string());
            command.push(format!("{name}={value}"));
        }
        service.command = Some(command);
        Ok(())
    }
}
