//! Running migrations against a database: deploy, status and resolve, under Prisma's lock.

use std::path::Path;
use std::pin::Pin;
use std::time::Instant;

use futures_util::future::{self, BoxFuture};
use serde::Serialize;
use tokio_postgres::Client;

use super::files::{self, MigrationFile};
use super::ledger;
use super::plan::{State, Status};
use super::script::{line_of, Mode, Script, TxControl};
use super::{MigrateError, MigrationFailure, Outcome};
use crate::progress;

#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub name: String,
    pub milliseconds: u128,
    pub in_transaction: bool,
}

/// Reads the ledger (without creating it) and compares it with the files.
pub async fn status(client: &Client, files: &[MigrationFile]) -> Result<Status, MigrateError> {
    let rows = ledger::read(client).await?;
    if rows.is_empty() && !ledger::exists(client).await? {
        let relations = ledger::user_relations(client).await?;
        if !relations.is_empty() && !files.is_empty() {
            return Err(MigrateError::NotBaselined {
                relations,
                first: files[0].name.clone(),
            });
        }
    }
    Ok(Status::compute(files, &rows))
}

/// Applies every pending migration in order, each at most once even with concurrent deploys.
pub async fn deploy(
    client: &Client,
    dir: &Path,
    files: &[MigrationFile],
) -> Result<Vec<Applied>, MigrateError> {
    ledger::lock(client).await?;
    let result = deploy_locked(client, dir, files).await;
    // The lock is session-scoped: if unlocking fails the connection's end releases it.
    let _ = ledger::unlock(client).await;
    result
}

async fn deploy_locked(
    client: &Client,
    dir: &Path,
    files: &[MigrationFile],
) -> Result<Vec<Applied>, MigrateError> {
    // Read the ledger only now, under the lock: a concurrent deploy may just have applied some.
    let status = status(client, files).await?;
    if let Some(failed) = status.failed().next() {
        return Err(MigrateError::FailedInDatabase {
            name: failed.name.clone(),
            logs: failed.logs.clone().unwrap_or_default(),
        });
    }
    ledger::create(client).await?;
    let pending: Vec<&MigrationFile> = status
        .pending()
        .filter_map(|entry| files.iter().find(|f| f.name == entry.name))
        .collect();
    let bar = progress::steps_bar(pending.len() as u64, "migrate");
    let mut applied = Vec::new();
    for file in pending {
        bar.set_message(file.name.clone());
        let started = Instant::now();
        let script = Script::parse(&file.script);
        let in_transaction = script.mode == Mode::Transaction;
        let outcome = apply_one(client, dir, file, &script).await;
        bar.inc(1);
        if let Err(error) = outcome {
            bar.abandon();
            return Err(error);
        }
        let milliseconds = started.elapsed().as_millis();
        bar.println(format!("applied {} ({milliseconds} ms)", file.name));
        if !progress::stderr_is_terminal() {
            progress::note(format!("applied {} ({milliseconds} ms)", file.name));
        }
        applied.push(Applied {
            name: file.name.clone(),
            milliseconds,
            in_transaction,
        });
    }
    bar.finish_and_clear();
    Ok(applied)
}

async fn apply_one(
    client: &Client,
    dir: &Path,
    file: &MigrationFile,
    script: &Script,
) -> Result<(), MigrateError> {
    match &script.mode {
        Mode::Transaction => apply_in_transaction(client, dir, file, script).await,
        Mode::NoTransaction { .. } => apply_statement_by_statement(client, dir, file, script).await,
    }
}

/// Where a transactional run stopped: the statement, and whether COMMIT had been sent (then a
/// lost connection leaves it unknown whether it committed).
struct Stop {
    index: usize,
    error: tokio_postgres::Error,
    during_commit: bool,
}

