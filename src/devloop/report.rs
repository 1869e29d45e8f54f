//! The typed `--json` of the dev-loop commands (one struct per command), so scripts and tests
//! rely on the same shapes; every duration is in milliseconds.

use serde::{Deserialize, Serialize};

/// `devdb migrate diff --from-prisma --json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Diff {
    /// The schema.prisma compared with the history.
    pub schema: String,
    /// Prisma's script from the history's database to the schema.
    pub sql: String,
    /// True when the history already matches the schema (exit code 0; else 1).
    pub empty: bool,
    /// What the history's database was made from (a snapshot copy, replayed migrations).
    pub history: String,
    /// Migrations applied on top of the snapshot copied (0 when the history had a snapshot).
    pub replayed: usize,
    /// Making the history's copy (and dropping it afterwards).
    pub history_milliseconds: u64,
    /// The Prisma CLI's run, its start-up included.
    pub prisma_milliseconds: u64,
    /// What stood for the history: `schema` (devdb's datamodel of it, Prisma reads no
    /// database) or `database` (a copy of its snapshot).
    pub route: String,
    /// Why the datamodel could not stand for it (the `database` route), e.g. a view.
    pub fallback: Option<String>,
    /// The datamodel came from `.devdb/prisma-history/` (no database work).
    pub datamodel_cached: bool,
    pub milliseconds: u64,
}

/// `devdb migrate new NAME --from-prisma --json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct New {
    /// The migration folder's name; null when the schema matched and nothing was written.
    pub migration: Option<String>,
    /// Its migration.sql; null when nothing was written.
    pub path: Option<String>,
    pub sql: String,
    pub empty: bool,
    /// Whether it was applied to the local database (false with `--create-only`).
    pub applied: bool,
    pub history: String,
    pub replayed: usize,
    /// Making the history's copy (and dropping it afterwards).
    pub history_milliseconds: u64,
    /// The Prisma CLI's run, its start-up included.
    pub prisma_milliseconds: u64,
    /// What stood for the history: `schema` (devdb's datamodel of it, Prisma reads no
    /// database) or `database` (a copy of its snapshot).
    pub route: String,
    /// Why the datamodel could not stand for it (the `database` route), e.g. a view.
    pub fallback: Option<String>,
    /// The datamodel came from `.devdb/prisma-history/` (no database work).
    pub datamodel_cached: bool,
    pub milliseconds: u64,
}

/// `devdb migrate diff --from-db --json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbDiff {
    /// The SQL from the history's database to the local one; empty when there is no drift.
    pub sql: String,
    /// True when the local database has no drift (exit code 0; else 1).
    pub empty: bool,
    pub statements: usize,
    /// Differences the differ found and no statement expresses.
    pub not_expressed: Vec<String>,
    /// The SQL applied to a copy of the history gave the local database's pg_dump.
    pub verified: bool,
    pub history: String,
    pub replayed: usize,
    /// Making the history's copy.
    pub history_milliseconds: u64,
    /// pg_dump of the history's copy and of the local database, beyond the time the local
    /// dump overlapped the copy's making.
    pub dump_milliseconds: u64,
    /// Applying the SQL to a second copy and comparing its dump.
    pub verify_milliseconds: u64,
    pub milliseconds: u64,
}

/// `devdb migrate new NAME --from-db --json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbNew {
    /// The migration folder's name; null when there was no drift and nothing was written.
    pub migration: Option<String>,
    pub path: Option<String>,
    pub sql: String,
    pub empty: bool,
    /// Recorded as applied in the local `_prisma_migrations` (the database already has it).
    pub recorded: bool,
    pub statements: usize,
    pub not_expressed: Vec<String>,
    pub history: String,
    pub replayed: usize,
    pub history_milliseconds: u64,
    pub dump_milliseconds: u64,
    pub verify_milliseconds: u64,
    pub milliseconds: u64,
}

/// Milliseconds as JSON carries them.
pub fn millis(value: u128) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}
