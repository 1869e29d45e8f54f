//! Template databases holding the local database right after a prefix of the migrations, keyed
//! by a hash chained over every migration's name and checksum up to that point. A changed or
//! reordered migration changes the hash of every prefix that contains it, so a snapshot can
//! never stand in for a history it does not hold.

use serde::Serialize;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use super::{db_error, WorkflowError};
use crate::db::quote_ident;
use crate::migrate::MigrationFile;

pub const PREFIX: &str = "devdb_snap_";
/// Besides the last two prefixes, a snapshot every this many migrations, so editing an older
/// migration re-applies at most this many before it. Applying a migration costs a few
/// milliseconds and copying a snapshot a few hundred, so checkpoints are sparse.
pub const CHECKPOINT_EVERY: usize = 25;
/// Snapshots of other histories (another branch, an edited file) kept for switching back.
pub const KEEP_STALE: usize = 2;

/// `hashes[k - 1]` identifies the first `k` migrations.
pub fn prefix_hashes(files: &[MigrationFile]) -> Vec<String> {
    let mut hashes = Vec::with_capacity(files.len());
    let mut previous = String::new();
    for file in files {
        previous = crate::digest::sha256_hex(
            format!("{previous}\n{}\n{}", file.name, file.checksum).as_bytes(),
        );
        hashes.push(previous.clone());
    }
    hashes
}

pub fn database_name(hash: &str) -> String {
    format!("{PREFIX}{}", &hash[..20])
}

/// Prefix lengths worth a snapshot for a history of `total` migrations.
pub fn checkpoints(total: usize) -> Vec<usize> {
    let mut points: Vec<usize> = (1..=total).filter(|k| k % CHECKPOINT_EVERY == 0).collect();
    points.extend(
        [total.saturating_sub(1), total]
            .into_iter()
            .filter(|k| *k > 0),
    );
    points.sort_unstable();
    points.dedup();
    points
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SnapshotInfo {
    pub database: String,
    pub migrations: usize,
    pub last: String,
    pub created: String,
    #[serde(default)]
    pub bytes: i64,
}

/// Every snapshot with what its comment records; `sizes` also measures each one on disk
/// (Postgres stats every file of it, so only `snapshot list` asks).
pub async fn list(admin: &Client, sizes: bool) -> Result<Vec<SnapshotInfo>, WorkflowError> {
    let sql = format!(
        "SELECT datname, shobj_description(oid, 'pg_database'), {} FROM pg_database \
         WHERE datname LIKE 'devdb\\_snap\\_%' ORDER BY datname",
        if sizes {
            "pg_database_size(oid)"
        } else {
            "0::bigint"
        }
    );
    let rows = admin
        .query(&sql, &[])
        .await
        .map_err(db_error("listing snapshots"))?;
    Ok(rows
        .iter()
        .map(|row| {
            let database: String = row.get(0);
            let comment: Option<String> = row.get(1);
            let mut info = comment
                .and_then(|c| serde_json::from_str::<SnapshotInfo>(&c).ok())
                .unwrap_or(SnapshotInfo {
                    database: database.clone(),
                    migrations: 0,
                    last: String::new(),
                    created: String::new(),
                    bytes: 0,
                });
            info.database = database;
            info.bytes = row.get(2);
            info
        })
        .collect())
}

/// `CREATE DATABASE target TEMPLATE source` with the server's default strategy: WAL_LOG on
/// Postgres 15 and later, which copies block by block through the WAL. FILE_COPY forces two
/// checkpoints and an fsync per file; measured on a 500-migration snapshot (3,300 files) it
/// took 8-12 s against 0.5 s, so it would win only for a few large files, which a snapshot
/// taken right after migrations is not.
pub fn copy_sql(source: &str, target: &str) -> String {
    format!(
        "CREATE DATABASE {} TEMPLATE {}",
        quote_ident(target),
        quote_ident(source)
    )
}

/// Copies `source` into a new template database for the first `count` migrations. Another
/// process making the same snapshot first is success.
pub async fn create(
    admin: &Client,
    source: &str,
    name: &str,
    count: usize,
    last: &str,
) -> Result<(), WorkflowError> {
    // The source must have no sessions; ours was just closed, and the server may not know yet.
    match without_sessions(
        admin,
        source,
        &copy_sql(source, name),
        "creating a snapshot",
    )
    .await
    {
        Err(WorkflowError::Database { error, .. })
            if error.code() == Some(&SqlState::DUPLICATE_DATABASE) =>
        {
            return Ok(())
        }
        other => other?,
    }
    mark(admin, name, count, last).await
}

/// Makes `name` a template nobody connects to, its comment recording what it holds.
pub async fn mark(
    admin: &Client,
    name: &str,
    count: usize,
    last: &str,
) -> Result<(), WorkflowError> {
    let info = SnapshotInfo {
        database: name.to_string(),
        migrations: count,
        last: last.to_string(),
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        bytes: 0,
    };
    let comment = crate::db::quote_literal(&serde_json::to_string(&info).unwrap_or_default());
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {0} WITH ALLOW_CONNECTIONS false IS_TEMPLATE true; COMMENT ON DATABASE {0} IS {comment}",
            quote_ident(name)
        ))
        .await
        .map_err(db_error("marking the snapshot"))
}

