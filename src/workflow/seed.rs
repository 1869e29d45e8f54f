//! Seeds (`x-devdb.seed`): small deterministic data put into a freshly migrated database. A seed
//! either lands whole or not at all: SQL steps run in one transaction; when a step is a command
//! (which opens its own connections), every step runs on a copy of the database that replaces it
//! only on success. `reset` keeps the seeded database as a snapshot keyed by the migration hash
//! chain plus the hash of everything the seed reads, so an unchanged seed never runs again.

use std::path::{Path, PathBuf};

use tokio_postgres::Client;

use super::{db_error, snapshot, WorkflowError};
use crate::config::{Config, SeedKind};
use crate::db::{command, quote_ident, ConnectionInfo};
use crate::hint::Hint;
use crate::migrate::script::{line_of, Script};
use crate::shell::Shell;

/// Working copies a command seed runs on; a leftover one (a killed run) is dropped next time.
const WORK_PREFIX: &str = "devdb_seedtmp_";
/// How many of a failed command's last stderr lines the error shows.

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error(
        "x-devdb.seed[{step}]: `{glob}` matches no file under {}",
        root.display()
    )]
    NoMatch {
        step: usize,
        glob: String,
        root: PathBuf,
    },
    #[error("x-devdb.seed[{step}]: `{glob}` is not a valid glob: {message}")]
    BadGlob {
        step: usize,
        glob: String,
        message: String,
    },
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "seed failed at {}:{line}: {message}\n  statement: {statement}\n  \
         the database is left as migrated (the seed ran in one transaction); fix the file and run `devdb reset` (or `devdb seed`) again",
        path.display()
    )]
    Sql {
        path: PathBuf,
        line: usize,
        message: String,
        statement: String,
    },
    #[error("x-devdb.seed[{step}]: `{program}` is not installed or not on PATH")]
    NotInstalled { step: usize, program: String },
    #[error(
        "seed step {step} (`{command}`) {outcome}{}\n  \
         the database is left as migrated (the seed ran on a copy, now dropped); fix it and run `devdb reset` (or `devdb seed`) again",
        if stderr.is_empty() { String::new() } else { format!("; its last stderr lines:\n    {}", stderr.join("\n    ")) }
    )]
    Command {
        step: usize,
        command: String,
        outcome: String,
        stderr: Vec<String>,
    },
}

impl SeedError {
    /// What to do about it, shown apart from the message.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            SeedError::NoMatch { .. } => {
                Some(Hint::suggest("seed paths are relative to the project root"))
            }
            SeedError::NotInstalled { .. } => {
                Some(Hint::suggest("install it, or change the step's `run:`"))
            }
            _ => None,
        }
    }
}

/// A seed ready to run: each step's files found, and the hash of everything it reads.
#[derive(Debug, Clone)]
pub struct SeedPlan {
    steps: Vec<PlannedStep>,
    /// SHA-256 over every step's kind, command line and the content of its files and inputs.
    pub hash: String,
}

#[derive(Debug, Clone)]
enum PlannedStep {
    Sql { files: Vec<PathBuf> },
    Command { index: usize, run: Vec<String> },
}

impl SeedPlan {
    /// Finds the seed's files and hashes them; None when no seed is configured.
    pub fn load(config: &Config) -> Result<Option<SeedPlan>, SeedError> {
        if config.settings.seed.is_empty() {
            return Ok(None);
        }
        let root = config.root();
        let mut hashed = String::new();
        let mut steps = Vec::new();
        for (position, step) in config.settings.seed.iter().enumerate() {
            let index = position + 1;
            // Validated when the configuration loaded.
            let kind = step.kind().unwrap_or(SeedKind::Sql);
            let (files, planned) = match kind {
                SeedKind::Sql => {
                    let files = expand(root, index, &step.sql)?;
                    (files.clone(), PlannedStep::Sql { files })
                }
                SeedKind::Command => (
                    expand(root, index, &step.inputs)?,
                    PlannedStep::Command {
                        index,
                        run: step.run.clone(),
                    },
                ),
            };
            hashed.push_str(&format!("step {index} {kind:?} {:?}\n", step.run));
            for file in &files {
                let content = std::fs::read(file).map_err(|source| SeedError::Read {
                    path: file.clone(),
                    source,
                })?;
                let relative = file.strip_prefix(root).unwrap_or(file);
                hashed.push_str(&format!(
                    "{} {}\n",
                    relative.display(),
                    crate::digest::sha256_hex(&content)
                ));
            }
            steps.push(planned);
        }
        Ok(Some(SeedPlan {
            steps,
            hash: crate::digest::sha256_hex(hashed.as_bytes()),
        }))
    }

    /// The snapshot key of the seeded database: the full migration chain's hash plus the seed's.
    pub fn snapshot_key(&self, migration_hashes: &[String]) -> String {
        let chain = migration_hashes.last().map_or("", String::as_str);
        crate::digest::sha256_hex(format!("{chain}\nseed\n{}", self.hash).as_bytes())
    }