/// The ledger row is inserted, the script run and the row finished in ONE transaction: both or
/// neither. A failure, Ctrl-C or a killed process leaves no row, so devdb and Prisma both see the
/// migration as pending (no started row blocking the next deploy with P3009, and no
/// `rolled_back_at` row, which Prisma 7.8's `migrate status` misreads as applied).
async fn apply_in_transaction(
    client: &Client,
    dir: &Path,
    file: &MigrationFile,
    script: &Script,
) -> Result<(), MigrateError> {
    let last = script.statements.len().saturating_sub(1);
    let stop = |index: usize, during_commit: bool| {
        move |error: tokio_postgres::Error| Stop {
            index,
            error,
            during_commit,
        }
    };
    let run = async {
        // Everything before COMMIT is pipelined (sent without waiting for each answer): after
        // a failure Postgres answers the rest with 25P02, so the first error is the real one.
        // COMMIT goes only once all of it succeeded, so a killed devdb never commits.
        let id = ledger::new_id();
        let mut steps: Vec<BoxFuture<'_, Result<(), tokio_postgres::Error>>> =
            vec![Box::pin(client.batch_execute("BEGIN"))];
        steps.push(Box::pin(ledger::insert_started(
            client,
            &id,
            &file.name,
            &file.checksum,
        )));
        for statement in &script.statements {
            steps.push(Box::pin(client.batch_execute(&statement.text)));
        }
        steps.push(Box::pin(ledger::mark_finished(client, &id)));
        // Step k: 0 BEGIN, 1 the ledger row, 2.. the statements, then the finished mark.
        if let Some((step, error)) = first_failure(pipeline(steps).await) {
            let index = step.saturating_sub(2).min(last);
            return Err(stop(index, false)(error));
        }
        client
            .batch_execute("COMMIT")
            .await
            .map_err(stop(last, true))
    };
    let Err(stopped) = run.await else {
        return Ok(());
    };
    let _ = client.batch_execute("ROLLBACK").await;
    let outcome = if !connection_lost(&stopped.error) || !stopped.during_commit {
        Outcome::NothingApplied
    } else {
        Outcome::Unknown
    };
    Err(failure(
        dir,
        file,
        script,
        stopped.index,
        &stopped.error,
        outcome,
    ))
}

/// Runs `steps` on one connection as a pipeline: each request is sent on its future's first
/// poll, so all are polled once in order (sending them in order) before any answer is awaited.
async fn pipeline<T>(steps: Vec<BoxFuture<'_, T>>) -> Vec<T> {
    let mut steps: Vec<_> = steps.into_iter().map(future::maybe_done).collect();
    for step in &mut steps {
        let _ = futures_util::poll!(Pin::new(&mut *step));
    }
    let mut results = Vec::with_capacity(steps.len());
    for mut step in steps {
        Pin::new(&mut step).await;
        results.extend(Pin::new(&mut step).take_output());
    }
    results
}

/// The index and error of the first failed step.
fn first_failure<E>(results: Vec<Result<(), E>>) -> Option<(usize, E)> {
    results
        .into_iter()
        .enumerate()
        .find_map(|(index, result)| result.err().map(|error| (index, error)))
}

/// Scripts that cannot run in one transaction run statement by statement, as Prisma runs them:
/// the row is started first, so a crash part-way leaves a started row that blocks (P3009).
async fn apply_statement_by_statement(
    client: &Client,
    dir: &Path,
    file: &MigrationFile,
    script: &Script,
) -> Result<(), MigrateError> {
    let id = ledger::start(client, &file.name, &file.checksum).await?;
    let mut in_block = false;
    let mut persisted = false;
    let mut failed = None;
    for (index, statement) in script.statements.iter().enumerate() {
        if let Err(error) = client.batch_execute(&statement.text).await {
            failed = Some((index, error));
            break;
        }
        match statement.control {
            Some(TxControl::Begin) => in_block = true,
            Some(TxControl::Commit) => {
                in_block = false;
                persisted = true;
            }
            Some(TxControl::Rollback) => in_block = false,
            None if !in_block => persisted = true,
            None => {}
        }
    }
    let Some((index, error)) = failed else {
        return ledger::finish(client, &id).await;
    };
    if in_block {
        let _ = client.batch_execute("ROLLBACK").await;
    }
    if connection_lost(&error) {
        // The connection is gone: the started row stays, and blocks until resolved.
        let outcome = if persisted {
            Outcome::Partial
        } else {
            Outcome::NothingApplied
        };
        return Err(failure(dir, file, script, index, &error, outcome));
    }
    if persisted {
        let failure = describe_failure(dir, file, script, index, &error, Outcome::Partial);
        ledger::record_failure(client, &id, &failure.ledger_logs()).await?;
        Err(MigrateError::Failed(Box::new(failure)))
    } else {
        // Nothing was committed: the failure left no trace, as a transaction's would.
        ledger::delete(client, &id).await?;
        Err(failure(
            dir,
            file,
            script,
            index,
            &error,
            Outcome::NothingApplied,
        ))
    }
}

/// The session ended (server gone, backend terminated, network): nothing more can run on it.
fn connection_lost(error: &tokio_postgres::Error) -> bool {
    match error.as_db_error() {
        // FATAL and PANIC end the session, e.g. 57P01 from pg_terminate_backend or a shutdown.
        Some(db) => matches!(db.severity(), "FATAL" | "PANIC"),
        None => true,
    }
}

