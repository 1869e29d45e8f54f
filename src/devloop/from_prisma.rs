//! `migrate diff --from-prisma` and `migrate new NAME --from-prisma`: Prisma's own SQL from the
//! migration history's database (a throwaway copy of its snapshot) to schema.prisma. Prisma's
//! `migrate dev` computes the same by replaying every migration into a shadow database first.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::datamodel::{self, Plan};
use super::history::{self, HistoryCopy};
use super::prisma_cli::{self, PrismaCli};
use super::report::{self, Diff, New};
use super::DevloopError;
use crate::config::{Config, GeneratorSettings};
use crate::db::ConnectionInfo;
use crate::migrate::{self, files};
use crate::shell::Shell;

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

/// Which of Prisma's inputs stood for the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// devdb's datamodel of the history (`--from-schema`): Prisma reads no database.
    Schema,
    /// A throwaway copy of the history's database (`--from-config-datasource`).
    Database,
}

impl Route {
    pub fn name(self) -> &'static str {
        match self {
            Route::Schema => "schema",
            Route::Database => "database",
        }
    }
}

/// Forces the database route (`DEVDB_FROM_PRISMA_ROUTE=database`), e.g. to compare the routes.
const ROUTE_VARIABLE: &str = "DEVDB_FROM_PRISMA_ROUTE";

/// The SQL from the history to the schema, and what stood for the history.
struct Computed {
    schema: PathBuf,
    sql: String,
    history: String,
    replayed: usize,
    history_milliseconds: u64,
    prisma_milliseconds: u64,
    route: Route,
    fallback: Option<String>,
    datamodel_cached: bool,
}

/// Everything a run needs before it touches the history.
struct Inputs {
    schema: PathBuf,
    prisma: PrismaCli,
    dir: PathBuf,
    files: Vec<files::MigrationFile>,
}

fn inputs(config: &Config, schema: Option<&Path>) -> Result<Inputs, DevloopError> {
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
    Ok(Inputs {
        schema,
        prisma,
        dir,
        files,
    })
}

async fn compute(
    config: &Config,
    local: &ConnectionInfo,
    schema: Option<&Path>,
) -> Result<Computed, DevloopError> {
    let inputs = inputs(config, schema)?;
    let admin = local.maintenance().connect().await?;
    let at = Instant::now();
    let key = history_key(&admin, &inputs.files).await?;
    let root = config.root();
    let cached = match std::env::var(ROUTE_VARIABLE).as_deref() {
        Ok("database") => Some(Plan::Fallback(format!("{ROUTE_VARIABLE}=database"))),
        _ => datamodel::cached(root, &key),
    };
    if let Some(Plan::Datamodel(path)) = &cached {
        // Warm: the datamodel says the whole history, no database is copied or read.
        let history_time = at.elapsed();
        let at = Instant::now();
        let sql = prisma_cli::migrate_diff_schemas(
            &inputs.prisma,
            path,
            &inputs.schema,
            &local.maintenance(),
            root,
        )
        .await?;
        return Ok(Computed {
            history: format!("the cached datamodel of {} migrations", inputs.files.len()),
            replayed: 0,
            history_milliseconds: report::millis(history_time.as_millis()),
            prisma_milliseconds: report::millis(at.elapsed().as_millis()),
            route: Route::Schema,
            fallback: None,
            datamodel_cached: true,
            schema: inputs.schema,
            sql,
        });
    }
    let copy = history::open(&admin, local, &inputs.dir, &inputs.files).await?;
    let plan = match cached {
        Some(plan) => Ok(plan),
        None => plan_from_copy(&copy, root, &key).await,
    };
    let plan = match plan {
        Ok(plan) => plan,
        Err(error) => {
            history::close(&admin, &copy.connection).await.ok();
            return Err(error);
        }
    };
    let history_time = at.elapsed();
    let computed = diff_from_copy(&inputs, &admin, local, copy, plan, root).await?;
    if computed.replayed > 0 {
        // The history had no snapshot: the background job makes it for the next run.
        crate::workflow::spare::spawn(config);
    }
    Ok(Computed {
        history_milliseconds: computed.history_milliseconds
            + report::millis(history_time.as_millis()),
        ..computed
    })
}

/// The datamodel cache's key of the history `files` on `admin`'s server.
async fn history_key(
    admin: &tokio_postgres::Client,
    files: &[files::MigrationFile],
) -> Result<String, DevloopError> {
    let hashes = crate::workflow::snapshot::prefix_hashes(files);
    Ok(datamodel::key(
        hashes.last().map(String::as_str),
        &server_version(admin).await?,
    ))
}

async fn server_version(admin: &tokio_postgres::Client) -> Result<String, DevloopError> {
    let row = admin
        .query_one("SHOW server_version", &[])
        .await
        .map_err(super::db_error("reading the server's version"))?;
    Ok(row.get(0))
}

/// Renders (and caches) the datamodel of the history copy, or the reason it cannot say it all.
async fn plan_from_copy(copy: &HistoryCopy, root: &Path, key: &str) -> Result<Plan, DevloopError> {
    let client = copy.connection.connect().await?;
    datamodel::plan(&client, root, key).await
}

