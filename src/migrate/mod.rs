//! Migrations compatible with Prisma Migrate: the same folders, the same `_prisma_migrations`
//! ledger (columns, checksums, advisory lock), so a project can switch in either direction.

mod apply;
pub mod files;
pub mod ledger;
pub mod plan;
pub mod script;

use std::path::PathBuf;

use crate::hint::Hint;

pub use apply::{deploy, resolve_applied, resolve_rolled_back, status, Applied};
pub use files::MigrationFile;
pub use plan::{Entry, State, Status};

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} has no migration.sql; every migration folder needs one (or remove the folder)", folder.display())]
    MissingScript { folder: PathBuf },
    #[error(
        "{} names provider \"{provider}\", but devdb migrates PostgreSQL databases",
        path.display()
    )]
    WrongProvider { path: PathBuf, provider: String },
    #[error("the migration name `{name}` has no letters or digits; use something like `add_users_table`")]
    BadName { name: String },
    #[error(
        "the migration name is {length} bytes as a folder name; file systems allow 255 bytes per \
         folder and the timestamp takes 15, so keep it to {max} (say what the migration does in a few words)"
    )]
    NameTooLong { length: usize, max: usize },
    #[error(
        "{} is not UTF-8 (line {line}, byte {byte}); save it as UTF-8, e.g. `iconv -f latin1 -t utf-8`",
        path.display()
    )]
    NotUtf8 {
        path: PathBuf,
        line: usize,
        byte: usize,
    },
    #[error("{} already exists; wait a second or choose another name", folder.display())]
    Exists { folder: PathBuf },
    #[error(transparent)]
    Failed(Box<MigrationFailure>),
    #[error(
        "migration `{name}` failed earlier and is not resolved, so nothing more is applied (Prisma's P3009)\n  \
         its log: {}",
        first_lines(logs, 2)
    )]
    FailedInDatabase { name: String, logs: String },
    #[error(
        "the database is not empty ({}) but has no migration history (_prisma_migrations) (Prisma's P3005)",
        relations.join(", ")
    )]
    NotBaselined {
        relations: Vec<String>,
        first: String,
    },
    #[error(
        "another migration run holds the migration lock (pg_advisory_lock(72707369)); waited {seconds}s"
    )]
    LockTimeout { seconds: u64 },
    #[error("no migration `{name}` in the migrations folder; the latest are: {}", known.join(", "))]
    UnknownMigration { name: String, known: Vec<String> },
    #[error("migration `{name}` is already recorded as applied")]
    AlreadyApplied { name: String },
    #[error("migration `{name}` is not in a failed state, so there is nothing to roll back (Prisma's P3012)")]
    NotFailed { name: String },
    #[error("{action}: {}", crate::db::describe(error))]
    Database {
        action: String,
        error: tokio_postgres::Error,
    },
}

/// A migration that failed while it ran: where, why, and what it left in the database.
#[derive(Debug, thiserror::Error, serde::Serialize)]
#[error(
    "migration `{name}` failed at {}:{line}: {}{message}\n  statement: {}",
    path.display(),
    if sqlstate.is_empty() { String::new() } else { format!("{sqlstate}: ") },
    first_lines(statement, 3)
)]
pub struct MigrationFailure {
    pub name: String,
    pub path: PathBuf,
    pub line: usize,
    /// Postgres's SQLSTATE; empty when the connection was lost instead.
    pub sqlstate: String,
    pub message: String,
    pub statement: String,
    /// The database connection broke (server gone, network, killed backend).
    pub connection_lost: bool,
    pub outcome: Outcome,
}

/// What a failed migration left in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Nothing of it, and no ledger row: it is pending, for devdb and for Prisma.
    NothingApplied,
    /// It ran outside a transaction and part of it stayed: its started row blocks (P3009).
    Partial,
    /// The connection broke while COMMIT was in flight: the ledger tells whether it committed.
    Unknown,
}

impl MigrateError {
    /// What to do about it, shown apart from the message.
    pub fn hint(&self) -> Option<Hint> {
        Some(match self {
            MigrateError::WrongProvider { .. } => Hint::suggest(
                "this folder belongs to another database; point x-devdb.migrations at the \
                 PostgreSQL migrations",
            ),
            MigrateError::Failed(failure) => return failure.hint(),
            MigrateError::FailedInDatabase { name, .. } => Hint::next(format!(
                "repair the database, then `devdb migrate resolve --rolled-back {name}` to re-run \
                 it, or `devdb migrate resolve --applied {name}` if you completed it by hand"
            )),
            MigrateError::NotBaselined { first, .. } => Hint::suggest(format!(
                "baseline it: make a migration holding the current schema, then mark it applied \
                 with `devdb migrate resolve --applied {first}`"
            )),
            MigrateError::LockTimeout { .. } => Hint::suggest(
                "wait for the other `devdb migrate` or `prisma migrate` to finish and try again",
            ),
            MigrateError::Database { error, .. } => return crate::db::postgres_hint(error),
            _ => return None,
        })
    }
}

impl MigrationFailure {
    /// What it left in the database and what to run next.
    pub fn hint(&self) -> Option<Hint> {
        Some(Hint::next(next_step(self)))
    }

    /// What goes into the ledger's `logs` column, in Prisma's spirit: the database's code and
    /// message, and where in the file.
    pub fn ledger_logs(&self) -> String {
        format!(
            "Migration `{}` failed at migration.sql line {}\n\
             Database error code: {}\n\
             Database error: {}\n\
             Statement: {}",
            self.name,
            self.line,
            self.sqlstate,
            self.message,
            first_lines(&self.statement, 10)
        )
    }
}

fn first_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut shown = lines
        .iter()
        .take(count)
        .copied()
        .collect::<Vec<_>>()
        .join("\n    ");
    if lines.len() > count {
        shown.push_str(" ...");
    }
    shown
}

fn next_step(failure: &MigrationFailure) -> String {
    let MigrationFailure { name, path, .. } = failure;
    let lost = if failure.connection_lost {
        "the connection to the database was lost; "
    } else {
        ""
    };
    let mut next = match failure.outcome {
        Outcome::NothingApplied => format!(
            "{lost}nothing of it was applied and the ledger has no row for it (it is pending); \
             fix {} if needed and run `devdb migrate deploy` again",
            path.display()
        ),
        Outcome::Partial => format!(
            "{lost}it ran outside a transaction, so part of it may be applied; repair the database, then run \
             `devdb migrate resolve --rolled-back {name}` (to re-run the fixed file) or `--applied {name}`"
        ),
        Outcome::Unknown => format!(
            "{lost}it was lost while committing; `devdb migrate status` shows whether `{name}` is applied \
             (its ledger row commits with it), then run `devdb migrate deploy` again"
        ),
    };
    if let Some(relation) = missing_relation(&failure.message) {
        next.push_str(&format!(
            "\n  hint: if `{relation}` exists only on a remote stage, `devdb fix-missing {relation} --from STAGE` copies its structure"
        ));
    }
    next
}

/// The relation named by Postgres's `relation "X" does not exist`.
pub fn missing_relation(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("relation \"")?;
    let end = rest.find("\" does not exist")?;
    Some(&rest[..end])
}