    fn has_command(&self) -> bool {
        self.steps
            .iter()
            .any(|s| matches!(s, PlannedStep::Command { .. }))
    }

    pub fn describe(&self) -> String {
        let files: usize = self
            .steps
            .iter()
            .map(|s| match s {
                PlannedStep::Sql { files } => files.len(),
                PlannedStep::Command { .. } => 0,
            })
            .sum();
        let commands = self.steps.len()
            - self
                .steps
                .iter()
                .filter(|s| matches!(s, PlannedStep::Sql { .. }))
                .count();
        format!("{files} SQL files, {commands} commands")
    }
}

/// The globs' matches, each glob's sorted; a glob that matches nothing is an error (a typo).
fn expand(root: &Path, index: usize, globs: &[String]) -> Result<Vec<PathBuf>, SeedError> {
    let mut files = Vec::new();
    for pattern in globs {
        let full = root.join(pattern);
        let matches = glob::glob(&full.to_string_lossy()).map_err(|e| SeedError::BadGlob {
            step: index,
            glob: pattern.clone(),
            message: e.to_string(),
        })?;
        let mut found: Vec<PathBuf> = matches
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect();
        if found.is_empty() {
            return Err(SeedError::NoMatch {
                step: index,
                glob: pattern.clone(),
                root: root.to_path_buf(),
            });
        }
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

/// Seeds the local database `local.database`: all or nothing. `admin`, a session on the
/// maintenance database, is needed only by a plan with a command (it seeds a copy); without one
/// given, such a plan opens its own, so a SQL-only seed logs in once.
pub async fn run(
    shell: &Shell,
    config: &Config,
    plan: &SeedPlan,
    local: &ConnectionInfo,
    admin: Option<&Client>,
) -> Result<(), WorkflowError> {
    if !plan.has_command() {
        let client = local.connect().await?;
        return run_steps(shell, config, plan, local, &client).await;
    }
    let opened;
    let admin = match admin {
        Some(admin) => admin,
        None => {
            opened = local.maintenance().connect().await?;
            &opened
        }
    };
    drop_leftovers(admin).await;
    let work = format!(
        "{WORK_PREFIX}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let copy = format!(
        "CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY",
        quote_ident(&work),
        quote_ident(&local.database)
    );
    snapshot::without_sessions(
        admin,
        &local.database,
        &copy,
        "copying the database to seed",
    )
    .await?;
    let target = local.with_database(&work);
    let outcome = match target.connect().await {
        Ok(client) => run_steps(shell, config, plan, &target, &client).await,
        Err(e) => Err(e.into()),
    };
    match outcome {
        Ok(()) => replace(admin, &work, &local.database).await,
        Err(error) => {
            let _ = drop_database(admin, &work).await;
            Err(error)
        }
    }
}

/// Runs every step against `target` through `client`; SQL steps share one transaction.
async fn run_steps(
    shell: &Shell,
    config: &Config,
    plan: &SeedPlan,
    target: &ConnectionInfo,
    client: &Client,
) -> Result<(), WorkflowError> {
    client
        .batch_execute("BEGIN")
        .await
        .map_err(db_error("starting the seed transaction"))?;
    for step in &plan.steps {
        match step {
            PlannedStep::Sql { files } => {
                for file in files {
                    if let Err(error) = run_sql_file(client, file).await {
                        let _ = client.batch_execute("ROLLBACK").await;
                        return Err(error);
                    }
                }
            }
            PlannedStep::Command { index, run } => {
                // The command connects on its own and must see what the SQL steps wrote.
                client
                    .batch_execute("COMMIT; BEGIN")
                    .await
                    .map_err(db_error("committing the SQL seed steps"))?;
                run_command(shell, config, *index, run, target).await?;
            }
        }
    }
    client
        .batch_execute("COMMIT")
        .await
        .map_err(db_error("committing the seed"))
}

/// Sends the whole file at once (fast); on failure finds the statement and line.
async fn run_sql_file(client: &Client, path: &Path) -> Result<(), WorkflowError> {
    let text = std::fs::read_to_string(path).map_err(|source| SeedError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    client
        .batch_execute("SAVEPOINT devdb_seed_file")
        .await
        .map_err(db_error("seeding"))?;
    let Err(error) = client.batch_execute(&text).await else {
        return client
            .batch_execute("RELEASE SAVEPOINT devdb_seed_file")
            .await
            .map_err(db_error("seeding"));
    };
    let _ = client
        .batch_execute("ROLLBACK TO SAVEPOINT devdb_seed_file")
        .await;
    // Again statement by statement, to name the one that fails (then rolled back too).
    let script = Script::parse(&text);
    for statement in &script.statements {
        if let Err(error) = client.batch_execute(&statement.text).await {
            let _ = client
                .batch_execute("ROLLBACK TO SAVEPOINT devdb_seed_file")
                .await;
            let line = match position(&error) {
                Some(p) => line_of(&text, statement.offset + char_to_byte(&statement.text, p)),
                None => statement.line,
            };
            return Err(sql_failure(path, line, &error, &statement.text));
        }
    }
    // The file failed as a whole but not statement by statement: report the first failure.
    let line = position(&error).map_or(1, |p| line_of(&text, char_to_byte(&text, p)));
    Err(sql_failure(path, line, &error, ""))
}

fn position(error: &tokio_postgres::Error) -> Option<usize> {
    match error.as_db_error()?.position()? {
        tokio_postgres::error::ErrorPosition::Original(p) => Some(*p as usize),
        _ => None,
    }
}

/// Postgres counts characters from 1.
fn char_to_byte(text: &str, position: usize) -> usize {
    text.char_indices()
        .nth(position.saturating_sub(1))
        .map_or(text.len(), |(b, _)| b)
}

fn sql_failure(
    path: &Path,
    line: usize,
    error: &tokio_postgres::Error,
    statement: &str,
) -> WorkflowError {
    let message = match error.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => error.to_string(),
    };
    let mut shown: Vec<&str> = statement.lines().take(3).collect();
    if statement.lines().count() > 3 {
        shown.push("...");
    }
    SeedError::Sql {
        path: crate::config::clean_path(path),
        line,
        message,
        statement: shown.join("\n    "),
    }
    .into()
}

/// Runs a command step through `db::command` (DATABASE_URL set, its output relayed masked).
async fn run_command(
    shell: &Shell,
    config: &Config,
    index: usize,
    run: &[String],
    target: &ConnectionInfo,
) -> Result<(), WorkflowError> {
    let Some((program, arguments)) = run.split_first() else {
        return Ok(()); // Refused when the configuration loaded.
    };
    let resolved =
        which::which_in(program, std::env::var_os("PATH"), config.root()).map_err(|_| {
            SeedError::NotInstalled {
                step: index,
                program: program.clone(),
            }
        })?;
    let done = command::run_with_url(shell, config.root(), &resolved, arguments, target)
        .await
        .map_err(|source| SeedError::Read {
            path: resolved.clone(),
            source,
        })?;
    let status = done.status;
    if status.success() {
        return Ok(());
    }
    let outcome = match status.code() {
        Some(code) => format!("exited with code {code}"),
        None => format!("was stopped ({status})"),
    };
    Err(SeedError::Command {
        step: index,
        command: run.join(" "),
        outcome,
        stderr: done.stderr_tail,
    }
    .into())
}

/// Puts the seeded copy `work` in place of `database`.
async fn replace(admin: &Client, work: &str, database: &str) -> Result<(), WorkflowError> {
    let trash = format!(
        "devdb_trash_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let aside = format!(
        "ALTER DATABASE {} RENAME TO {}",
        quote_ident(database),
        quote_ident(&trash)
    );
    snapshot::without_sessions(
        admin,
        database,
        &aside,
        "moving the unseeded database aside",
    )
    .await?;
    let rename = format!(
        "ALTER DATABASE {} RENAME TO {}",
        quote_ident(work),
        quote_ident(database)
    );
    if let Err(error) =
        snapshot::without_sessions(admin, work, &rename, "putting the seeded copy in place").await
    {
        // Put the migrated database back rather than leave none.
        let back = format!(
            "ALTER DATABASE {} RENAME TO {}",
            quote_ident(&trash),
            quote_ident(database)
        );
        let _ = admin.batch_execute(&back).await;
        return Err(error);
    }
    drop_database(admin, &trash).await
}

async fn drop_database(admin: &Client, name: &str) -> Result<(), WorkflowError> {
    snapshot::drop_database(admin, name, "dropping a seed copy").await
}

/// Working copies a killed seed left behind. Best effort: the next seed tries again.
async fn drop_leftovers(admin: &Client) {
    let Ok(rows) = admin
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'devdb\\_seedtmp\\_%'",
            &[],
        )
        .await
    else {
        return;
    };
    for row in rows {
        let name: String = row.get(0);
        let _ = drop_database(admin, &name).await;
    }
}

/// The snapshot hashes `reset` keeps for this configuration: every migration prefix, and the
/// seeded database's key when a seed is configured and readable.
pub fn snapshot_chain(config: &Config, migration_hashes: &[String]) -> Vec<String> {
    let mut chain = migration_hashes.to_vec();
    if let Ok(Some(plan)) = SeedPlan::load(config) {
        chain.push(plan.snapshot_key(migration_hashes));
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters() {
        assert_eq!(char_to_byte("é = x", 3), 3);
        assert_eq!(char_to_byte("abc", 10), 3);
    }

    #[test]
    fn the_seeded_key_depends_on_migrations_and_seed() {
        let plan = |hash: &str| SeedPlan {
            steps: Vec::new(),
            hash: hash.to_string(),
        };
        let chain = vec!["a".to_string(), "b".to_string()];
        let key = plan("s1").snapshot_key(&chain);
        assert_ne!(key, plan("s2").snapshot_key(&chain));
        assert_ne!(key, plan("s1").snapshot_key(&chain[..1]));
        assert_eq!(key, plan("s1").snapshot_key(&chain));
    }
}
