//! Copying selected tables from a remote stage into the local database: streamed in-process
//! with COPY, read-only on the remote from one snapshot, into one local transaction that
//! commits only when every foreign key touching the copied tables holds (`integrity`).

mod catalog;
mod fix_missing;
pub mod follow;
pub mod graph;
pub mod integrity;
mod narrow;
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
    /// Refused with a next step known only at run time (a subset, virtual FK or follow rule
    /// that cannot be applied among them; nothing was copied).
    #[error("{message}")]
    Refused { message: String, hint: String },
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
            CopyError::Database { error, .. } => crate::db::postgres_hint(error),
            CopyError::Db(e) => e.hint(),
            CopyError::Refused { hint, .. } => Some(Hint::suggest(hint.clone())),
            CopyError::MaskBreaksKey(_) => Some(Hint::suggest(
                "mask both columns with `hmac` (equal values stay equal, so the key still joins), or neither",
            )),
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

/// Copies the tables' rows from `stage` into the local database, through one local session:
/// plan every table, load them in one transaction, follow parents, check every FK, commit.
pub async fn copy_data(
    shell: &Shell,
    config: &Config,
    local: &ConnectionInfo,
    stage: &Stage,
    options: &CopyOptions,
) -> Result<CopyReport, CopyError> {
    let mut local_client = local.connect().await?;
    copy_data_in(shell, config, &mut local_client, stage, options).await
}

