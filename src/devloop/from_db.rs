//! `migrate diff --from-db` and `migrate new NAME --from-db`: adopt drift. Someone changed the
//! local database by hand (psql, an ORM's push); the SQL taking the migration history's
//! database (a throwaway copy of its snapshot) to the local one is computed by devdb's differ
//! (`pg::diff`) from both databases' `pg_dump --schema-only`, dumped by the server's own pg_dump
//! inside the database container. Before anything is written the SQL is proven: applied to a
//! second copy of the history, it must give the local database's dump, else devdb says what
//! differs and writes nothing. The new migration is then recorded as applied locally (the
//! database already has the change), so nothing runs there and nothing is lost.

use std::path::Path;
use std::time::Instant;

use super::history::{self, HistoryCopy};
use super::report::{self, DbDiff, DbNew};
use super::{db_error, DevloopError};
use crate::config::Config;
use crate::db::ConnectionInfo;
use crate::docker::Engine;
use crate::migrate::{self, files, MigrationFile};
use crate::pg::diff;

/// The verified plan and how long its parts took.
struct Computed {
    plan: diff::Plan,
    history: String,
    replayed: usize,
    history_milliseconds: u64,
    dump_milliseconds: u64,
    verify_milliseconds: u64,
}

/// `devdb migrate diff --from-db`.
pub async fn diff_from_db(
    engine: &Engine,
    config: &Config,
    local: &ConnectionInfo,
) -> Result<DbDiff, DevloopError> {
    let started = Instant::now();
    let dir = config.migrations_dir();
    let files = up_to_date_history(local, &dir).await?;
    let computed = compute(engine, config, local, &dir, &files).await?;
    Ok(DbDiff {
        empty: computed.plan.is_empty(),
        sql: script(&computed.plan),
        statements: computed.plan.statements.len(),
        not_expressed: computed.plan.not_expressed,
        verified: true,
        history: computed.history,
        replayed: computed.replayed,
        history_milliseconds: computed.history_milliseconds,
        dump_milliseconds: computed.dump_milliseconds,
        verify_milliseconds: computed.verify_milliseconds,
        milliseconds: report::millis(started.elapsed().as_millis()),
    })
}

/// `devdb migrate new NAME --from-db`: writes the verified SQL as a new migration (nothing when
/// there is no drift) and records it as applied in the local ledger.
pub async fn new_from_db(
    engine: &Engine,
    config: &Config,
    local: &ConnectionInfo,
    name: &str,
) -> Result<DbNew, DevloopError> {
    let started = Instant::now();
    if files::sanitize_name(name).is_empty() {
        return Err(migrate::MigrateError::BadName {
            name: name.to_string(),
        }
        .into());
    }
    let dir = config.migrations_dir();
    let files = up_to_date_history(local, &dir).await?;
    let computed = compute(engine, config, local, &dir, &files).await?;
    let sql = script(&computed.plan);
    let mut path = None;
    if !computed.plan.is_empty() {
        let written = files::create(&dir, name, chrono::Utc::now())?;
        std::fs::write(&written, &sql).map_err(|source| DevloopError::Io {
            path: written.clone(),
            source,
        })?;
        if let Err(error) = record(local, &dir, &folder_name(&written)).await {
            // Unrecorded, the folder would be a pending migration of objects that exist.
            if let Some(folder) = written.parent() {
                std::fs::remove_dir_all(folder).ok();
            }
            return Err(error);
        }
        // The history grew: the background job makes its snapshot for the next run.
        crate::workflow::spare::spawn(config);
        path = Some(written);
    }
    Ok(DbNew {
        migration: path.as_deref().map(folder_name),
        path: path.map(|p| p.display().to_string()),
        empty: computed.plan.is_empty(),
        recorded: !computed.plan.is_empty(),
        statements: computed.plan.statements.len(),
        not_expressed: computed.plan.not_expressed,
        sql,
        history: computed.history,
        replayed: computed.replayed,
        history_milliseconds: computed.history_milliseconds,
        dump_milliseconds: computed.dump_milliseconds,
        verify_milliseconds: computed.verify_milliseconds,
        milliseconds: report::millis(started.elapsed().as_millis()),
    })
}

/// Records the migration `folder` as applied in the local ledger, without running it.
async fn record(local: &ConnectionInfo, dir: &Path, folder: &str) -> Result<(), DevloopError> {
    let client = local.connect().await?;
    migrate::resolve_applied(&client, &files::discover(dir)?, folder).await?;
    Ok(())
}

