//! Copying selected tables from a remote stage into the local database: streamed in-process
//! with COPY, read-only on the remote from one snapshot, into one local transaction that
//! commits only when every foreign key touching the copied tables holds (`integrity`).

mod catalog;
mod fix_missing;
pub mod follow;
pub mod graph;
pub mod integrity;
pub mod plan;
mod relations;
mod restrict;
pub mod saved;
pub mod structure;
mod subset;
mod transfer;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use crate::config::{Config, CopySettings};
use crate::db::stage::Stage;
use crate::db::ConnectionInfo;
use crate::hint::Hint;
use crate::pg::QualifiedName;
use crate::shell::Shell;
pub use fix_missing::write_structure;
use plan::TablePlan;
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
    #[error("{table} exists on stage {stage} but not in the local database")]
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
    /// A subset, virtual FK or follow rule that cannot be applied; nothing was copied.
    #[error("{0}")]
    Subset(String),
}

impl CopyError {
    /// What to do about it, shown apart from the message.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            CopyError::MissingLocally { table, stage } => Some(Hint::suggest(format!(
                "deploy the migration that creates it, or copy its structure with \
                 `devdb copy {table} --from {stage} --schema`"
            ))),
            CopyError::Plan(e) => e.hint(),
            CopyError::TableFailed { error, .. } => error.hint(),
            CopyError::Docker(e) => e.hint(),
            _ => None,
        }
    }
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
    /// Also copy the children of the chosen rows, this many FK levels down.
    pub with_children: Option<usize>,
    /// A named subset of `x-devdb.subsets` instead of `tables` and `filters`.
    pub subset: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CopyReport {
    pub stage: String,
    pub tables: Vec<TableResult>,
    /// Rows added because copied rows reference them, per table and foreign key.
    pub followed: Vec<follow::Followed>,
    /// Rows `--prune-dangling` deleted, per table and foreign key.
    pub pruned: Vec<integrity::Pruned>,
    /// Tables copied because their rows reference the chosen rows (`--with-children`).
    pub children: Vec<ChildTable>,
    /// Keys cut to null by a `set-null` rule, per table and foreign key.
    pub cut: Vec<follow::Cut>,
    pub seconds: f64,
}