fn failure(
    dir: &Path,
    file: &MigrationFile,
    script: &Script,
    index: usize,
    error: &tokio_postgres::Error,
    outcome: Outcome,
) -> MigrateError {
    MigrateError::Failed(Box::new(describe_failure(
        dir, file, script, index, error, outcome,
    )))
}

fn describe_failure(
    dir: &Path,
    file: &MigrationFile,
    script: &Script,
    index: usize,
    error: &tokio_postgres::Error,
    outcome: Outcome,
) -> MigrationFailure {
    let statement = script.statements.get(index);
    let (sqlstate, message, position) = match error.as_db_error() {
        Some(db) => (
            db.code().code().to_string(),
            db.message().to_string(),
            match db.position() {
                Some(tokio_postgres::error::ErrorPosition::Original(p)) => Some(*p as usize),
                _ => None,
            },
        ),
        None => (String::new(), error.to_string(), None),
    };
    let (line, shown) = match (statement, position) {
        (Some(s), Some(p)) => {
            // Postgres counts characters from 1 within the statement it was sent.
            let byte = s
                .text
                .char_indices()
                .nth(p.saturating_sub(1))
                .map_or(s.text.len(), |(b, _)| b);
            (
                line_of(&file.script, s.offset + byte),
                statement_at(&s.text, byte),
            )
        }
        (Some(s), None) => (s.line, s.text.clone()),
        (None, _) => (1, String::new()),
    };
    let path = dir.join(&file.name).join(files::SCRIPT_FILE);
    MigrationFailure {
        name: file.name.clone(),
        path,
        line,
        sqlstate,
        message,
        statement: shown,
        connection_lost: connection_lost(error),
        outcome,
    }
}

/// The statement of `text` that holds byte `at`: a file Postgres's parser rejects runs as one
/// piece, and its error should show the failing statement, not the file's first one.
fn statement_at(text: &str, at: usize) -> String {
    let Ok(parts) = pg_query::split_with_scanner(text) else {
        return text.to_string();
    };
    let base = text.as_ptr() as usize;
    parts
        .iter()
        .find(|part| {
            let start = part.as_ptr() as usize - base;
            (start..=start + part.len()).contains(&at)
        })
        .map_or_else(|| text.to_string(), |part| part.trim().to_string())
}

/// `resolve --applied NAME`: records it as applied without running it (for baselining, or after
/// finishing a failed migration by hand). A failed attempt is marked rolled back first.
pub async fn resolve_applied(
    client: &Client,
    files: &[MigrationFile],
    name: &str,
) -> Result<(), MigrateError> {
    let file = find(files, name)?;
    ledger::lock(client).await?;
    let result = async {
        ledger::create(client).await?;
        let status = Status::compute(files, &ledger::read(client).await?);
        if status
            .migrations
            .iter()
            .any(|e| e.name == name && e.state == State::Applied)
        {
            return Err(MigrateError::AlreadyApplied {
                name: name.to_string(),
            });
        }
        ledger::mark_failed_rolled_back(client, name).await?;
        ledger::insert_applied(client, name, &file.checksum).await
    }
    .await;
    let _ = ledger::unlock(client).await;
    result
}

/// `resolve --rolled-back NAME`: marks a failed migration rolled back so deploy re-runs it.
pub async fn resolve_rolled_back(
    client: &Client,
    files: &[MigrationFile],
    name: &str,
) -> Result<(), MigrateError> {
    find(files, name)?;
    ledger::lock(client).await?;
    let result = async {
        let status = Status::compute(files, &ledger::read(client).await?);
        if !status
            .migrations
            .iter()
            .any(|e| e.name == name && e.state == State::Failed)
        {
            return Err(MigrateError::NotFailed {
                name: name.to_string(),
            });
        }
        ledger::mark_failed_rolled_back(client, name)
            .await
            .map(|_| ())
    }
    .await;
    let _ = ledger::unlock(client).await;
    result
}

fn find<'a>(files: &'a [MigrationFile], name: &str) -> Result<&'a MigrationFile, MigrateError> {
    files
        .iter()
        .find(|f| f.name == name)
        .ok_or_else(|| MigrateError::UnknownMigration {
            name: name.to_string(),
            known: files.iter().rev().take(5).map(|f| f.name.clone()).collect(),
        })
}

#[cfg(test)]
mod tests {
    use super::statement_at;

    #[test]
    fn a_syntax_error_shows_the_failing_statement() {
        let text = "CREATE TABLE a (id int);\nCREAT TABLE b (id int);\nCREATE TABLE c (id int);";
        let at = text.find("CREAT ").unwrap();
        assert_eq!(statement_at(text, at), "CREAT TABLE b (id int)");
        assert_eq!(statement_at(text, 3), "CREATE TABLE a (id int)");
    }
}