/// [`copy_data`] in a local session the caller opened (and may have used for the structure).
pub async fn copy_data_in(
    shell: &Shell,
    config: &Config,
    local_client: &mut tokio_postgres::Client,
    stage: &Stage,
    options: &CopyOptions,
) -> Result<CopyReport, CopyError> {
    let started = Instant::now();
    let remote = open_snapshot(stage, local_client).await?;
    let planned = plan_copy(shell, config, stage, options, &remote, local_client).await?;
    // Every table in one local transaction, read from the one stage snapshot, so the FK check
    // before the commit sees the whole result and a failure anywhere leaves every table as it
    // was. Tables therefore load one after another.
    let mut load = transfer::LocalLoad::begin(local_client).await?;
    let tables = load_tables(shell, stage, &remote, &mut load, &planned).await?;
    let (followed, cut) = if options.no_follow {
        (Vec::new(), Vec::new())
    } else {
        follow(shell, stage, &remote, &mut load, &planned).await?
    };
    announce(shell, &followed, &cut);
    let pruned = load.check(&planned.keys_of, options.prune_dangling).await?;
    drop(remote);
    for entry in &pruned {
        shell.note(format!(
            "--prune-dangling: deleted {} rows of {} that broke {}",
            entry.rows, entry.table, entry.foreign_key
        ));
    }
    let saving = match options.save {
        true => Some(saved::write(config, &load, &stage.name).await?),
        false => None,
    };
    load.commit().await?;
    if let Some(saving) = saving {
        saving.commit(saved::Recipe::of(options))?;
    }
    Ok(CopyReport {
        stage: stage.name.clone(),
        tables,
        followed,
        pruned,
        children: planned.children(),
        cut,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The stage session every table is read through: one read-only REPEATABLE READ snapshot, so
/// rows that reference each other match. Refused when the "stage" is the local database.
async fn open_snapshot(
    stage: &Stage,
    local: &tokio_postgres::Client,
) -> Result<tokio_postgres::Client, CopyError> {
    let remote = stage.connect(true).await?;
    stage.refuse_if_local(&remote, local).await?;
    // No JIT: the copy's queries are scans and key lookups, and the planner's cost of a
    // recursive follow overestimates it enough to spend 0.4 s compiling what runs in 0.1 s.
    remote
        .batch_execute("SET jit = off; BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(|error| CopyError::Database {
            action: "opening a snapshot on the stage".into(),
            error,
        })?;
    Ok(remote)
}

/// What the copy will do, decided before any row moves.
struct CopyPlan {
    selection: subset::Selection,
    plans: Vec<Planned>,
    keys_of: integrity::Keys,
    reached: Vec<graph::Reached>,
    mask_key: Option<plan::MaskKey>,
}

impl CopyPlan {
    fn children(&self) -> Vec<ChildTable> {
        self.reached
            .iter()
            .map(|r| ChildTable {
                table: r.table.to_string(),
                foreign_keys: r.via.iter().map(|k| k.name.clone()).collect(),
                depth: r.depth,
            })
            .collect()
    }
}

/// The tables (named, expanded, and reached as children), the FKs and masks checked, and a
/// plan per table; an error here has changed nothing.
async fn plan_copy(
    shell: &Shell,
    config: &Config,
    stage: &Stage,
    options: &CopyOptions,
    remote: &tokio_postgres::Client,
    local: &tokio_postgres::Client,
) -> Result<CopyPlan, CopyError> {
    let selection = subset::select(config, options)?;
    if selection.tables.is_empty() {
        return Err(CopyError::NoTables);
    }
    let available = catalog::tables(remote).await?;
    let mut tables = plan::expand(&selection.tables, &available).map_err(|unknown| {
        CopyError::UnknownTables {
            stage: stage.name.clone(),
            unknown,
        }
    })?;
    plan::check_entries(&selection.copy, &selection.cli_where, &tables, &available)?;
    let keys_of = integrity::Keys {
        declared: relations::resolve(&config.settings.relations, local).await?,
    };
    let graph = keys_of.touching(local, &available).await?;
    graph::check_rules(&selection.rules, &graph, &|rule| selection.rule_place(rule))?;
    let reached = reach_children(shell, &selection, &tables, &graph, &available)?;
    tables.extend(reached.iter().map(|r| r.table.clone()));
    let keys = keys_of.touching(local, &tables).await?;
    let mask_key = saved::mask_key(config)?;
    let inputs = TableInputs {
        copy: &selection.copy,
        filters: parse_filters(&selection.cli_where, &selection.copy)?,
        tables: &tables,
        keys: &keys,
        reached: &reached,
        mask_key: mask_key.as_ref(),
        stage: &stage.name,
    };
    let plans = plan_tables(&inputs, remote, local).await?;
    integrity::check_masks(&keys, |table, column| {
        plan::masks_for(&selection.copy, table).remove(column)
    })?;
    for Planned { plan, .. } in &plans {
        if !plan.skipped.is_empty() {
            shell.note(format!(
                "{}: remote-only columns skipped: {}",
                plan.table,
                plan.skipped.join(", ")
            ));
        }
    }
    Ok(CopyPlan {
        selection,
        plans,
        keys_of,
        reached,
        mask_key,
    })
}

/// What planning each table needs to know about the whole copy.
struct TableInputs<'a> {
    copy: &'a CopySettings,
    /// Conditions per table (x-devdb.copy.filter, the subset's start, `--where`).
    filters: BTreeMap<String, String>,
    tables: &'a [QualifiedName],
    keys: &'a [integrity::ForeignKey],
    reached: &'a [graph::Reached],
    mask_key: Option<&'a plan::MaskKey>,
    stage: &'a str,
}

impl TableInputs<'_> {
    /// A table's own condition, as the restriction of its children can name it (None under a
    /// limit: "the first N rows" is no condition).
    fn own_filter(&self, table: &QualifiedName) -> Option<String> {
        if plan::lookup(&self.copy.limit, table).is_some() {
            None
        } else {
            plan::lookup(&self.filters, table).cloned()
        }
    }

    /// Whether `table`'s rows are fewer than the stage's: a condition, a limit, reached below
    /// chosen rows, or restricted to the rows of such a parent.
    /// `path`: the tables asking, so a cycle stops.
    fn narrowed(&self, table: &QualifiedName, path: &mut Vec<QualifiedName>) -> bool {
        if plan::lookup(&self.filters, table).is_some()
            || plan::lookup(&self.copy.limit, table).is_some()
            || self.reached.iter().any(|r| &r.table == table)
        {
            return true;
        }
        if path.contains(table) {
            return false;
        }
        path.push(table.clone());
        let through = self.keys.iter().any(|k| {
            &k.child == table && self.tables.contains(&k.parent) && self.narrowed(&k.parent, path)
        });
        path.pop();
        through
    }

    /// How `table`'s rows can be chosen from its parents' loaded keys instead (the FKs of
    /// [`filter`](Self::filter)'s condition), unless a parent's key is masked (its local values
    /// are not the stage's) or the stage lacks a key column.
    fn narrowing(
        &self,
        table: &QualifiedName,
        remote: &std::collections::HashMap<QualifiedName, catalog::TableInfo>,
    ) -> Option<restrict::Narrowing> {
        let own = plan::lookup(&self.filters, table).cloned();
        let (keys, any) = match self.reached.iter().find(|r| &r.table == table) {
            Some(entry) => (entry.via.clone(), true),
            None if own.is_none() && plan::lookup(&self.copy.limit, table).is_none() => {
                let narrowed = |t: &QualifiedName| self.narrowed(t, &mut vec![table.clone()]);
                let keys = restrict::restricting_keys(table, self.keys, self.tables, &narrowed);
                (keys, false)
            }
            None => return None,
        };
        let mut ties = Vec::new();
        for key in keys {
            let masked = plan::masks_for(self.copy, &key.parent);
            let columns = &remote.get(&key.parent)?.columns;
            let types = key
                .parent_columns
                .iter()
                .map(|p| match masked.contains_key(p) {
                    true => None,
                    false => columns
                        .iter()
                        .find(|c| &c.name == p)
                        .map(|c| c.type_name.clone()),
                })
                .collect::<Option<Vec<String>>>()?;
            ties.push(restrict::Tie { key, types });
        }
        (!ties.is_empty()).then_some(restrict::Narrowing { ties, any, own })
    }

    /// The condition choosing `table`'s rows: its own, the one tying a reached child to the
    /// chosen rows above it, or the one restricting a child to the parents that come.
    fn filter(&self, table: &QualifiedName) -> Option<String> {
        let own = plan::lookup(&self.filters, table).cloned();
        let limit = plan::lookup(&self.copy.limit, table);
        let own_filter = |t: &QualifiedName| self.own_filter(t);
        if self.reached.iter().any(|r| &r.table == table) {
            let below = restrict::children_selection(table, self.reached, &own_filter);
            Some(match own {
                Some(own) => format!("({below}) AND ({own})"),
                None => below,
            })
        } else if own.is_none() && limit.is_none() {
            restrict::selection(table, self.keys, self.tables, &own_filter)
        } else {
            own
        }
    }
}

