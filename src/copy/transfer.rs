//! Streaming rows into a local table: remote `COPY (SELECT ...) TO STDOUT` (or a saved file)
//! into local `COPY ... FROM STDIN`, inside the copy's one local transaction, so a failure or
//! Ctrl-C leaves the previous rows and indexes of every table. Inside it the table's indexes are dropped before the
//! COPY and built after it (a sort and one write instead of an update per row, as pgcopydb
//! does), and rows are written frozen where Postgres allows it.

use crate::db::quote_ident;
use std::time::Instant;

use crate::shell::ProgressBar;
use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, Stream, StreamExt};
use serde::Serialize;
use tokio_postgres::{Client, Transaction};

use super::catalog::TableInfo;
use super::integrity::{self, Pruned};
use super::plan::{Format, QualifiedName, TablePlan};
use super::CopyError;

/// Bytes gathered before one write to the local COPY.
const BATCH_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, Serialize)]
pub struct TableResult {
    pub table: String,
    pub rows: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub format: Format,
    pub skipped_columns: Vec<String>,
}

/// Memory for each index build after the COPY (the server's default is 64 MB): a sort that
/// fits in memory writes no temporary files.
const INDEX_BUILD_MEMORY: &str = "256MB";

/// Copies one planned table from the stage (a session inside the shared snapshot).
/// `remote_partitioned`: the stage's table is partitioned; `local_info`: the local table.
pub async fn copy_table(
    remote: &Client,
    load: &mut LocalLoad<'_>,
    plan: &TablePlan,
    remote_partitioned: bool,
    local_info: &TableInfo,
    bar: &ProgressBar,
) -> Result<TableResult, CopyError> {
    let started = Instant::now();
    let copy_out = format!(
        "COPY {} TO STDOUT (FORMAT {})",
        plan.copy_source(remote_partitioned),
        format_name(plan.format)
    );
    let stream = remote
        .copy_out(&copy_out)
        .await
        .map_err(|error| CopyError::Database {
            action: format!("starting the remote COPY of {}", plan.table),
            error,
        })?;
    let table = plan.table.to_string();
    let stream = stream.map(move |chunk| {
        chunk.map_err(|error| CopyError::Database {
            action: format!("reading rows of {table} from the stage"),
            error,
        })
    });
    let mut bytes = 0u64;
    let rows = load
        .replace(
            &plan.table,
            local_info,
            &plan.columns,
            plan.format,
            stream,
            |chunk| {
                bytes += chunk.len() as u64;
                bar.set_position(bytes);
                Ok(())
            },
        )
        .await?;
    Ok(TableResult {
        table: plan.table.to_string(),
        rows,
        bytes,
        seconds: started.elapsed().as_secs_f64(),
        format: plan.format,
        skipped_columns: plan.skipped.clone(),
    })
}

/// The copy's one local transaction: every table is replaced inside it and the foreign keys
/// are checked before it commits (`integrity`), so a failure, a broken FK or Ctrl-C anywhere
/// leaves every previous row, and a commit never leaves an FK that does not hold.
pub struct LocalLoad<'a> {
    transaction: Transaction<'a>,
    loaded: Vec<QualifiedName>,
    /// Loaded tables analyzed since their rows were replaced (rows followed in later are few
    /// next to a load, and do not need new statistics).
    analyzed: Vec<QualifiedName>,
}

impl<'a> LocalLoad<'a> {
    pub async fn begin(local: &'a mut Client) -> Result<LocalLoad<'a>, CopyError> {
        let fail = |action: &str| {
            let action = action.to_string();
            move |error| CopyError::Database { action, error }
        };
        let transaction = local
            .transaction()
            .await
            .map_err(fail("starting the local transaction"))?;
        // Foreign-key triggers off for this transaction: copied tables may arrive in any order
        // and reference each other in cycles; `finish` checks every FK before the commit.
        // The local database is a developer's own; commits need not wait for the disk.
        transaction
            .batch_execute(
                "SET LOCAL session_replication_role = replica; SET LOCAL synchronous_commit = off",
            )
            .await
            .map_err(fail("preparing the local transaction"))?;
        Ok(LocalLoad {
            transaction,
            loaded: Vec::new(),
            analyzed: Vec::new(),
        })
    }

    /// The copy's transaction, for reads of what is loaded so far and for added rows.
    pub fn transaction(&self) -> &Transaction<'a> {
        &self.transaction
    }

