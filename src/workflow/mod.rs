//! The daily loop in one command: `devdb reset` (containers up → database recreated from the
//! longest matching snapshot → remaining migrations → copied data → generators), and `watch`.

pub mod seed;
pub mod snapshot;
pub mod spare;
pub mod watch;

use std::time::Instant;

use serde::Serialize;

use crate::config::Config;
use crate::copy;
use crate::db::stage::Stage;
use crate::db::ConnectionInfo;
use crate::docker::Engine;
use crate::generate;
use crate::hint::Hint;
use crate::migrate::{self, files};
use crate::shell::Shell;

#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error(
        "`devdb reset` only resets the local database; it never touches a stage (got --stage {0})"
    )]
    RemoteStage(String),
    #[error("{action}: {}", crate::db::describe(error))]
    Database {
        action: String,
        error: tokio_postgres::Error,
    },
    #[error("--recopy: no saved tables in .devdb/ to copy again; run `devdb copy TABLES --from STAGE --save` first")]
    NothingToRecopy,
    #[error(transparent)]
    Local(#[from] crate::local::LocalError),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    #[error(transparent)]
    Migrate(#[from] migrate::MigrateError),
    #[error(transparent)]
    Copy(#[from] copy::CopyError),
    #[error(transparent)]
    Generate(#[from] generate::GenerateError),
    #[error(transparent)]
    Seed(#[from] seed::SeedError),
}

impl WorkflowError {
    /// What to do about it, shown apart from the message.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            WorkflowError::Local(e) => e.hint(),
            WorkflowError::Migrate(e) => e.hint(),
            WorkflowError::Copy(e) => e.hint(),
            WorkflowError::Generate(e) => e.hint(),
            WorkflowError::Seed(e) => e.hint(),
            WorkflowError::Database { error, .. } => crate::db::postgres_hint(error),
            WorkflowError::Db(e) => e.hint(),
            _ => None,
        }
    }
}

#[derive(Default)]
pub struct ResetOptions {
    pub no_data: bool,
    pub no_generate: bool,
    /// Leave the seed (x-devdb.seed) out.
    pub no_seed: bool,
    /// Copy the saved tables again from this stage instead of restoring the saved rows.
    pub recopy_from: Option<Stage>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub name: String,
    pub milliseconds: u128,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResetReport {
    pub steps: Vec<Step>,
    /// Migrations restored from a snapshot rather than applied.
    pub from_snapshot: usize,
    pub applied: Vec<String>,
    /// `ran`, `from_snapshot` (the seeded snapshot matched) or `skipped`; None without a seed.
    pub seed: Option<String>,
    pub total_milliseconds: u128,
}

struct Steps<'a> {
    shell: &'a Shell,
    steps: Vec<Step>,
    started: Instant,
}

impl Steps<'_> {
    fn begin(&mut self, name: &str) -> Instant {
        if self.shell.err_is_terminal() {
            self.shell.note(format!("… {name}"));
        }
        Instant::now()
    }

    fn end(&mut self, name: &str, started: Instant, detail: String) {
        let step = Step {
            name: name.to_string(),
            milliseconds: started.elapsed().as_millis(),
            detail,
        };
        self.shell.note(format!(
            "{:<10} {:>6} ms  {}",
            step.name, step.milliseconds, step.detail
        ));
        self.steps.push(step);
    }
}

/// Wraps a Postgres error with what devdb was doing.
fn db_error(action: &str) -> impl FnOnce(tokio_postgres::Error) -> WorkflowError + '_ {
    move |error| WorkflowError::Database {
        action: action.to_string(),
        error,
    }
}

/// Two resets of one database at once would drop and rename each other's databases; the second
/// waits for the first on an advisory lock of the maintenance database, held by `admin`'s
/// session until the reset ends.
pub async fn serialize_resets(
    shell: &Shell,
    admin: &tokio_postgres::Client,
    database: &str,
) -> Result<(), WorkflowError> {
    crate::db::take_reset_lock(admin, database, || {
        shell.note(format!(
            "another reset of database {database} is running; waiting for it to finish"
        ))
    })
    .await?;
    Ok(())
}

