//! Copying selected tables from a remote stage into the local database: streamed in-process
//! with COPY, read-only on the remote from one snapshot, into one local transaction that
//! commits only when every foreign key touching the copied tables holds (`integrity`).

mod catalog;
mod fix_missing;
pub mod follow;
pub mod integrity;
pub mod plan;
mod restrict;
pub mod saved;
pub mod structure;
mod transfer;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use crate::config::Config;
use crate::db::stage::Stage;
use crate::db::ConnectionInfo;
use crate::shell::Shell;
pub use fix_missing::write_structure;
use plan::{MaskRule, TableName, TablePlan};
pub use transfer::TableResult;

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("name the tables to copy (arguments) or list them in x-devdb.copy.tables")]
    NoTables,
    #[error("{}", describe_unknown(unknown, stage))]
    UnknownTables {
        stage: String,
        unknown: Vec<(String, Vec<String>)>,
    },
    #[error(
        "{table} exists on stage {stage} but not in the local database\n  \
         hint: deploy the migration that creates it, or copy its structure with `devdb copy {table} --from {stage} --schema`"
    )]
    MissingLocally { table: String, stage: String },
    #[error("--where `{0}` is not TABLE:CONDITION")]
    BadWhere(String),
    #[error(transparent)]
    Plan(#[from] plan::PlanError),
    #[error(
        "copying {table} failed; nothing was copied, the local rows are unchanged:\n  {error}"
    )]
    TableFailed {
        table: String,
        error: Box<CopyError>,
    },
    #[error("{0}")]
    MaskBreaksKey(String),
    #[error("{}", integrity::describe_violations(.0))]
    Dangling(Vec<integrity::Violation>),
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
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    #[error(transparent)]
    Docker(#[from] crate::docker::DockerError),
    #[error("{0}")]
    Structure(String),
}

fn describe_unknown(unknown: &[(String, Vec<String>)], stage: &str) -> String {
    let lines: Vec<String> = unknown
        .iter()
        .map(|(name, close)| {
            if close.is_empty() {
                format!("  `{name}`: no such table on stage {stage}")
            } else {
                format!(
                    "  `{name}`: no such table on stage {stage}; did you mean {}?",
                    close.join(", ")
                )
            }
        })
        .collect();
    format!("unknown tables, nothing was copied:\n{}", lines.join("\n"))
}

#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
    pub tables: Vec<String>,
    pub jobs: Option<usize>,
    /// `TABLE:CONDITION` pairs from `--where`.
    pub filters: Vec<String>,
    /// Keep the rows under `.devdb/` for `devdb reset`.
    pub save: bool,
    /// Delete local rows that would dangle instead of refusing the copy.
    pub prune_dangling: bool,
    /// Do not pull referenced parent rows; a copy that needs them is refused instead.
    pub no_follow: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CopyReport {
    pub stage: String,
    pub tables: Vec<TableResult>,
    /// Rows added because copied rows reference them, per table and foreign key.
    pub followed: Vec<follow::Followed>,
    /// Rows `--prune-dangling` deleted, per table and foreign key.
    pub pruned: Vec<integrity::Pruned>,
    pub seconds: f64,
}