    /// The tables loaded or added to so far.
    pub fn loaded(&self) -> &[QualifiedName] {
        &self.loaded
    }

    /// A table the copy added rows to: its FKs are checked before the commit too.
    pub fn touched(&mut self, table: &QualifiedName) {
        if !self.loaded.contains(table) {
            self.loaded.push(table.clone());
        }
    }

    /// Gives the planner row counts of the loaded tables not analyzed since their load, for
    /// the anti-joins that follow parents and check FKs (see `integrity::analyze`).
    pub async fn analyze(&mut self) -> Result<(), CopyError> {
        let stale: Vec<QualifiedName> = self
            .loaded
            .iter()
            .filter(|t| !self.analyzed.contains(t))
            .cloned()
            .collect();
        integrity::analyze(&self.transaction, &stale).await?;
        self.analyzed.extend(stale);
        Ok(())
    }

    /// Checks every FK touching the loaded tables, pruning dangling rows when asked; on a
    /// broken FK the copy ends here and nothing is committed.
    pub async fn check(
        &mut self,
        keys: &integrity::Keys,
        prune: bool,
    ) -> Result<Vec<Pruned>, CopyError> {
        self.analyze().await?;
        integrity::enforce(&self.transaction, keys, &self.loaded, prune).await
    }

    /// Commits what `check` found whole.
    pub async fn commit(self) -> Result<(), CopyError> {
        self.transaction
            .commit()
            .await
            .map_err(|error| CopyError::Database {
                action: "committing the local transaction".into(),
                error,
            })
    }

    /// [`check`](Self::check), then [`commit`](Self::commit).
    pub async fn finish(
        mut self,
        keys: &integrity::Keys,
        prune: bool,
    ) -> Result<Vec<Pruned>, CopyError> {
        let pruned = self.check(keys, prune).await?;
        self.commit().await?;
        Ok(pruned)
    }

    /// Replaces the table's rows with COPY data from `source`; returns the rows.
    pub async fn replace<S>(
        &mut self,
        table: &QualifiedName,
        info: &TableInfo,
        columns: &[String],
        format: Format,
        source: S,
        on_chunk: impl FnMut(&Bytes) -> Result<(), CopyError>,
    ) -> Result<u64, CopyError>
    where
        S: Stream<Item = Result<Bytes, CopyError>>,
    {
        if !self.loaded.contains(table) {
            self.loaded.push(table.clone());
        }
        self.analyzed.retain(|t| t != table);
        replace_in(
            &self.transaction,
            table,
            info,
            columns,
            format,
            source,
            on_chunk,
        )
        .await
    }
}

/// Empties the table and COPYs `source` into it, inside the caller's transaction: indexes
/// dropped first and built once after, sequences moved past the copied ids.
async fn replace_in<S>(
    transaction: &Transaction<'_>,
    table: &QualifiedName,
    info: &TableInfo,
    columns: &[String],
    format: Format,
    source: S,
    on_chunk: impl FnMut(&Bytes) -> Result<(), CopyError>,
) -> Result<u64, CopyError>
where
    S: Stream<Item = Result<Bytes, CopyError>>,
{
    let freeze = empty(transaction, table, info).await?;
    // Dropped inside this transaction: a failure or Ctrl-C brings them back with the rows.
    for index in &info.rebuilt {
        transaction
            .batch_execute(&index.drop_sql(table))
            .await
            .map_err(failed(table, "dropping an index before the COPY"))?;
    }
    let quoted: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    let copy_in = format!(
        "COPY {} ({}) FROM STDIN (FORMAT {}{})",
        table.quoted(),
        quoted.join(", "),
        format_name(format),
        if freeze { ", FREEZE" } else { "" }
    );
    let rows = stream_in(transaction, table, &copy_in, source, on_chunk).await?;
    rebuild_indexes(transaction, table, info).await?;
    advance_sequences(transaction, table, info).await?;
    Ok(rows)
}