fn folder_name(script: &Path) -> String {
    script
        .parent()
        .and_then(|f| f.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn script(plan: &diff::Plan) -> String {
    match plan.is_empty() {
        true => String::new(),
        false => format!(
            "-- Adopted from the local database by `devdb migrate new --from-db`.\n{}",
            plan.script()
        ),
    }
}

/// The migrations on disk, when the local database has applied exactly them: otherwise the
/// history's database is not what the local one started from, and the drift is not only drift.
async fn up_to_date_history(
    local: &ConnectionInfo,
    dir: &Path,
) -> Result<Vec<MigrationFile>, DevloopError> {
    files::ensure_lock_file(dir)?;
    let files = files::discover(dir)?;
    let client = local.connect().await?;
    let status = migrate::status(&client, &files).await?;
    let names = |entries: Vec<&migrate::Entry>| -> Vec<String> {
        entries.into_iter().map(|e| e.name.clone()).collect()
    };
    let pending = names(status.pending().collect());
    let failed = names(status.failed().collect());
    let modified = names(status.modified().collect());
    if !pending.is_empty() || !failed.is_empty() || !modified.is_empty() {
        return Err(DevloopError::HistoryNotApplied {
            pending,
            failed,
            modified,
        });
    }
    Ok(files)
}

async fn compute(
    engine: &Engine,
    config: &Config,
    local: &ConnectionInfo,
    dir: &Path,
    files: &[MigrationFile],
) -> Result<Computed, DevloopError> {
    let container =
        crate::docker::names::container_name(&config.project, &config.database_service().name);
    let admin = local.maintenance().connect().await?;
    // The local database is dumped while the history's copy is made: neither waits on the other.
    let at = Instant::now();
    let (copy, to) = tokio::join!(
        async {
            let copy = history::open(&admin, local, dir, files).await;
            (copy, at.elapsed())
        },
        pg_dump(engine, &container, local)
    );
    let (copy, history_time) = copy;
    let copy = copy?;
    let from = pg_dump(engine, &container, &copy.connection).await;
    history::close(&admin, &copy.connection).await?;
    let (from, to) = (from?, to?);
    let history_milliseconds = report::millis(history_time.as_millis());
    let dump_milliseconds = report::millis((at.elapsed() - history_time).as_millis());
    let plan = diff::diff(&from, &to).map_err(DevloopError::Differ)?;
    let at = Instant::now();
    if !plan.is_empty() || !plan.not_expressed.is_empty() {
        verify(engine, &container, &admin, local, dir, files, &plan, &to).await?;
    }
    if copy.replayed > 0 {
        crate::workflow::spare::spawn(config);
    }
    Ok(Computed {
        plan,
        history: copy.source,
        replayed: copy.replayed,
        history_milliseconds,
        dump_milliseconds,
        verify_milliseconds: report::millis(at.elapsed().as_millis()),
    })
}

/// The oracle: the plan applied to a second copy of the history must dump as `local_dump`.
#[allow(clippy::too_many_arguments)]
async fn verify(
    engine: &Engine,
    container: &str,
    admin: &tokio_postgres::Client,
    local: &ConnectionInfo,
    dir: &Path,
    files: &[MigrationFile],
    plan: &diff::Plan,
    local_dump: &str,
) -> Result<(), DevloopError> {
    let copy = history::open(admin, local, dir, files).await?;
    let checked = apply_and_dump(engine, container, &copy, plan).await;
    history::close(admin, &copy.connection).await?;
    let differences = match checked {
        Ok(dumped) => differing_lines(&dumped, local_dump),
        // SQL that does not even run on the history is the same verdict, with Postgres's words.
        Err(DevloopError::Database { error, .. }) => vec![format!(
            "applied to a copy of the history, it fails: {}",
            crate::db::describe(&error)
        )],
        Err(other) => return Err(other),
    };
    if differences.is_empty() {
        return Ok(());
    }
    Err(DevloopError::DriftNotReproduced {
        differences,
        not_expressed: plan.not_expressed.clone(),
    })
}

async fn apply_and_dump(
    engine: &Engine,
    container: &str,
    copy: &HistoryCopy,
    plan: &diff::Plan,
) -> Result<String, DevloopError> {
    let client = copy.connection.connect().await?;
    client
        .batch_execute(&format!("BEGIN;\n{}COMMIT;", plan.script()))
        .await
        .map_err(db_error(
            "applying the adopted SQL to a copy of the history",
        ))?;
    drop(client);
    pg_dump(engine, container, &copy.connection).await
}

/// `pg_dump --schema-only` of `database`, by the server's own pg_dump in its container (over
/// the container's socket, so no password travels).
async fn pg_dump(
    engine: &Engine,
    container: &str,
    database: &ConnectionInfo,
) -> Result<String, DevloopError> {
    let cmd = [
        "pg_dump",
        "--schema-only",
        "--username",
        &database.user,
        "--dbname",
        &database.database,
    ];
    let output = engine
        .exec_capture(container, "", &cmd)
        .await
        .map_err(|e| DevloopError::Docker(Box::new(e)))?;
    if output.exit_code != 0 {
        return Err(DevloopError::Dump {
            database: database.database.clone(),
            container: container.to_string(),
            stderr: output.stderr.trim().to_string(),
        });
    }
    Ok(output.stdout)
}

/// A dump's schema lines: no comments, session settings, psql meta-commands or blank lines,
/// and none of Debian 15's varying `pg_attver=` column options.
pub fn schema_lines(dump: &str) -> Vec<&str> {
    dump.lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty() && !l.starts_with("--") && !l.starts_with('\\'))
        .filter(|l| !l.starts_with("SET ") && !l.starts_with("SELECT pg_catalog.set_config"))
        .filter(|l| !l.contains("pg_attver="))
        .collect()
}

/// The first lines (at most 10) where the dumps part, as `-`/`+` lines.
fn differing_lines(got: &str, want: &str) -> Vec<String> {
    let (got, want) = (schema_lines(got), schema_lines(want));
    let mut out = Vec::new();
    let common = got.iter().zip(&want).take_while(|(a, b)| a == b).count();
    for line in got.iter().skip(common).take(5) {
        out.push(format!("- {line}"));
    }
    for line in want.iter().skip(common).take(5) {
        out.push(format!("+ {line}"));
    }
    out
}
