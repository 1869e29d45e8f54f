//! Streaming rows into a local table: remote `COPY (SELECT ...) TO STDOUT` (or a saved file)
//! into local `COPY ... FROM STDIN`, inside one local transaction, so a failure or Ctrl-C
//! leaves the previous rows.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use crate::progress::ProgressBar;
use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, Stream, StreamExt};
use serde::Serialize;
use tokio_postgres::Client;

use super::catalog;
use super::plan::{quote, Format, TableName, TablePlan};
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

/// Where the copied rows are kept for later restores (`--save`).
pub struct SaveTo {
    pub path: PathBuf,
}

/// Copies one planned table from the stage (a session inside the shared snapshot).
pub async fn copy_table(
    remote: &Client,
    local: &mut Client,
    plan: &TablePlan,
    bar: &ProgressBar,
    save: Option<&SaveTo>,
) -> Result<TableResult, CopyError> {
    let started = Instant::now();
    let remote_partitioned = catalog::is_partitioned(remote, &plan.table).await?;
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
    let mut file = match save {
        Some(save) => Some(save.create()?),
        None => None,
    };
    let mut bytes = 0u64;
    let rows = replace_rows(
        local,
        &plan.table,
        &plan.columns,
        plan.format,
        stream,
        |chunk| {
            bytes += chunk.len() as u64;
            bar.set_position(bytes);
            if let (Some(file), Some(save)) = (file.as_mut(), save) {
                file.write_all(chunk).map_err(|source| CopyError::Io {
                    path: save.path.clone(),
                    source,
                })?;
            }
            Ok(())
        },
    )
    .await?;
    if let (Some(file), Some(save)) = (file, save) {
        save.commit(file)?;
    }
    Ok(TableResult {
        table: plan.table.to_string(),
        rows,
        bytes,
        seconds: started.elapsed().as_secs_f64(),
        format: plan.format,
        skipped_columns: plan.skipped.clone(),
    })
}

/// Replaces the table's rows with COPY data from `source`, in one transaction; returns the rows.
pub async fn replace_rows<S>(
    local: &mut Client,
    table: &TableName,
    columns: &[String],
    format: Format,
    source: S,
    mut on_chunk: impl FnMut(&Bytes) -> Result<(), CopyError>,
) -> Result<u64, CopyError>
where
    S: Stream<Item = Result<Bytes, CopyError>>,
{
    let fail = |action: &str| {
        let action = format!("{action} ({table})");
        move |error| CopyError::Database { action, error }
    };
    let referenced = catalog::is_referenced(local, table).await?;
    let partitioned = catalog::is_partitioned(local, table).await?;
    let sequences = catalog::owned_sequences(local, table).await?;

    let transaction = local
        .transaction()
        .await
        .map_err(fail("starting the local transaction"))?;
    // Foreign-key triggers off for this transaction: copied tables may arrive in any order.
    // The local database is a developer's own; commits need not wait for the disk.
    transaction
        .batch_execute(
            "SET LOCAL session_replication_role = replica; SET LOCAL synchronous_commit = off",
        )
        .await
        .map_err(fail("preparing the local transaction"))?;
    let freeze = if referenced {
        // TRUNCATE refuses a table other tables point at; DELETE does not (triggers are off).
        transaction
            .batch_execute(&format!("DELETE FROM {}", table.quoted()))
            .await
            .map_err(fail("emptying the local table"))?;
        false
    } else {
        transaction
            .batch_execute(&format!("TRUNCATE {}", table.quoted()))
            .await
            .map_err(fail("emptying the local table"))?;
        // FREEZE spares later vacuum work; Postgres allows it after TRUNCATE in this transaction.
        !partitioned
    };
    let quoted: Vec<String> = columns.iter().map(|c| quote(c)).collect();
    let copy_in = format!(
        "COPY {} ({}) FROM STDIN (FORMAT {}{})",
        table.quoted(),
        quoted.join(", "),
        format_name(format),
        if freeze { ", FREEZE" } else { "" }
    );
    let sink = transaction
        .copy_in::<_, Bytes>(&copy_in)
        .await
        .map_err(fail("starting the local COPY"))?;
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
                .map_err(fail("writing rows locally"))?;
        }
    }
    if !batch.is_empty() {
        sink.send(batch.freeze())
            .await
            .map_err(fail("writing rows locally"))?;
    }
    let rows = sink
        .as_mut()
        .finish()
        .await
        .map_err(fail("finishing the local COPY"))?;
    for (column, sequence) in &sequences {
        // Past the copied ids, so the next insert does not collide.
        let sql = format!(
            "SELECT setval($1::text::regclass, COALESCE(max({col}), 1), max({col}) IS NOT NULL) FROM {}",
            table.quoted(),
            col = quote(column)
        );
        transaction
            .query_one(&sql, &[sequence])
            .await
            .map_err(fail("advancing sequences"))?;
    }
    transaction
        .commit()
        .await
        .map_err(fail("committing the local transaction"))?;
    Ok(rows)
}

fn format_name(format: Format) -> &'static str {
    match format {
        Format::Binary => "binary",
        Format::Text => "text",
    }
}