/// The error of one step of loading `table`.
fn failed(table: &QualifiedName, action: &str) -> impl FnOnce(tokio_postgres::Error) -> CopyError {
    let action = format!("{action} ({table})");
    move |error| CopyError::Database { action, error }
}

/// Deletes the table's rows; returns whether the COPY may write them frozen.
async fn empty(
    transaction: &Transaction<'_>,
    table: &QualifiedName,
    info: &TableInfo,
) -> Result<bool, CopyError> {
    if info.referenced {
        // TRUNCATE refuses a table other tables point at; DELETE does not (triggers are off).
        transaction
            .batch_execute(&format!("DELETE FROM {}", table.quoted()))
            .await
            .map_err(failed(table, "emptying the local table"))?;
        return Ok(false);
    }
    transaction
        .batch_execute(&format!("TRUNCATE {}", table.quoted()))
        .await
        .map_err(failed(table, "emptying the local table"))?;
    // FREEZE spares later vacuum work; Postgres allows it after TRUNCATE in this transaction.
    Ok(!info.partitioned)
}

/// Runs `copy_in` with the chunks of `source`; returns the rows written.
async fn stream_in<S>(
    transaction: &Transaction<'_>,
    table: &QualifiedName,
    copy_in: &str,
    source: S,
    mut on_chunk: impl FnMut(&Bytes) -> Result<(), CopyError>,
) -> Result<u64, CopyError>
where
    S: Stream<Item = Result<Bytes, CopyError>>,
{
    let sink = transaction
        .copy_in::<_, Bytes>(copy_in)
        .await
        .map_err(failed(table, "starting the local COPY"))?;
    futures_util::pin_mut!(sink);
    futures_util::pin_mut!(source);
    // The remote sends one message per row; batching them spares a flush (a syscall and a
    // wake-up) per row on the local side.
    let mut batch = BytesMut::with_capacity(BATCH_BYTES);
    while let Some(chunk) = source.next().await {
        let chunk = chunk?;
        on_chunk(&chunk)?;
        batch.extend_from_slice(&chunk);
        if batch.len() >= BATCH_BYTES {
            sink.send(batch.split().freeze())
                .await
                .map_err(failed(table, "writing rows locally"))?;
        }
    }
    if !batch.is_empty() {
        sink.send(batch.freeze())
            .await
            .map_err(failed(table, "writing rows locally"))?;
    }
    sink.as_mut()
        .finish()
        .await
        .map_err(failed(table, "finishing the local COPY"))
}

/// Builds the indexes dropped before the COPY, each with one sort.
async fn rebuild_indexes(
    transaction: &Transaction<'_>,
    table: &QualifiedName,
    info: &TableInfo,
) -> Result<(), CopyError> {
    if info.rebuilt.is_empty() {
        return Ok(());
    }
    transaction
        .batch_execute(&format!(
            "SET LOCAL maintenance_work_mem = '{INDEX_BUILD_MEMORY}'"
        ))
        .await
        .map_err(failed(table, "preparing the index builds"))?;
    for index in &info.rebuilt {
        transaction
            .batch_execute(&index.create_sql(table))
            .await
            .map_err(failed(
                table,
                &format!("rebuilding the index {}", index.index),
            ))?;
    }
    Ok(())
}

/// Moves the table's owned sequences past the copied ids, so the next insert does not collide.
async fn advance_sequences(
    transaction: &Transaction<'_>,
    table: &QualifiedName,
    info: &TableInfo,
) -> Result<(), CopyError> {
    for (column, sequence) in &info.sequences {
        let sql = format!(
            "SELECT setval($1::text::regclass, COALESCE(max({col}), 1), max({col}) IS NOT NULL) FROM {}",
            table.quoted(),
            col = quote_ident(column)
        );
        transaction
            .query_one(&sql, &[sequence])
            .await
            .map_err(failed(table, "advancing sequences"))?;
    }
    Ok(())
}

pub fn format_name(format: Format) -> &'static str {
    match format {
        Format::Binary => "binary",
        Format::Text => "text",
    }
}