pub async fn drop(admin: &Client, name: &str) -> Result<(), WorkflowError> {
    // Two statements: DROP DATABASE refuses the implicit transaction of a multi-statement query.
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {} WITH IS_TEMPLATE false",
            quote_ident(name)
        ))
        .await
        .map_err(db_error("dropping a snapshot"))?;
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {}", quote_ident(name)))
        .await
        .map_err(db_error("dropping a snapshot"))
}

/// Drops snapshots that match no prefix of the current history, keeping the newest few
/// (`all`: every snapshot). Returns what was dropped.
pub async fn prune(
    admin: &Client,
    hashes: &[String],
    all: bool,
) -> Result<Vec<String>, WorkflowError> {
    let current: Vec<String> = hashes.iter().map(|h| database_name(h)).collect();
    let mut stale: Vec<SnapshotInfo> = list(admin, false)
        .await?
        .into_iter()
        .filter(|s| all || !current.contains(&s.database))
        .collect();
    stale.sort_by(|a, b| b.created.cmp(&a.created));
    let keep = if all { 0 } else { KEEP_STALE };
    let mut dropped = Vec::new();
    for info in stale.into_iter().skip(keep) {
        match drop(admin, &info.database).await {
            Ok(()) => dropped.push(info.database),
            // A reset is copying it right now; the next prune gets it.
            Err(WorkflowError::Database { error, .. })
                if error.code() == Some(&SqlState::OBJECT_IN_USE) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(dropped)
}

/// Runs `sql`, which needs `database` to have no sessions. Closes them first: with one still
/// there, the server waits up to 5 s for it to leave before it refuses (a reset with the app's
/// pool connected took 5.1 s instead of 30 ms). When a client reconnects, or a closed session
/// is not gone yet, closes them again and retries for about half a second.
pub async fn without_sessions(
    admin: &Client,
    database: &str,
    sql: &str,
    action: &str,
) -> Result<(), WorkflowError> {
    let mut attempt = 0;
    loop {
        terminate_sessions(admin, database).await?;
        match admin.batch_execute(sql).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt < 20 && e.code() == Some(&SqlState::OBJECT_IN_USE) => {
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
                attempt += 1;
            }
            Err(e) => return Err(db_error(action)(e)),
        }
    }
}

pub async fn terminate_sessions(admin: &Client, database: &str) -> Result<(), WorkflowError> {
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&database],
        )
        .await
        .map_err(db_error("closing sessions"))?;
    Ok(())
}

/// Drops `name` (sessions closed by force); `action` says what for, in the error.
pub async fn drop_database(admin: &Client, name: &str, action: &str) -> Result<(), WorkflowError> {
    admin
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(name)
        ))
        .await
        .map_err(db_error(action))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::files::checksum_of;

    fn file(name: &str, sql: &str) -> MigrationFile {
        MigrationFile {
            name: name.into(),
            path: name.into(),
            script: sql.into(),
            checksum: checksum_of(sql),
        }
    }

    #[test]
    fn a_changed_migration_changes_every_prefix_that_contains_it() {
        let original = [file("1_a", "A"), file("2_b", "B"), file("3_c", "C")];
        let edited = [file("1_a", "A"), file("2_b", "B2"), file("3_c", "C")];
        let (before, after) = (prefix_hashes(&original), prefix_hashes(&edited));
        assert_eq!(before[0], after[0]);
        assert_ne!(before[1], after[1]);
        assert_ne!(before[2], after[2], "a later prefix must change too");
        let renamed = [file("1_a", "A"), file("2_x", "B"), file("3_c", "C")];
        assert_ne!(prefix_hashes(&renamed)[1], before[1]);
        assert!(database_name(&before[0]).len() <= 63);
    }

    #[test]
    fn checkpoint_positions() {
        assert_eq!(checkpoints(0), Vec::<usize>::new());
        assert_eq!(checkpoints(1), [1]);
        assert_eq!(checkpoints(60), [25, 50, 59, 60]);
        assert_eq!(checkpoints(51), [25, 50, 51]);
    }
}