/// Copies the tables' rows from `stage` into the local database.
pub async fn copy_data(
    shell: &Shell,
    config: &Config,
    local: &ConnectionInfo,
    stage: &Stage,
    options: &CopyOptions,
) -> Result<CopyReport, CopyError> {
    let started = Instant::now();
    // One read-only snapshot for every table (all are read through this session), so rows
    // that reference each other match.
    let coordinator = stage.connect(true).await?;
    stage
        .refuse_if_local(&coordinator, &local.connect().await?)
        .await?;
    coordinator
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(|error| CopyError::Database {
            action: "opening a snapshot on the stage".into(),
            error,
        })?;
    let requested = if options.tables.is_empty() {
        config.settings.copy.tables.clone()
    } else {
        options.tables.clone()
    };
    if requested.is_empty() {
        return Err(CopyError::NoTables);
    }
    let available = catalog::tables(&coordinator).await?;
    let tables =
        plan::expand(&requested, &available).map_err(|unknown| CopyError::UnknownTables {
            stage: stage.name.clone(),
            unknown,
        })?;
    let filters = parse_filters(&options.filters, config)?;
    plan::check_entries(&config.settings.copy, &options.filters, &tables, &available)?;
    let mask_key = saved::mask_key(config)?;
    let local_client = local.connect().await?;
    // Metadata once: one catalog query per side for all the tables.
    let remote_info = catalog::describe(&coordinator, &tables).await?;
    let mut local_info = catalog::describe(&local_client, &tables).await?;
    let keys = integrity::foreign_keys_touching(&local_client, &tables).await?;
    let mut plans = Vec::new();
    for table in &tables {
        let Some(local_table) = local_info.get(table) else {
            return Err(CopyError::MissingLocally {
                table: table.to_string(),
                stage: stage.name.clone(),
            });
        };
        let remote_table = remote_info.get(table).cloned().unwrap_or_default();
        let masks = masks_for(config, table);
        let limit = lookup(&config.settings.copy.limit, table).copied();
        let own = lookup(&filters, table).cloned();
        let restricted = own.is_none() && limit.is_none();
        let filter = if restricted {
            restrict::selection(table, &keys, &tables, &|t| {
                if lookup(&config.settings.copy.limit, t).is_some() {
                    None
                } else {
                    lookup(&filters, t).cloned()
                }
            })
        } else {
            own
        };
        let filter = filter.as_deref();
        let plan = plan::plan_table_keyed(
            table,
            &remote_table.columns,
            &local_table.columns,
            &masks,
            filter,
            limit,
            mask_key.as_ref(),
        )?;
        plans.push(Planned {
            plan,
            remote_partitioned: remote_table.partitioned,
            local: local_info.remove(table).unwrap_or_default(),
        });
    }
    integrity::check_masks(&keys, |table, column| {
        masks_for(config, table).remove(column)
    })?;
    drop(local_client);
    for Planned { plan, .. } in &plans {
        if !plan.skipped.is_empty() {
            shell.note(format!(
                "{}: remote-only columns skipped: {}",
                plan.table,
                plan.skipped.join(", ")
            ));
        }
    }

    let save_dir = if options.save {
        Some(saved::prepare_dir(config)?)
    } else {
        None
    };
    let bars = shell.multi();
    let total = bars.add(shell.steps_bar(plans.len() as u64, format!("copy from {}", stage.name)));
    // Every table in one local transaction, read from the one stage snapshot, so the FK check
    // before the commit sees the whole result and a failure anywhere leaves every table as it
    // was. Tables therefore load one after another.
    let mut local_client = local.connect().await?;
    let mut load = transfer::LocalLoad::begin(&mut local_client).await?;
    let mut copied = Vec::new();
    for planned in &plans {
        let bar = bars.insert_before(&total, shell.bytes_bar(planned.plan.table.to_string()));
        let save = save_dir.as_ref().map(|dir| transfer::SaveTo {
            path: dir.join(saved::file_name(&planned.plan.table)),
        });
        let result = transfer::copy_table(
            &coordinator,
            &mut load,
            &planned.plan,
            planned.remote_partitioned,
            &planned.local,
            &bar,
            save.as_ref(),
        )
        .await;
        // Each saved file's manifest entry is written as soon as the file is in place, so an
        // interrupted copy never pairs a new file with an old entry.
        let result = match (result, save_dir.as_ref()) {
            (Ok(done), Some(dir)) => saved::record(
                dir,
                &stage.name,
                std::iter::once((&planned.plan, done.rows)),
            )
            .map(|()| done),
            (other, _) => other,
        };
        bar.finish_and_clear();
        total.inc(1);
        match result {
            Ok(done) => copied.push(done),
            Err(error) => {
                return Err(CopyError::TableFailed {
                    table: planned.plan.table.to_string(),
                    error: Box::new(error),
                })
            }
        }
    }
    total.finish_and_clear();
    let followed = if options.no_follow {
        Vec::new()
    } else {
        let plan_client = local.connect().await?;
        let (remote, plan_local, key) = (&coordinator, &plan_client, mask_key.as_ref());
        let stage_name = stage.name.as_str();
        follow::follow_parents(&coordinator, &mut load, |table| async move {
            plan_source(config, remote, plan_local, &table, key, stage_name).await
        })
        .await?
    };
    for entry in &followed {
        shell.note(format!(
            "added {} rows to {} that {} references ({})",
            entry.rows, entry.table, entry.from, entry.foreign_key
        ));
    }
    let pruned = load.finish(options.prune_dangling).await?;
    drop(coordinator);
    for entry in &pruned {
        shell.note(format!(
            "--prune-dangling: deleted {} rows of {} that broke {}",
            entry.rows, entry.table, entry.foreign_key
        ));
    }
    let mut tables = copied;
    tables.sort_by(|a, b| a.table.cmp(&b.table));
    Ok(CopyReport {
        stage: stage.name.clone(),
        tables,
        followed,
        pruned,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// A table's plan with what the copy needs of both catalogs.
struct Planned {
    plan: TablePlan,
    remote_partitioned: bool,
    local: catalog::TableInfo,
}

/// How a parent table the copy follows is read from the stage: all its columns the local table
/// has, with the project's masks, no filter (only the referenced rows are asked for).
async fn plan_source(
    config: &Config,
    remote: &tokio_postgres::Client,
    local: &tokio_postgres::Client,
    table: &TableName,
    key: Option<&plan::MaskKey>,
    stage: &str,
) -> Result<follow::Source, CopyError> {
    let tables = std::slice::from_ref(table);
    let remote_table = catalog::describe(remote, tables).await?.remove(table);
    let Some(remote_table) = remote_table else {
        return Err(CopyError::Structure(format!(
            "copied rows reference {table}, which stage {stage} does not have; \
             copy with --no-follow and --prune-dangling to drop those rows instead"
        )));
    };
    let local_table = catalog::describe(local, tables)
        .await?
        .remove(table)
        .unwrap_or_default();
    let plan = plan::plan_table_keyed(
        table,
        &remote_table.columns,
        &local_table.columns,
        &masks_for(config, table),
        None,
        None,
        key,
    )?;
    Ok(follow::Source {
        plan,
        remote_columns: remote_table.columns,
    })
}

/// Masks configured for `table`: keys are `table.column` or `schema.table.column`.
fn masks_for(config: &Config, table: &TableName) -> BTreeMap<String, MaskRule> {
    config
        .settings
        .copy
        .mask
        .iter()
        .filter_map(|(key, rule)| {
            let (table_part, column) = key.rsplit_once('.')?;
            plan::entry_matches(table_part, table).then(|| (column.to_string(), rule.clone()))
        })
        .collect()
}

fn lookup<'a, T>(map: &'a BTreeMap<String, T>, table: &TableName) -> Option<&'a T> {
    map.iter()
        .find(|(key, _)| plan::entry_matches(key, table))
        .map(|(_, value)| value)
}

fn parse_filters(
    arguments: &[String],
    config: &Config,
) -> Result<BTreeMap<String, String>, CopyError> {
    let mut filters = config.settings.copy.filter.clone();
    for argument in arguments {
        let (table, condition) = argument
            .split_once(':')
            .ok_or_else(|| CopyError::BadWhere(argument.clone()))?;
        if table.trim().is_empty() || condition.trim().is_empty() {
            return Err(CopyError::BadWhere(argument.clone()));
        }
        filters.insert(table.trim().to_string(), condition.to_string());
    }
    Ok(filters)
}

/// The end-of-copy summary: rows, MB, seconds and MB/s per table.
pub fn summary(report: &CopyReport) -> String {
    let mut out = format!(
        "{:<40} {:>10} {:>9} {:>8} {:>8}  {}\n",
        "TABLE", "ROWS", "MB", "SECONDS", "MB/S", "FORMAT"
    );
    let (mut rows, mut bytes) = (0u64, 0u64);
    for table in &report.tables {
        let mb = table.bytes as f64 / 1e6;
        out.push_str(&format!(
            "{:<40} {:>10} {:>9.1} {:>8.2} {:>8.1}  {:?}\n",
            table.table,
            table.rows,
            mb,
            table.seconds,
            mb / table.seconds.max(1e-6),
            table.format
        ));
        rows += table.rows;
        bytes += table.bytes;
    }
    out.push_str(&format!(
        "{:<40} {:>10} {:>9.1} {:>8.2} {:>8.1}\n",
        "total",
        rows,
        bytes as f64 / 1e6,
        report.seconds,
        bytes as f64 / 1e6 / report.seconds.max(1e-6)
    ));
    out
}
