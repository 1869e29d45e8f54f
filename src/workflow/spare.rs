//! Ready copies of snapshots ("spares"), so a reset swaps databases by renaming them (a few
//! milliseconds) instead of copying a template while the developer waits. A detached background
//! job makes the next spares after each reset, as `git gc --auto` detaches its work; a reset that
//! finds no spare ready simply copies the template itself.

use std::process::Stdio;

use tokio_postgres::Client;

use super::snapshot;
use super::{db_error, WorkflowError};
use crate::config::Config;
use crate::db::quote_ident;

const SPARE: &str = "devdb_spare_";
const SPARE_IN_PROGRESS: &str = "devdb_sparetmp_";
const TRASH: &str = "devdb_trash_";
/// Held by the background job, so two of them never work at once.
const PREPARE_LOCK: i64 = 72707370;

fn spare_name(hash: &str) -> String {
    format!("{SPARE}{}", &hash[..20])
}

async fn exists(admin: &Client, database: &str) -> Result<bool, WorkflowError> {
    Ok(admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&database])
        .await
        .map_err(db_error("looking up a database"))?
        .is_some())
}

/// Puts the spare for `hash` in place of `database`; false when no spare is ready.
pub async fn take(admin: &Client, database: &str, hash: &str) -> Result<bool, WorkflowError> {
    let spare = spare_name(hash);
    if !exists(admin, &spare).await? {
        return Ok(false);
    }
    if exists(admin, database).await? {
        let trash = format!(
            "{TRASH}{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let rename = format!(
            "ALTER DATABASE {} RENAME TO {}",
            quote_ident(database),
            quote_ident(&trash)
        );
        snapshot::without_sessions(admin, database, &rename, "moving the old database aside")
            .await?;
    }
    let rename = format!(
        "ALTER DATABASE {} RENAME TO {}",
        quote_ident(&spare),
        quote_ident(database)
    );
    match admin.batch_execute(&rename).await {
        Ok(()) => Ok(true),
        // A background job working from an older history dropped it just now: copy the
        // template instead (the caller does, `database` being out of the way already).
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_DATABASE) => {
            Ok(false)
        }
        Err(e) => Err(db_error("putting the ready copy in place")(e)),
    }
}

/// Starts the background job that drops old databases and makes the next spares. Best effort:
/// if it cannot start, the next reset copies the template itself.
pub fn spawn_prepare(config: &Config) {
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut command = std::process::Command::new(exe);
    command
        .args(config.cli_args())
        .arg("internal-prepare-spares")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    #[cfg(unix)]
    {
        // Its own process group: a Ctrl-C meant for the developer's next command spares it.
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    let _ = command.spawn();
}

/// The background job: spares for the full history and for all but its last migration (the
/// usual next resets), old spares and set-aside databases dropped.
pub async fn prepare(admin: &Client, hashes: &[String]) -> Result<(), WorkflowError> {
    let locked: bool = admin
        .query_one("SELECT pg_try_advisory_lock($1)", &[&PREPARE_LOCK])
        .await
        .map_err(db_error("taking the spare lock"))?
        .get(0);
    if !locked {
        return Ok(());
    }
    let existing: Vec<String> = admin
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'devdb\\_%'",
            &[],
        )
        .await
        .map_err(db_error("listing databases"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let wanted: Vec<(String, String)> = hashes
        .iter()
        .rev()
        .take(2)
        .map(|h| (snapshot::database_name(h), spare_name(h)))
        .filter(|(snap, _)| existing.contains(snap))
        .collect();
    for database in &existing {
        let stale_spare =
            database.starts_with(SPARE) && !wanted.iter().any(|(_, spare)| spare == database);
        if database.starts_with(TRASH) || database.starts_with(SPARE_IN_PROGRESS) || stale_spare {
            let _ = admin
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    quote_ident(database)
                ))
                .await;
        }
    }
    for (snap, spare) in wanted {
        if existing.contains(&spare) {
            continue;
        }
        let building = spare.replacen(SPARE, SPARE_IN_PROGRESS, 1);
        admin
            .batch_execute(&format!(
                "CREATE DATABASE {} TEMPLATE {}",
                quote_ident(&building),
                quote_ident(&snap)
            ))
            .await
            .map_err(db_error("copying a snapshot"))?;
        // Renamed only when complete, so a reset never takes a half-made copy.
        admin
            .batch_execute(&format!(
                "ALTER DATABASE {} RENAME TO {}",
                quote_ident(&building),
                quote_ident(&spare)
            ))
            .await
            .map_err(db_error("naming the ready copy"))?;
    }
    Ok(())
}

/// Waits for a running background job and keeps it from starting until `release` (a job
/// that finds the lock taken skips its work), so pruning never races it.
pub async fn hold(admin: &Client) -> Result<(), WorkflowError> {
    admin
        .query_one("SELECT pg_advisory_lock($1)", &[&PREPARE_LOCK])
        .await
        .map_err(db_error("waiting for the background snapshot job"))?;
    Ok(())
}

pub async fn release(admin: &Client) -> Result<(), WorkflowError> {
    admin
        .query_one("SELECT pg_advisory_unlock($1)", &[&PREPARE_LOCK])
        .await
        .map_err(db_error("releasing the snapshot lock"))?;
    Ok(())
}

/// Every spare and set-aside database (for `snapshot prune --all`).
pub async fn drop_all(admin: &Client) -> Result<usize, WorkflowError> {
    let names: Vec<String> = admin
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'devdb\\_spare%' OR datname LIKE 'devdb\\_trash\\_%'",
            &[],
        )
        .await
        .map_err(db_error("listing spares"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for name in &names {
        admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quote_ident(name)
            ))
            .await
            .map_err(db_error("dropping a spare"))?;
    }
    Ok(names.len())
}
