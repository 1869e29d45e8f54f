//! The development loop past Prisma's: a schema change becomes a migration in seconds because
//! the history's database already exists as a snapshot (`reset` keeps them), so nothing is
//! replayed into a shadow database. `from_prisma` asks the project's own Prisma CLI for the SQL
//! from a throwaway copy of that snapshot to what schema.prisma describes.

pub mod datamodel;
pub mod from_db;
pub mod from_prisma;
pub mod history;
pub mod prisma_cli;
pub mod report;

use std::path::PathBuf;

use crate::hint::Hint;

pub use from_db::{diff_from_db, new_from_db};
pub use from_prisma::{diff_from_prisma, new_from_prisma, NewOptions};
pub use report::{DbDiff, DbNew, Diff, New};

#[derive(Debug, thiserror::Error)]
pub enum DevloopError {
    #[error(
        "no schema.prisma found (looked at {})",
        looked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NoSchema { looked: Vec<PathBuf> },
    #[error(
        "the Prisma CLI was not found: no DEVDB_PRISMA, no node_modules/.bin/prisma in {} or above, and no `npx` on PATH",
        start.display()
    )]
    NoPrisma { start: PathBuf },
    #[error("running {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error(
        "`prisma migrate diff` failed ({status}) computing the SQL from the migration history to {}:\n{stderr}",
        schema.display()
    )]
    PrismaFailed {
        status: String,
        schema: PathBuf,
        stderr: String,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{action}: {}", crate::db::describe(error))]
    Database {
        action: String,
        error: tokio_postgres::Error,
    },
    #[error(
        "the local database has not applied exactly the migrations on disk{}{}{}, so its \
         difference from the history is not only drift",
        list(" (pending: ", pending),
        list(" (failed: ", failed),
        list(" (modified after applying: ", modified)
    )]
    HistoryNotApplied {
        pending: Vec<String>,
        failed: Vec<String>,
        modified: Vec<String>,
    },
    #[error(
        "the SQL devdb computed does not reproduce the local database (checked on a copy of the \
         history; nothing was written):\n{}{}",
        differences.join("\n"),
        match not_expressed.is_empty() {
            true => String::new(),
            false => format!("\nnot expressed by devdb's differ:\n  {}", not_expressed.join("\n  ")),
        }
    )]
    DriftNotReproduced {
        differences: Vec<String>,
        not_expressed: Vec<String>,
    },
    #[error("pg_dump of database {database} in container {container} failed:\n{stderr}")]
    Dump {
        database: String,
        container: String,
        stderr: String,
    },
    #[error("comparing the schemas: {0}")]
    Differ(String),
    #[error(transparent)]
    Docker(Box<crate::docker::DockerError>),
    // Boxed: the other modules' errors are large, this enum's own are small.
    #[error(transparent)]
    Local(Box<crate::local::LocalError>),
    #[error(transparent)]
    Db(Box<crate::db::DbError>),
    #[error(transparent)]
    Migrate(Box<crate::migrate::MigrateError>),
    #[error(transparent)]
    Workflow(Box<crate::workflow::WorkflowError>),
    #[error(transparent)]
    Config(Box<crate::config::ConfigError>),
    #[error(transparent)]
    Generate(Box<crate::generate::GenerateError>),
}

impl DevloopError {
    /// What to do about it, shown apart from the message.
    pub fn hint(&self) -> Option<Hint> {
        let text = match self {
            DevloopError::NoSchema { .. } => "pass --schema PATH, or set `schema` in prisma.config.ts \
                 or a `prisma` generator in x-devdb.generate",
            DevloopError::NoPrisma { .. } => "`npm install --save-dev prisma` in the project, or set \
                 DEVDB_PRISMA to the prisma executable",
            DevloopError::Spawn { .. } => {
                "check that it is executable (DEVDB_PRISMA, node_modules/.bin/prisma or npx)"
            }
            DevloopError::PrismaFailed { .. } => {
                "fix what Prisma names above (`prisma validate` checks the schema), then run it again"
            }
            DevloopError::HistoryNotApplied { .. } => {
                "run `devdb migrate deploy` (or resolve the failed or modified migration, see \
                 `devdb migrate status`) first, then adopt the drift"
            }
            DevloopError::DriftNotReproduced { .. } => {
                "write this change as a migration by hand (`devdb migrate new NAME`, then `devdb \
                 migrate resolve --applied NAME`), or undo it locally with `devdb reset`"
            }
            DevloopError::Dump { .. } => {
                "the database container must run and accept local connections for its user \
                 (`devdb up`, `devdb logs`)"
            }
            DevloopError::Differ(_) => "this dump holds a statement devdb cannot read; please report it",
            DevloopError::Docker(e) => return e.hint(),
            DevloopError::Local(e) => return e.hint(),
            DevloopError::Migrate(e) => return e.hint(),
            DevloopError::Workflow(e) => return e.hint(),
            DevloopError::Config(e) => return e.hint().map(Hint::suggest),
            DevloopError::Generate(e) => return e.hint(),
            DevloopError::Database { error, .. } => return crate::db::postgres_hint(error),
            DevloopError::Db(e) => return e.hint(),
            DevloopError::Io { .. } => return None,
        };
        Some(Hint::suggest(text))
    }
}

impl From<crate::local::LocalError> for DevloopError {
    fn from(error: crate::local::LocalError) -> Self {
        DevloopError::Local(Box::new(error))
    }
}

impl From<crate::db::DbError> for DevloopError {
    fn from(error: crate::db::DbError) -> Self {
        DevloopError::Db(Box::new(error))
    }
}

impl From<crate::migrate::MigrateError> for DevloopError {
    fn from(error: crate::migrate::MigrateError) -> Self {
        DevloopError::Migrate(Box::new(error))
    }
}

impl From<crate::workflow::WorkflowError> for DevloopError {
    fn from(error: crate::workflow::WorkflowError) -> Self {
        DevloopError::Workflow(Box::new(error))
    }
}

impl From<crate::config::ConfigError> for DevloopError {
    fn from(error: crate::config::ConfigError) -> Self {
        DevloopError::Config(Box::new(error))
    }
}

/// `prefix` and the names, comma-separated, and `)`; nothing when there are none.
fn list(prefix: &str, names: &[String]) -> String {
    match names.is_empty() {
        true => String::new(),
        false => format!("{prefix}{})", names.join(", ")),
    }
}

impl From<crate::generate::GenerateError> for DevloopError {
    fn from(error: crate::generate::GenerateError) -> Self {
        DevloopError::Generate(Box::new(error))
    }
}

/// Wraps a Postgres error with what devdb was doing.
fn db_error(action: &str) -> impl FnOnce(tokio_postgres::Error) -> DevloopError + '_ {
    move |error| DevloopError::Database {
        action: action.to_string(),
        error,
    }
}