/// One plan per table, from one catalog query per side for all of them, in the order they
/// load: parents a table is narrowed by before it (see [`restrict::load_order`]).
async fn plan_tables(
    inputs: &TableInputs<'_>,
    remote: &tokio_postgres::Client,
    local: &tokio_postgres::Client,
) -> Result<Vec<Planned>, CopyError> {
    let remote_info = catalog::describe(remote, inputs.tables).await?;
    let mut local_info = catalog::describe(local, inputs.tables).await?;
    let narrowings: BTreeMap<QualifiedName, restrict::Narrowing> = inputs
        .tables
        .iter()
        .filter_map(|t| Some((t.clone(), inputs.narrowing(t, &remote_info)?)))
        .collect();
    let order = restrict::load_order(inputs.tables, &|t| {
        narrowings
            .get(t)
            .map(|n| n.ties.iter().map(|tie| tie.key.parent.clone()).collect())
            .unwrap_or_default()
    });
    let mut plans = Vec::new();
    for table in &order {
        let Some(local_table) = local_info.remove(table) else {
            return Err(CopyError::MissingLocally {
                table: table.to_string(),
                stage: inputs.stage.to_string(),
            });
        };
        let remote_table = remote_info.get(table).cloned().unwrap_or_default();
        let filter = inputs.filter(table);
        let plan = plan::plan_table(&plan::TableSpec {
            table,
            remote: &remote_table.columns,
            local: &local_table.columns,
            masks: &plan::masks_for(inputs.copy, table),
            filter: filter.as_deref(),
            limit: plan::lookup(&inputs.copy.limit, table).copied(),
            key: inputs.mask_key,
        })?;
        plans.push(Planned {
            plan,
            remote_partitioned: remote_table.partitioned,
            local: local_table,
            narrowing: narrowings.get(table).cloned(),
            remote_columns: remote_table.columns,
        });
    }
    Ok(plans)
}

