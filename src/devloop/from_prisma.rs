//! `migrate diff --from-prisma` and `migrate new NAME --from-prisma`: Prisma's own SQL from the
//! migration history's database (a throwaway copy of its snapshot) to schema.prisma. Prisma's
//! `migrate dev` computes the same by replaying every migration into a shadow database first.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::history::{self, HistoryCopy};
use super::prisma_cli::{self, PrismaCli};
use super::report::{self, Diff, New};
use super::DevloopError;
use crate::config::{Config, GeneratorSettings};
use crate::migrate::{self, files};

/// What `migrate new --from-prisma` was asked for.
#[derive(Debug, Clone, Default)]
pub struct NewOptions {
    pub name: String,
    /// Write the folder only; do not apply it locally.
    pub create_only: bool,
}

/// Where the schema is: `explicit`, else the `prisma` generator's file, else prisma.config.ts's
/// `schema`, else `prisma/schema.prisma` or `schema.prisma` in the project root.
pub fn locate_schema(config: &Config, explicit: Option<&Path>) -> Result<PathBuf, DevloopError> {
    if let Some(path) = explicit {
        return Ok(std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()));
    }
    let mut looked = Vec::new();
    let generator = config.settings.generate.iter().find_map(|g| match g {
        GeneratorSettings::Prisma { schema, .. } => {
            Some(crate::config::clean_path(&config.dir().join(schema)))
        }
        _ => None,
    });
    let configured = match crate::config::prisma_config::find(config.root())? {
        Some(prisma_config) => prisma_config.schema_path()?,
        None => None,
    };
    let defaults = [
        config.root().join("prisma/schema.prisma"),
        config.root().join("schema.prisma"),
    ];
    for candidate in generator.into_iter().chain(configured).chain(defaults) {
        if candidate.exists() {
            return Ok(candidate);
        }
        looked.push(candidate);
    }
    Err(DevloopError::NoSchema { looked })
}

/// The SQL from the history to the schema, and what the history's copy was made from.
struct Computed {
    schema: PathBuf,
    sql: String,
    history: String,
    replayed: usize,
    history_milliseconds: u64,
    prisma_milliseconds: u64,
}

async fn compute(config: &Config, schema: Option<&Path>) -> Result<Computed, DevloopError> {
    let schema = locate_schema(config, schema)?;
    let schema_dir = match schema.is_dir() {
        true => schema.clone(),
        false => schema.parent().unwrap_or(Path::new(".")).to_path_buf(),
    };
    let explicit = std::env::var("DEVDB_PRISMA").ok();
    let prisma = prisma_cli::find(explicit.as_deref(), &schema_dir, config.root())?;
    let dir = config.migrations_dir();
    files::ensure_lock_file(&dir)?;
    let files = files::discover(&dir)?;
    let local = crate::local::database(config).await?;
    let admin = local.maintenance().connect().await?;
    let at = Instant::now();
    let copy = history::open(&admin, &local, &dir, &files).await?;
    let mut history_time = at.elapsed();
    let at = Instant::now();
    let sql = run_prisma(&prisma, &schema, &copy, config.root()).await;
    let prisma_time = at.elapsed();
    let at = Instant::now();
    history::close(&admin, &copy.connection).await?;
    history_time += at.elapsed();
    if copy.replayed > 0 {
        // The history had no snapshot: the background job makes it for the next run.
        crate::workflow::spare::spawn(config);
    }
    Ok(Computed {
        schema,
        sql: sql?,
        history: copy.source,
        replayed: copy.replayed,
        history_milliseconds: report::millis(history_time.as_millis()),
        prisma_milliseconds: report::millis(prisma_time.as_millis()),
    })
}

async fn run_prisma(
    prisma: &PrismaCli,
    schema: &Path,
    copy: &HistoryCopy,
    root: &Path,
) -> Result<String, DevloopError> {
    prisma_cli::migrate_diff(prisma, schema, &copy.connection, root).await
}

/// `devdb migrate diff --from-prisma`.
pub async fn diff_from_prisma(
    config: &Config,
    schema: Option<&Path>,
) -> Result<Diff, DevloopError> {
    let started = Instant::now();
    let computed = compute(config, schema).await?;
    Ok(Diff {
        schema: computed.schema.display().to_string(),
        empty: prisma_cli::is_empty_script(&computed.sql),
        sql: computed.sql,
        history: computed.history,
        replayed: computed.replayed,
        history_milliseconds: computed.history_milliseconds,
        prisma_milliseconds: computed.prisma_milliseconds,
        milliseconds: report::millis(started.elapsed().as_millis()),
    })
}

/// `devdb migrate new NAME --from-prisma`: writes Prisma's script as a new migration (nothing
/// when it is empty) and applies it locally unless `create_only`.
pub async fn new_from_prisma(
    config: &Config,
    schema: Option<&Path>,
    options: &NewOptions,
) -> Result<New, DevloopError> {
    let started = Instant::now();
    // A bad name fails before Prisma runs.
    if files::sanitize_name(&options.name).is_empty() {
        return Err(migrate::MigrateError::BadName {
            name: options.name.clone(),
        }
        .into());
    }
    let computed = compute(config, schema).await?;
    let empty = prisma_cli::is_empty_script(&computed.sql);
    let mut written = None;
    let mut applied = false;
    if !empty {
        let dir = config.migrations_dir();
        let path = files::create(&dir, &options.name, chrono::Utc::now())?;
        std::fs::write(&path, &computed.sql).map_err(|source| DevloopError::Io {
            path: path.clone(),
            source,
        })?;
        if !options.create_only {
            let local = crate::local::database(config).await?;
            let client = local.connect().await?;
            migrate::deploy(&client, &dir, &files::discover(&dir)?).await?;
            applied = true;
        }
        // The history grew: the background job makes its snapshot for the next run.
        crate::workflow::spare::spawn(config);
        written = Some(path);
    }
    Ok(New {
        migration: written.as_ref().and_then(|p| {
            p.parent()
                .and_then(|f| f.file_name())
                .map(|n| n.to_string_lossy().into_owned())
        }),
        path: written.map(|p| p.display().to_string()),
        sql: computed.sql,
        empty,
        applied,
        history: computed.history,
        replayed: computed.replayed,
        history_milliseconds: computed.history_milliseconds,
        prisma_milliseconds: computed.prisma_milliseconds,
        milliseconds: report::millis(started.elapsed().as_millis()),
    })
}
