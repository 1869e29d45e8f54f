//! A throwaway database holding exactly the migration history: a copy of the history's
//! snapshot (`CREATE DATABASE ... TEMPLATE`, a few hundred milliseconds), or of the nearest
//! snapshot with the remaining migrations applied when the history has none yet. Each copy is
//! named `devdb_diff_<random>` and held by a session advisory lock, so a later run can drop
//! copies that a killed run left behind without touching one that is in use.

use std::path::Path;

use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use super::{db_error, DevloopError};
use crate::db::{quote_ident, ConnectionInfo};
use crate::migrate::{self, MigrationFile};
use crate::workflow::snapshot;

const PREFIX: &str = "devdb_diff_";
const LOCK: &str = "hashtext('devdb diff ' || $1)";

/// The copy, how it was made, and how to reach it.
pub struct HistoryCopy {
    pub connection: ConnectionInfo,
    /// e.g. `copy of the snapshot of 12 migrations`, for the report.
    pub source: String,
    /// Migrations applied on top of the snapshot copied (0 when the whole history had one).
    pub replayed: usize,
}

/// Makes the copy of the history `files` (all of them) next to `local`'s database.
pub async fn open(
    admin: &Client,
    local: &ConnectionInfo,
    dir: &Path,
    files: &[MigrationFile],
) -> Result<HistoryCopy, DevloopError> {
    drop_abandoned(admin).await?;
    let name = format!(
        "{PREFIX}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    admin
        .query_one(&format!("SELECT pg_advisory_lock({LOCK})"), &[&name])
        .await
        .map_err(db_error("locking the history copy"))?;
    let (base, create) = nearest_snapshot(admin, files, &name).await?;
    admin
        .batch_execute(&create)
        .await
        .map_err(db_error("copying the history's snapshot"))?;
    let connection = local.with_database(&name);
    let replayed = files.len() - base;
    if replayed > 0 {
        let client = connection.connect().await?;
        // A throwaway copy: what it replays is not news to the user.
        let quiet = crate::shell::Shell::silent();
        let applied = migrate::deploy(&quiet, &client, dir, files).await;
        drop(client);
        if let Err(error) = applied {
            close(admin, &connection).await.ok();
            return Err(error.into());
        }
    }
    let source = match (base, replayed) {
        (0, _) => format!("an empty database with all {replayed} migrations applied"),
        (k, 0) => format!("a copy of the snapshot of {k} migrations"),
        (k, r) => format!("a copy of the snapshot of {k} migrations with {r} more applied"),
    };
    Ok(HistoryCopy {
        connection,
        source,
        replayed,
    })
}

/// True when the whole history `files` has a snapshot of its own: a copy of it replays nothing.
pub async fn has_snapshot(admin: &Client, files: &[MigrationFile]) -> Result<bool, DevloopError> {
    let Some(head) = snapshot::prefix_hashes(files).pop() else {
        return Ok(false);
    };
    let name = snapshot::database_name(&head);
    let snapshots = snapshot::list(admin, false).await?;
    Ok(snapshots.iter().any(|s| s.database == name))
}

/// The longest prefix of `files` with a snapshot, and the statement creating `name` from it.
async fn nearest_snapshot(
    admin: &Client,
    files: &[MigrationFile],
    name: &str,
) -> Result<(usize, String), DevloopError> {
    let have: Vec<String> = snapshot::list(admin, false)
        .await?
        .into_iter()
        .map(|s| s.database)
        .collect();
    let hashes = snapshot::prefix_hashes(files);
    for k in (1..=files.len()).rev() {
        let snapshot = snapshot::database_name(&hashes[k - 1]);
        if have.contains(&snapshot) {
            return Ok((k, snapshot::copy_sql(&snapshot, name)));
        }
    }
    Ok((0, format!("CREATE DATABASE {}", quote_ident(name))))
}

/// Drops the copy (sessions closed by force: Prisma has exited) and releases its lock.
pub async fn close(admin: &Client, copy: &ConnectionInfo) -> Result<(), DevloopError> {
    snapshot::drop_database(admin, &copy.database, "dropping the history copy").await?;
    admin
        .query_one(
            &format!("SELECT pg_advisory_unlock({LOCK})"),
            &[&copy.database],
        )
        .await
        .map_err(db_error("unlocking the history copy"))?;
    Ok(())
}

/// Copies whose run is gone (killed, or its connection lost): nobody holds their lock.
async fn drop_abandoned(admin: &Client) -> Result<(), DevloopError> {
    let names: Vec<String> = admin
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'devdb\\_diff\\_%'",
            &[],
        )
        .await
        .map_err(db_error("listing history copies"))?
        .iter()
        .map(|row| row.get(0))
        .collect();
    for name in names {
        let free: bool = admin
            .query_one(&format!("SELECT pg_try_advisory_lock({LOCK})"), &[&name])
            .await
            .map_err(db_error("checking a history copy"))?
            .get(0);
        if !free {
            continue;
        }
        let dropped = admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {}", quote_ident(&name)))
            .await;
        admin
            .query_one(&format!("SELECT pg_advisory_unlock({LOCK})"), &[&name])
            .await
            .map_err(db_error("checking a history copy"))?;
        match dropped {
            Ok(()) => {}
            Err(e) if e.code() == Some(&SqlState::OBJECT_IN_USE) => {}
            Err(e) => return Err(db_error("dropping an abandoned history copy")(e)),
        }
    }
    Ok(())
}