/// Recreates the local database, reusing the longest unchanged snapshot.
pub async fn reset(
    engine: &Engine,
    config: &Config,
    options: &ResetOptions,
) -> Result<ResetReport, WorkflowError> {
    let shell = &engine.shell;
    let mut steps = Steps {
        shell,
        steps: Vec::new(),
        started: Instant::now(),
    };

    let at = steps.begin("up");
    // up's session on the maintenance database is the reset's admin session: one login.
    let (local, admin) = crate::local::database_with_session(engine, config).await?;
    steps.end("up", at, local.redacted_url());

    let at = steps.begin("database");
    let dir = config.migrations_dir();
    files::ensure_lock_file(&dir)?;
    let files = files::discover(&dir)?;
    let history = History {
        hashes: snapshot::prefix_hashes(&files),
        files,
        dir,
    };
    serialize_resets(shell, &admin, &local.database).await?;
    let seed_plan = match options.no_seed {
        true => None,
        false => seed::SeedPlan::load(config)?,
    };
    let restored = restore_database(&admin, &local, &history, seed_plan.as_ref()).await?;
    steps.end("database", at, restored.detail);

    let applied = migrate_rest(&mut steps, &admin, &local, &history, restored.migrations).await?;
    let seed = match &seed_plan {
        None if config.settings.seed.is_empty() => None,
        None => Some("skipped"),
        Some(_) if restored.seeded => Some("from_snapshot"),
        Some(plan) => {
            run_seed(&mut steps, config, plan, &local, &admin, &history).await?;
            Some("ran")
        }
    };
    if !options.no_data {
        let at = steps.begin("data");
        let detail = restore_data(shell, config, &local, options).await?;
        steps.end("data", at, detail);
    }
    if !options.no_generate && !config.settings.generate.is_empty() {
        let at = steps.begin("generate");
        let client = local.connect().await?;
        let outcomes = generate::run(shell, config, &client, &local).await?;
        let changed = outcomes.iter().filter(|o| o.changed == Some(true)).count();
        steps.end(
            "generate",
            at,
            format!("{} generators, {changed} files changed", outcomes.len()),
        );
    }
    // Spares, snapshots and cleanup for the next reset, made in the background.
    spare::spawn(config);
    Ok(ResetReport {
        from_snapshot: restored.migrations,
        applied,
        seed: seed.map(str::to_string),
        total_milliseconds: steps.started.elapsed().as_millis(),
        steps: steps.steps,
    })
}

/// The migration history on disk, with the hash of each of its prefixes.
struct History {
    dir: std::path::PathBuf,
    files: Vec<files::MigrationFile>,
    hashes: Vec<String>,
}

/// Puts a new database in place: the seeded snapshot of an unchanged history and seed, else
/// the snapshot of the longest migrated prefix.
async fn restore_database(
    admin: &tokio_postgres::Client,
    local: &ConnectionInfo,
    history: &History,
    seed_plan: Option<&seed::SeedPlan>,
) -> Result<spare::Restored, WorkflowError> {
    let seeded_key = seed_plan.map(|plan| plan.snapshot_key(&history.hashes));
    let seeded = match &seeded_key {
        Some(key) => {
            spare::restore_seeded(admin, &local.database, key, history.files.len()).await?
        }
        None => None,
    };
    Ok(match seeded {
        Some(restored) => restored,
        None => spare::restore(admin, &local.database, &history.files, &history.hashes).await?,
    })
}