/// A table `--with-children` added, and the FKs that brought it.
#[derive(Debug, Clone, Serialize)]
pub struct ChildTable {
    pub table: String,
    pub foreign_keys: Vec<String>,
    pub depth: usize,
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
    let selection = subset::select(config, options)?;
    if selection.tables.is_empty() {
        return Err(CopyError::NoTables);
    }
    let available = catalog::tables(&coordinator).await?;
    let mut tables = plan::expand(&selection.tables, &available).map_err(|unknown| {
        CopyError::UnknownTables {
            stage: stage.name.clone(),
            unknown,
        }
    })?;
    let copy = &selection.copy;
    let filters = parse_filters(&selection.cli_where, copy)?;
    plan::check_entries(copy, &selection.cli_where, &tables, &available)?;
    let mask_key = saved::mask_key(config)?;
    let local_client = local.connect().await?;
    let keys_of = integrity::Keys {
        declared: relations::resolve(&config.settings.relations, &local_client).await?,
    };
    let graph = keys_of.touching(&local_client, &available).await?;
    graph::check_rules(&selection.rules, &graph, &selection.name).map_err(CopyError::Subset)?;
    let reached = reach_children(shell, &selection, &tables, &graph, &available)?;
    tables.extend(reached.iter().map(|r| r.table.clone()));
    // Metadata once: one catalog query per side for all the tables.
    let remote_info = catalog::describe(&coordinator, &tables).await?;
    let mut local_info = catalog::describe(&local_client, &tables).await?;
    let keys = keys_of.touching(&local_client, &tables).await?;
    let own_filter = |t: &QualifiedName| {
        if plan::lookup(&copy.limit, t).is_some() {
            None
        } else {
            plan::lookup(&filters, t).cloned()
        }
    };
    let mut plans = Vec::new();
    for table in &tables {
        let Some(local_table) = local_info.get(table) else {
            return Err(CopyError::MissingLocally {
                table: table.to_string(),
                stage: stage.name.clone(),
            });
        };
        let remote_table = remote_info.get(table).cloned().unwrap_or_default();
        let masks = plan::masks_for(copy, table);
        let limit = plan::lookup(&copy.limit, table).copied();
        let own = plan::lookup(&filters, table).cloned();
        let filter = if reached.iter().any(|r| &r.table == table) {
            let below = restrict::children_selection(table, &reached, &own_filter);
            Some(match own {
                Some(own) => format!("({below}) AND ({own})"),
                None => below,
            })
        } else if own.is_none() && limit.is_none() {
            restrict::selection(table, &keys, &tables, &own_filter)
        } else {
            own
        };
        let plan = plan::plan_table_keyed(
            table,
            &remote_table.columns,
            &local_table.columns,
            &masks,
            filter.as_deref(),
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
        plan::masks_for(copy, table).remove(column)
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
    let (followed, cut) = if options.no_follow {
        (Vec::new(), Vec::new())
    } else {
        let plan_client = local.connect().await?;
        let (remote, plan_local, key) = (&coordinator, &plan_client, mask_key.as_ref());
        let stage_name = stage.name.as_str();
        follow::follow_parents(
            &coordinator,
            &mut load,
            &keys_of,
            &selection.rules,
            |table| async move {
                plan_source(copy, remote, plan_local, &table, key, stage_name).await
            },
        )
        .await?
    };
    for entry in &cut {
        shell.note(format!(
            "set {} keys of {} to null ({}: set-null, their parent rows do not come)",
            entry.rows, entry.table, entry.foreign_key
        ));
    }
    for entry in &followed {
        shell.note(format!(
            "added {} rows to {} that {} references ({})",
            entry.rows, entry.table, entry.from, entry.foreign_key
        ));
    }
    let pruned = load.finish(&keys_of, options.prune_dangling).await?;
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
        children: reached
            .iter()
            .map(|r| ChildTable {
                table: r.table.to_string(),
                foreign_keys: r.via.iter().map(|k| k.name.clone()).collect(),
                depth: r.depth,
            })
            .collect(),
        cut,
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
    copy: &CopySettings,
    remote: &tokio_postgres::Client,
    local: &tokio_postgres::Client,
    table: &QualifiedName,
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
        &plan::masks_for(copy, table),
        None,
        None,
        key,
    )?;
    Ok(follow::Source {
        plan,
        remote_columns: remote_table.columns,
    })
}

/// The tables `--with-children` adds below the start tables, each announced with its FKs. A
/// start table with a limit has no condition its children could name, so it is refused.
fn reach_children(
    shell: &Shell,
    selection: &subset::Selection,
    tables: &[QualifiedName],
    graph: &[integrity::ForeignKey],
    available: &[QualifiedName],
) -> Result<Vec<graph::Reached>, CopyError> {
    let Some(depth) = selection.with_children else {
        return Ok(Vec::new());
    };
    if let Some(table) = tables
        .iter()
        .find(|t| plan::lookup(&selection.copy.limit, t).is_some())
    {
        return Err(CopyError::Subset(format!(
            "--with-children follows the children of rows chosen by a condition, and {table} has a limit; \
             nothing was copied\n  hint: choose its rows with a condition (--where or the subset's start) instead"
        )));
    }
    let reached = graph::children(tables, graph, depth, available);
    for entry in &reached {
        let keys: Vec<&str> = entry.via.iter().map(|k| k.name.as_str()).collect();
        shell.note(format!(
            "with children: {} (level {}, through {})",
            entry.table,
            entry.depth,
            keys.join(", ")
        ));
    }
    Ok(reached)
}

fn parse_filters(
    arguments: &[String],
    copy: &CopySettings,
) -> Result<BTreeMap<String, String>, CopyError> {
    let mut filters = copy.filter.clone();
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