/// Prisma's diff from the history (the datamodel, or else the copy itself) to the schema; the
/// copy is dropped while Prisma runs when Prisma does not need it. `history_milliseconds` here
/// is the part of dropping the copy that Prisma did not hide.
async fn diff_from_copy(
    inputs: &Inputs,
    admin: &tokio_postgres::Client,
    local: &ConnectionInfo,
    copy: HistoryCopy,
    plan: Plan,
    root: &Path,
) -> Result<Computed, DevloopError> {
    let at = Instant::now();
    let (route, fallback, sql, prisma_time) = match plan {
        Plan::Datamodel(path) => {
            let maintenance = local.maintenance();
            let prisma = async {
                let sql = prisma_cli::migrate_diff_schemas(
                    &inputs.prisma,
                    &path,
                    &inputs.schema,
                    &maintenance,
                    root,
                )
                .await;
                (sql, at.elapsed())
            };
            let ((sql, prisma_time), closed) =
                tokio::join!(prisma, history::close(admin, &copy.connection));
            closed?;
            (Route::Schema, None, sql, prisma_time)
        }
        Plan::Fallback(reason) => {
            let sql =
                prisma_cli::migrate_diff(&inputs.prisma, &inputs.schema, &copy.connection, root)
                    .await;
            let prisma_time = at.elapsed();
            history::close(admin, &copy.connection).await?;
            (Route::Database, Some(reason), sql, prisma_time)
        }
    };
    let closing = at.elapsed().saturating_sub(prisma_time);
    let history = match &fallback {
        None => format!("{}, rendered as a datamodel", copy.source),
        Some(reason) => format!("{} (no datamodel: {reason})", copy.source),
    };
    Ok(Computed {
        schema: inputs.schema.clone(),
        sql: sql?,
        history,
        replayed: copy.replayed,
        history_milliseconds: report::millis(closing.as_millis()),
        prisma_milliseconds: report::millis(prisma_time.as_millis()),
        route,
        fallback,
        datamodel_cached: false,
    })
}

/// What the background job did about the history's datamodel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prerendered {
    /// Read from a copy of the history's snapshot and cached (a datamodel, or why none).
    Rendered(Plan),
    /// Nothing to do, or nothing it may do: why.
    Skipped(&'static str),
}

/// Why the background job leaves the datamodel alone (None: it renders it).
fn skip_reason(keeps_template1: bool, has_schema: bool, migrations: usize) -> Option<&'static str> {
    match () {
        // Its session would sit on template1, which every plain CREATE DATABASE copies.
        _ if keeps_template1 => Some("the maintenance database is template1"),
        _ if !has_schema => Some("no schema.prisma"),
        _ if migrations == 0 => Some("no migrations"),
        _ => None,
    }
}

/// The background job's part of `--from-prisma` (after the snapshots are made): renders the
/// datamodel of the history on disk into the cache, from a throwaway copy of the history's own
/// snapshot (never a replay), so the next run (after `migrate new`, after a reset) is a cached
/// one. The copy is a database of its own, dropped after: resets and snapshots never wait for it.
pub async fn prerender(
    config: &Config,
    local: &ConnectionInfo,
    admin: &tokio_postgres::Client,
) -> Result<Prerendered, DevloopError> {
    let template1 = crate::db::maintenance_database(&local.database) == "template1";
    let has_schema = locate_schema(config, None).is_ok();
    let dir = config.migrations_dir();
    let files = files::discover(&dir)?;
    if let Some(reason) = skip_reason(template1, has_schema, files.len()) {
        return Ok(Prerendered::Skipped(reason));
    }
    let key = history_key(admin, &files).await?;
    if datamodel::cached(config.root(), &key).is_some() {
        return Ok(Prerendered::Skipped("already cached"));
    }
    if !history::has_snapshot(admin, &files).await? {
        return Ok(Prerendered::Skipped("the history has no snapshot"));
    }
    let copy = history::open(admin, local, &dir, &files).await?;
    let plan = plan_from_copy(&copy, config.root(), &key).await;
    let closed = history::close(admin, &copy.connection).await;
    let plan = plan?;
    closed?;
    Ok(Prerendered::Rendered(plan))
}

/// `devdb migrate diff --from-prisma`.
pub async fn diff_from_prisma(
    config: &Config,
    local: &ConnectionInfo,
    schema: Option<&Path>,
) -> Result<Diff, DevloopError> {
    let started = Instant::now();
    let computed = compute(config, local, schema).await?;
    Ok(Diff {
        schema: computed.schema.display().to_string(),
        empty: prisma_cli::is_empty_script(&computed.sql),
        sql: computed.sql,
        history: computed.history,
        replayed: computed.replayed,
        history_milliseconds: computed.history_milliseconds,
        prisma_milliseconds: computed.prisma_milliseconds,
        route: computed.route.name().to_string(),
        fallback: computed.fallback,
        datamodel_cached: computed.datamodel_cached,
        milliseconds: report::millis(started.elapsed().as_millis()),
    })
}

/// `devdb migrate new NAME --from-prisma`: writes Prisma's script as a new migration (nothing
/// when it is empty) and applies it locally unless `create_only`.
pub async fn new_from_prisma(
    shell: &Shell,
    config: &Config,
    local: &ConnectionInfo,
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
    let computed = compute(config, local, schema).await?;
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
            let client = local.connect().await?;
            migrate::deploy(shell, &client, &dir, &files::discover(&dir)?).await?;
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
        route: computed.route.name().to_string(),
        fallback: computed.fallback,
        datamodel_cached: computed.datamodel_cached,
        milliseconds: report::millis(started.elapsed().as_millis()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_job_renders_only_for_a_prisma_project_with_a_history_and_template1_free() {
        assert_eq!(skip_reason(false, true, 3), None);
        assert_eq!(
            skip_reason(true, true, 3),
            Some("the maintenance database is template1")
        );
        assert_eq!(skip_reason(false, false, 3), Some("no schema.prisma"));
        assert_eq!(skip_reason(false, true, 0), Some("no migrations"));
    }
}