/// Applies the migrations the restored database lacks; returns their names.
async fn migrate_rest(
    steps: &mut Steps<'_>,
    admin: &tokio_postgres::Client,
    local: &ConnectionInfo,
    history: &History,
    restored: usize,
) -> Result<Vec<String>, WorkflowError> {
    let at = steps.begin("migrate");
    let files = &history.files;
    let mut applied = Vec::new();
    let mut kept = 0;
    // All but the last migration first: after a long replay (see INLINE_AFTER) both snapshots
    // an edit of the last migration needs are made now, not left to the background job.
    let before_last = files.len().saturating_sub(1);
    for upto in [before_last, files.len()] {
        if restored >= upto {
            continue;
        }
        let client = local.connect().await?;
        applied.extend(migrate::deploy(steps.shell, &client, &history.dir, &files[..upto]).await?);
        drop(client);
        if applied.len() > 1 && at.elapsed() > spare::INLINE_AFTER {
            kept +=
                spare::keep_inline(admin, &local.database, &files[..upto], &history.hashes).await?;
        }
    }
    let made = if kept > 0 {
        format!("; made {kept} snapshots")
    } else {
        String::new()
    };
    steps.end(
        "migrate",
        at,
        format!(
            "applied {} of {} migrations{made}",
            applied.len(),
            files.len()
        ),
    );
    Ok(applied.into_iter().map(|a| a.name).collect())
}

/// Runs the seed and keeps the seeded database as a snapshot for the next reset.
async fn run_seed(
    steps: &mut Steps<'_>,
    config: &Config,
    plan: &seed::SeedPlan,
    local: &ConnectionInfo,
    admin: &tokio_postgres::Client,
    history: &History,
) -> Result<(), WorkflowError> {
    let at = steps.begin("seed");
    seed::run(steps.shell, config, plan, local, Some(admin)).await?;
    let name = snapshot::database_name(&plan.snapshot_key(&history.hashes));
    let last = history
        .files
        .last()
        .map_or("no migrations".to_string(), |f| f.name.clone());
    snapshot::create(
        admin,
        &local.database,
        &name,
        history.files.len(),
        &format!("{last} + seed"),
    )
    .await?;
    steps.end(
        "seed",
        at,
        format!("ran {}; kept as a snapshot", plan.describe()),
    );
    Ok(())
}

async fn restore_data(
    shell: &Shell,
    config: &Config,
    local: &ConnectionInfo,
    options: &ResetOptions,
) -> Result<String, WorkflowError> {
    let manifest = copy::saved::read_manifest(&copy::saved::data_dir(config))?;
    if let Some(stage) = &options.recopy_from {
        return recopy(shell, config, local, stage, &manifest).await;
    }
    if manifest.tables.is_empty() {
        return Ok("no saved data (devdb copy --save keeps some)".to_string());
    }
    let restored = copy::saved::restore(config, local).await?;
    let rows: u64 = restored.iter().map(|(_, r)| r).sum();
    Ok(format!(
        "restored {} saved tables ({rows} rows)",
        restored.len()
    ))
}

/// Runs every saved copy again from `stage`, as it was made (its subset, conditions and
/// children), in the order they were made, so the new rows are the same closure read afresh
/// and every FK holds as after the first copies.
async fn recopy(
    shell: &Shell,
    config: &Config,
    local: &ConnectionInfo,
    stage: &Stage,
    manifest: &copy::saved::Manifest,
) -> Result<String, WorkflowError> {
    let recipes = manifest.recipes();
    if recipes.is_empty() {
        return Err(WorkflowError::NothingToRecopy);
    }
    let (mut tables, mut rows) = (0, 0u64);
    let mut made = Vec::new();
    for recipe in &recipes {
        let report = copy::copy_data(shell, config, local, stage, &recipe.options()).await?;
        tables += report.tables.len();
        rows += report.tables.iter().map(|t| t.rows).sum::<u64>();
        rows += report.followed.iter().map(|f| f.rows).sum::<u64>();
        made.push(recipe.describe());
    }
    Ok(format!(
        "copied {tables} tables ({rows} rows) again from {} ({})",
        stage.name,
        made.join("; ")
    ))
}