/// Loads every planned table into the copy's transaction, one after another, with a bar each.
async fn load_tables(
    shell: &Shell,
    stage: &Stage,
    remote: &tokio_postgres::Client,
    load: &mut transfer::LocalLoad<'_>,
    planned: &CopyPlan,
) -> Result<Vec<TableResult>, CopyError> {
    let plans = &planned.plans;
    let bars = shell.multi();
    let total = bars.add(shell.steps_bar(plans.len() as u64, format!("copy from {}", stage.name)));
    let mut copied = Vec::new();
    for table in plans {
        let bar = bars.insert_before(&total, shell.bytes_bar(table.plan.table.to_string()));
        let result = match narrow::plan(load, table, planned).await {
            Ok(narrowed) => {
                let plan = narrowed.as_ref().unwrap_or(&table.plan);
                let partitioned = table.remote_partitioned;
                transfer::copy_table(remote, load, plan, partitioned, &table.local, &bar).await
            }
            Err(error) => Err(error),
        };
        bar.finish_and_clear();
        total.inc(1);
        copied.push(result.map_err(|error| CopyError::TableFailed {
            table: table.plan.table.to_string(),
            error: Box::new(error),
        })?);
    }
    total.finish_and_clear();
    copied.sort_by(|a, b| a.table.cmp(&b.table));
    Ok(copied)
}

/// Parents follow (and `set-null` FKs are cut) inside the copy's transaction.
async fn follow(
    shell: &Shell,
    stage: &Stage,
    remote: &tokio_postgres::Client,
    load: &mut transfer::LocalLoad<'_>,
    planned: &CopyPlan,
) -> Result<(Vec<follow::Followed>, Vec<follow::Cut>), CopyError> {
    let (copy, key) = (&planned.selection.copy, planned.mask_key.as_ref());
    let stage_name = stage.name.as_str();
    let with = follow::Following {
        remote,
        keys_of: &planned.keys_of,
        rules: &planned.selection.rules,
        shell,
    };
    follow::follow_parents(&with, load, |table, local_columns| async move {
        plan_source(copy, remote, &table, &local_columns, key, stage_name).await
    })
    .await
}

fn announce(shell: &Shell, followed: &[follow::Followed], cut: &[follow::Cut]) {
    for entry in cut {
        shell.note(format!(
            "set {} keys of {} to null ({}: set-null, their parent rows do not come)",
            entry.rows, entry.table, entry.foreign_key
        ));
    }
    for entry in followed {
        shell.note(format!(
            "added {} rows to {} that {} references ({})",
            entry.rows, entry.table, entry.from, entry.foreign_key
        ));
    }
}

/// A table's plan with what the copy needs of both catalogs.
struct Planned {
    plan: TablePlan,
    remote_partitioned: bool,
    local: catalog::TableInfo,
    /// How its rows can be chosen by its parents' loaded keys instead of `plan`'s condition.
    narrowing: Option<restrict::Narrowing>,
    remote_columns: Vec<plan::Column>,
}

/// How a parent table the copy follows is read from the stage: all its columns the local table
/// has, with the project's masks, no filter (only the referenced rows are asked for).
async fn plan_source(
    copy: &CopySettings,
    remote: &tokio_postgres::Client,
    table: &QualifiedName,
    local_columns: &[plan::Column],
    key: Option<&plan::MaskKey>,
    stage: &str,
) -> Result<follow::Source, CopyError> {
    let tables = std::slice::from_ref(table);
    let remote_table = catalog::describe(remote, tables).await?.remove(table);
    let Some(remote_table) = remote_table else {
        return Err(CopyError::Refused {
            message: format!("copied rows reference {table}, which stage {stage} does not have"),
            hint: "copy with --no-follow and --prune-dangling to drop those rows instead".into(),
        });
    };
    let masks = plan::masks_for(copy, table);
    let plan = plan::plan_table(&plan::TableSpec {
        table,
        remote: &remote_table.columns,
        local: local_columns,
        masks: &masks,
        filter: None,
        limit: None,
        key,
    })?;
    Ok(follow::Source {
        plan,
        remote_columns: remote_table.columns,
        masked: masks.into_keys().collect(),
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
        return Err(CopyError::Refused {
            message: format!(
                "--with-children follows the children of rows chosen by a condition, and {table} \
                 has a limit; nothing was copied"
            ),
            hint: "choose its rows with a condition (--where or the subset's start) instead".into(),
        });
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
