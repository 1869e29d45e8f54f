//! The `_prisma_migrations` ledger, with Prisma's exact columns, and Prisma's advisory lock.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use tokio_postgres::Client;

use super::MigrateError;

/// Qualified, as Prisma qualifies it with its schema (default `public`): unqualified, a schema
/// named like the user (`"$user"` in search_path) created by a migration would capture it.
pub const TABLE: &str = "public._prisma_migrations";
/// The key Prisma Migrate locks while it migrates; taking the same one keeps devdb and Prisma
/// from applying the same migration twice.
pub const ADVISORY_LOCK_KEY: i64 = 72707369;
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

const CREATE_TABLE: &str = r#"CREATE TABLE IF NOT EXISTS "public"."_prisma_migrations" (
    "id"                    VARCHAR(36) NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT "_prisma_migrations_pkey" PRIMARY KEY ("id")
)"#;

#[derive(Debug, Clone)]
pub struct LedgerRow {
    pub id: String,
    pub checksum: String,
    pub finished_at: Option<DateTime<Utc>>,
    pub migration_name: String,
    pub logs: Option<String>,
    pub rolled_back_at: Option<DateTime<Utc>>,
    pub started_at: DateTime<Utc>,
    pub applied_steps_count: i32,
}

fn query_error(action: &str) -> impl FnOnce(tokio_postgres::Error) -> MigrateError + '_ {
    move |error| MigrateError::Database {
        action: action.to_string(),
        error,
    }
}

pub async fn exists(client: &Client) -> Result<bool, MigrateError> {
    let row = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&TABLE])
        .await
        .map_err(query_error("looking for the _prisma_migrations table"))?;
    Ok(row.get(0))
}

pub async fn create(client: &Client) -> Result<(), MigrateError> {
    client
        .batch_execute(CREATE_TABLE)
        .await
        .map_err(query_error("creating the _prisma_migrations table"))
}

/// All rows, oldest first; empty when the table does not exist.
pub async fn read(client: &Client) -> Result<Vec<LedgerRow>, MigrateError> {
    if !exists(client).await? {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            "SELECT id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count \
             FROM public._prisma_migrations ORDER BY started_at, migration_name",
            &[],
        )
        .await
        .map_err(query_error("reading _prisma_migrations"))?;
    Ok(rows
        .iter()
        .map(|r| LedgerRow {
            id: r.get(0),
            checksum: r.get(1),
            finished_at: r.get(2),
            migration_name: r.get(3),
            logs: r.get(4),
            rolled_back_at: r.get(5),
            started_at: r.get(6),
            applied_steps_count: r.get(7),
        })
        .collect())
}

/// Records the start of a migration, as Prisma does before running it; returns the row id.
pub async fn start(client: &Client, name: &str, checksum: &str) -> Result<String, MigrateError> {
    let id = new_id();
    insert_started(client, &id, name, checksum)
        .await
        .map_err(query_error("recording the migration start"))?;
    Ok(id)
}

/// A new ledger row's id, as Prisma makes it (a random UUID).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The started row; inside the migration's transaction it commits (or vanishes) with it.
/// Typed parameters: parse, bind and execute go out as one message (no prepare round trip),
/// so the write can be pipelined with the migration's statements.
pub async fn insert_started(
    client: &Client,
    id: &str,
    name: &str,
    checksum: &str,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute_typed(
            "INSERT INTO public._prisma_migrations (id, checksum, migration_name, started_at, applied_steps_count) \
             VALUES ($1, $2, $3, clock_timestamp(), 0)",
            &[(&id, Type::TEXT), (&checksum, Type::TEXT), (&name, Type::TEXT)],
        )
        .await?;
    Ok(())
}

pub async fn finish(client: &Client, id: &str) -> Result<(), MigrateError> {
    mark_finished(client, id)
        .await
        .map_err(query_error("recording the migration as finished"))
}

pub async fn mark_finished(client: &Client, id: &str) -> Result<(), tokio_postgres::Error> {
    client
        .execute_typed(
            "UPDATE public._prisma_migrations SET finished_at = clock_timestamp(), applied_steps_count = 1 WHERE id = $1",
            &[(&id, Type::TEXT)],
        )
        .await?;
    Ok(())
}

/// A failed non-transactional migration that left part of itself: the row stays started (no
/// `finished_at`, no `rolled_back_at`), which blocks deploys until resolved, as Prisma's P3009.
pub async fn record_failure(client: &Client, id: &str, logs: &str) -> Result<(), MigrateError> {
    client
        .execute(
            "UPDATE public._prisma_migrations SET logs = $2 WHERE id = $1",
            &[&id, &logs],
        )
        .await
        .map_err(query_error("recording the migration failure"))?;
    Ok(())
}

/// Removes a started row whose migration left nothing behind, so it reads as pending.
pub async fn delete(client: &Client, id: &str) -> Result<(), MigrateError> {
    client
        .execute(
            "DELETE FROM public._prisma_migrations WHERE id = $1",
            &[&id],
        )
        .await
        .map_err(query_error(
            "removing the started row of a migration that left nothing",
        ))?;
    Ok(())
}

/// `resolve --applied`: a finished row with zero steps, as Prisma writes it.
pub async fn insert_applied(
    client: &Client,
    name: &str,
    checksum: &str,
) -> Result<(), MigrateError> {
    let id = uuid::Uuid::new_v4().to_string();
    client
        .execute(
            "INSERT INTO public._prisma_migrations (id, checksum, migration_name, started_at, finished_at, applied_steps_count) \
             VALUES ($1, $2, $3, now(), now(), 0)",
            &[&id, &checksum, &name],
        )
        .await
        .map_err(query_error("recording the migration as applied"))?;
    Ok(())
}

/// `resolve --rolled-back`: marks the failed attempts of `name` rolled back.
pub async fn mark_failed_rolled_back(client: &Client, name: &str) -> Result<u64, MigrateError> {
    client
        .execute(
            "UPDATE public._prisma_migrations SET rolled_back_at = now() \
             WHERE migration_name = $1 AND finished_at IS NULL AND rolled_back_at IS NULL",
            &[&name],
        )
        .await
        .map_err(query_error("marking the migration rolled back"))
}

/// Takes Prisma's migration lock, waiting up to `LOCK_TIMEOUT`.
pub async fn lock(client: &Client) -> Result<(), MigrateError> {
    let started = Instant::now();
    loop {
        let row = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&ADVISORY_LOCK_KEY])
            .await
            .map_err(query_error("taking the migration lock"))?;
        if row.get::<_, bool>(0) {
            return Ok(());
        }
        if started.elapsed() >= LOCK_TIMEOUT {
            return Err(MigrateError::LockTimeout {
                seconds: LOCK_TIMEOUT.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn unlock(client: &Client) -> Result<(), MigrateError> {
    client
        .query_one("SELECT pg_advisory_unlock($1)", &[&ADVISORY_LOCK_KEY])
        .await
        .map_err(query_error("releasing the migration lock"))?;
    Ok(())
}

/// Relations in user schemas other than the ledger (Prisma's "schema is not empty" test).
pub async fn user_relations(client: &Client) -> Result<Vec<String>, MigrateError> {
    let rows = client
        .query(
            "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND c.relname <> '_prisma_migrations' \
               AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' \
               AND n.nspname NOT LIKE 'pg_temp%' \
             ORDER BY 1 LIMIT 5",
            &[],
        )
        .await
        .map_err(query_error("checking whether the database is empty"))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
