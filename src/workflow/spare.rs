//! Ready copies of snapshots ("spares") and the background job that keeps them, so a reset
//! swaps databases by renaming them (milliseconds) instead of copying a template, replaying
//! migrations or dropping anything while the developer waits.
//!
//! The foreground (`restore`) only renames: the old database aside as trash, a spare into its
//! place. Everything that costs time with the history's length runs in a detached job (like
//! `git gc --auto`) after the reset returned: copying snapshots into a pool of spares, building
//! missing snapshots by replaying migrations on a copy of the nearest one, and dropping trash
//! (each DROP DATABASE forces a checkpoint). A reset that finds the pool empty copies the
//! template itself, so it never waits for the job either.

use std::collections::HashSet;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use super::snapshot;
use super::{db_error, WorkflowError};
use crate::config::Config;
use crate::db::{quote_ident, ConnectionInfo};
use crate::migrate::{self, files, MigrationFile};
use crate::shell::Shell;

/// The background job's sessions' application_name (a reset's are `devdb`).
pub const APPLICATION_NAME: &str = "devdb spares";
const SPARE: &str = "devdb_spare_";
/// Left by jobs of earlier devdb versions, which copied under this name and then renamed.
const LEGACY_IN_PROGRESS: &str = "devdb_sparetmp_";
const BUILDING: &str = "devdb_build_";
const TRASH: &str = "devdb_trash_";
/// Ready copies kept of the whole history: back-to-back resets (a test loop) take one each
/// while the job makes one per copy time, so a small pool carries a burst.
pub const POOL: usize = 6;
/// A reset that applied several migrations for longer than this makes the snapshots of the
/// whole history and of all but its last migration (and one spare) itself: copying costs less
/// than what it just did, and a reset right after it (before the job is done) would otherwise
/// do all that work again. One migration (the last edited, one added) is left to the job.
pub const INLINE_AFTER: Duration = Duration::from_millis(300);
/// Held by the job while it works, so two of them never work at once.
const RUNNER_LOCK: i64 = 72707370;
/// Held by at most one job waiting for the runner: a reset's changes are seen by the runner's
/// next round or by the waiter, so further jobs have nothing to add and exit.
const WAITER_LOCK: i64 = 72707371;

fn short(hash: &str) -> &str {
    &hash[..20]
}

fn spare_prefix(hash: &str) -> String {
    format!("{SPARE}{}_", short(hash))
}

/// `prefix` plus a random suffix: concurrent makers never collide.
fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

/// The names of devdb's own databases, read once per decision.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    names: Vec<String>,
}

impl Inventory {
    pub async fn read(admin: &Client) -> Result<Inventory, WorkflowError> {
        // The simple protocol: one round trip (`query` would prepare first).
        let names = admin
            .simple_query(
                "SELECT datname FROM pg_database WHERE datname LIKE 'devdb\\_%' ORDER BY datname",
            )
            .await
            .map_err(db_error("listing devdb's databases"))?
            .iter()
            .filter_map(|message| match message {
                tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
                _ => None,
            })
            .collect();
        Ok(Inventory { names })
    }

    fn has_snapshot(&self, hash: &str) -> bool {
        let name = snapshot::database_name(hash);
        self.names.contains(&name)
    }

    /// Spares of the prefix `hash` (also the unsuffixed name earlier versions used).
    fn spares(&self, hash: &str) -> Vec<&str> {
        let prefix = spare_prefix(hash);
        let legacy = &prefix[..prefix.len() - 1];
        self.names
            .iter()
            .filter(|n| n.starts_with(&prefix) || *n == legacy)
            .map(String::as_str)
            .collect()
    }
}

/// What a reset started from.
pub struct Restored {
    /// Migrations the new database already holds.
    pub migrations: usize,
    /// It holds the seed too (the seeded snapshot of an unchanged history and seed).
    pub seeded: bool,
    pub detail: String,
}

/// Puts the seeded snapshot `key` (a spare of it, else a copy) in place of `database`; None
/// when there is no such snapshot (history or seed changed), and nothing was touched.
pub async fn restore_seeded(
    admin: &Client,
    database: &str,
    key: &str,
    migrations: usize,
) -> Result<Option<Restored>, WorkflowError> {
    let inventory = Inventory::read(admin).await?;
    let spares = inventory.spares(key);
    if spares.is_empty() && !inventory.has_snapshot(key) {
        return Ok(None);
    }
    admin
        .batch_execute("SET synchronous_commit = off")
        .await
        .map_err(db_error("preparing the admin session"))?;
    set_aside(admin, database).await?;
    let restored = |detail: &str| Restored {
        migrations,
        seeded: true,
        detail: format!("{detail} (migrations and seed unchanged)"),
    };
    for spare in spares {
        if rename(admin, spare, database).await? {
            return Ok(Some(restored("ready copy of the seeded snapshot")));
        }
    }
    if copy(admin, &snapshot::database_name(key), database).await? {
        return Ok(Some(restored("copied the seeded snapshot")));
    }
    Ok(None)
}

/// Puts the longest unchanged prefix of the history in place of `database`: a spare renamed
/// in, else a copy of the snapshot, else an empty database. The old database is renamed aside
/// for the job to drop.
pub async fn restore(
    admin: &Client,
    database: &str,
    files: &[MigrationFile],
    hashes: &[String],
) -> Result<Restored, WorkflowError> {
    // Renames and copies need no disk flush at commit: a crash loses at most the swap, and
    // the old database is then still in place.
    admin
        .batch_execute("SET synchronous_commit = off")
        .await
        .map_err(db_error("preparing the admin session"))?;
    let inventory = Inventory::read(admin).await?;
    let mut moved_aside = false;
    for k in (1..=files.len()).rev() {
        let hash = &hashes[k - 1];
        let spares = inventory.spares(hash);
        let has_snapshot = inventory.has_snapshot(hash);
        if spares.is_empty() && !has_snapshot {
            continue;
        }
        if !moved_aside {
            set_aside(admin, database).await?;
            moved_aside = true;
        }
        let through = &files[k - 1].name;
        for spare in spares {
            if rename(admin, spare, database).await? {
                return Ok(Restored {
                    migrations: k,
                    seeded: false,
                    detail: format!(
                        "ready copy of the snapshot of {k} migrations (through {through})"
                    ),
                });
            }
        }
        if has_snapshot && copy(admin, &snapshot::database_name(hash), database).await? {
            return Ok(Restored {
                migrations: k,
                seeded: false,
                detail: format!("copied the snapshot of {k} migrations (through {through}); no ready copy was left"),
            });
        }
    }
    if !moved_aside {
        set_aside(admin, database).await?;
    }
    admin
        .batch_execute(&format!("CREATE DATABASE {}", quote_ident(database)))
        .await
        .map_err(db_error("creating the local database"))?;
    Ok(Restored {
        migrations: 0,
        seeded: false,
        detail: "created empty (no snapshot matches)".to_string(),
    })
}

/// Renames `database` to a trash name (if it exists), closing its sessions.
async fn set_aside(admin: &Client, database: &str) -> Result<(), WorkflowError> {
    let sql = format!(
        "ALTER DATABASE {} RENAME TO {}",
        quote_ident(database),
        quote_ident(&unique(TRASH))
    );
    match snapshot::without_sessions(admin, database, &sql, "moving the old database aside").await {
        Err(WorkflowError::Database { error, .. })
            if error.code() == Some(&SqlState::UNDEFINED_DATABASE) =>
        {
            Ok(())
        }
        other => other,
    }
}

/// Renames `from` to `to`; false when `from` is gone (another reset or the job took it).
async fn rename(admin: &Client, from: &str, to: &str) -> Result<bool, WorkflowError> {
    let sql = format!(
        "ALTER DATABASE {} RENAME TO {}",
        quote_ident(from),
        quote_ident(to)
    );
    match admin.batch_execute(&sql).await {
        Ok(()) => Ok(true),
        Err(e) if e.code() == Some(&SqlState::UNDEFINED_DATABASE) => Ok(false),
        Err(e) => Err(db_error("putting the ready copy in place")(e)),
    }
}

/// Copies the template `source` into `target`; false when `source` is gone (pruned).
async fn copy(admin: &Client, source: &str, target: &str) -> Result<bool, WorkflowError> {
    match admin
        .batch_execute(&snapshot::copy_sql(source, target))
        .await
    {
        Ok(()) => Ok(true),
        Err(e) if e.code() == Some(&SqlState::UNDEFINED_DATABASE) => Ok(false),
        Err(e) => Err(db_error("copying a snapshot")(e)),
    }
}

/// After a long replay (see `INLINE_AFTER`): the snapshot of `files` and, for the whole
/// history, one spare of it, made now. Returns the snapshots made.
pub async fn keep_inline(
    admin: &Client,
    database: &str,
    files: &[MigrationFile],
    hashes: &[String],
) -> Result<usize, WorkflowError> {
    let Some(last) = files.last() else {
        return Ok(0);
    };
    let hash = &hashes[files.len() - 1];
    let name = snapshot::database_name(hash);
    snapshot::create(admin, database, &name, files.len(), &last.name).await?;
    if files.len() == hashes.len() {
        copy(admin, &name, &unique(&spare_prefix(hash))).await?;
    }
    Ok(1)
}

/// Starts the background job. Best effort: if it cannot start, the next reset copies the
/// template itself.
pub fn spawn(config: &Config) {
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut command = std::process::Command::new(exe);
    command
        .args(config.cli_args())
        .arg("internal-prepare-spares")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    #[cfg(unix)]
    {
        // Its own process group: a Ctrl-C meant for the developer's next command spares it.
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    let _ = command.spawn();
}

/// One unit of the job's work.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Task {
    /// Replay migrations on a copy of the snapshot of `base` migrations (0: an empty
    /// database), keeping a snapshot at each of `targets` (ascending).
    Build { base: usize, targets: Vec<usize> },
    /// Copy the snapshot of `count` migrations into a new spare.
    Spare { count: usize },
    /// Copy the seeded snapshot (this key) into a new spare.
    SeededSpare(String),
    /// Drop a database nobody needs: set aside by a reset, a spare of another history, or
    /// left by an interrupted job.
    Drop(String),
}

/// The most useful next task: what the next reset most likely needs first (the whole
/// history, a spare of it and of all but its last migration, a deeper pool), then cleanup,
/// then the snapshots that only an edit needs (all but the last migration, checkpoints).
fn next_task(
    inventory: &Inventory,
    hashes: &[String],
    seeded: Option<&str>,
    given_up: &HashSet<Task>,
) -> Option<Task> {
    next_task_within(inventory, hashes, seeded, given_up, POOL, true)
}

/// `next_task` with a pool of `pool` spares; `thorough`: also the snapshots only an edit needs.
fn next_task_within(
    inventory: &Inventory,
    hashes: &[String],
    seeded: Option<&str>,
    given_up: &HashSet<Task>,
    pool: usize,
    thorough: bool,
) -> Option<Task> {
    let n = hashes.len();
    let has = |k: usize| inventory.has_snapshot(&hashes[k - 1]);
    let spares = |k: usize| inventory.spares(&hashes[k - 1]).len();
    let wanted = snapshot::checkpoints(n);
    let build = |target: usize| {
        let base = (1..target).rev().find(|k| has(*k)).unwrap_or(0);
        let targets = wanted
            .iter()
            .copied()
            .filter(|k| *k > base && *k <= target && !has(*k))
            .collect();
        Task::Build { base, targets }
    };
    let previous = n.saturating_sub(1);
    let mut candidates = Vec::new();
    // With a seed, the next unchanged reset wants the seeded snapshot's spare first.
    if let Some(key) = seeded.filter(|key| inventory.has_snapshot(key)) {
        if inventory.spares(key).len() < pool.min(2) {
            candidates.push(Task::SeededSpare(key.to_string()));
        }
    }
    if n > 0 && !has(n) {
        candidates.push(build(n));
    }
    if n > 0 && has(n) && spares(n) == 0 {
        candidates.push(Task::Spare { count: n });
    }
    if previous > 0 && has(previous) && spares(previous) == 0 {
        candidates.push(Task::Spare { count: previous });
    }
    if n > 0 && has(n) && spares(n) < pool {
        candidates.push(Task::Spare { count: n });
    }
    let current_spares: Vec<&str> = [n, n.saturating_sub(1)]
        .into_iter()
        .filter(|k| *k > 0)
        .flat_map(|k| inventory.spares(&hashes[k - 1]))
        .chain(seeded.into_iter().flat_map(|key| inventory.spares(key)))
        .collect();
    candidates.extend(
        inventory
            .names
            .iter()
            .filter(|name| {
                name.starts_with(TRASH)
                    || name.starts_with(BUILDING)
                    || name.starts_with(LEGACY_IN_PROGRESS)
                    || (name.starts_with(SPARE) && !current_spares.contains(&name.as_str()))
            })
            .map(|name| Task::Drop(name.clone())),
    );
    // Replays last: they take longest, and the next reset needs none of them.
    if !thorough {
        return candidates.into_iter().find(|task| !given_up.contains(task));
    }
    if previous > 0 && !has(previous) {
        candidates.push(build(previous));
    }
    if let Some(missing) = wanted.iter().rev().copied().find(|k| !has(*k)) {
        candidates.push(build(missing));
    }
    candidates.into_iter().find(|task| !given_up.contains(task))
}

/// The background job: works through `next_task` until nothing is left, re-reading the
/// migrations and databases each round (the developer may reset or edit meanwhile), then
/// prunes snapshots of other histories. `wait`: queue behind a running job instead of
/// leaving the work to it (tests and benchmarks wait for a settled state this way).
pub async fn maintain(
    shell: &Shell,
    admin: &Client,
    local: &ConnectionInfo,
    config: &Config,
    wait: bool,
) -> Result<(), WorkflowError> {
    if !acquire(admin, wait).await? {
        return Ok(());
    }
    let result = maintain_locked(shell, admin, local, config).await;
    let _ = release(admin).await;
    result
}

async fn maintain_locked(
    shell: &Shell,
    admin: &Client,
    local: &ConnectionInfo,
    config: &Config,
) -> Result<(), WorkflowError> {
    let dir = &config.migrations_dir();
    admin
        .batch_execute("SET synchronous_commit = off")
        .await
        .map_err(db_error("preparing the admin session"))?;
    let mut given_up = HashSet::new();
    loop {
        let files = files::discover(dir)?;
        let job = Job {
            shell,
            admin,
            local,
            dir,
            hashes: snapshot::prefix_hashes(&files),
            files,
        };
        let inventory = Inventory::read(admin).await?;
        // A database named `postgres` puts the job's session on template1, which every plain
        // CREATE DATABASE copies and which must then have no other session: the job keeps
        // that window short (one spare, no replays beyond the whole history).
        let short = crate::db::maintenance_database(&local.database) == "template1";
        // The seeded snapshot belongs to this history too: kept, and given a spare.
        let chain = super::seed::snapshot_chain(config, &job.hashes);
        let seeded = chain.get(job.hashes.len()).map(String::as_str);
        let task = if short {
            next_task_within(&inventory, &job.hashes, seeded, &given_up, 1, false)
        } else {
            next_task(&inventory, &job.hashes, seeded, &given_up)
        };
        let Some(task) = task else {
            snapshot::prune(admin, &chain, false).await?;
            return Ok(());
        };
        if job.run(&task).await.is_err() {
            // Tried once per job: a migration that fails here failed the reset too.
            given_up.insert(task);
        }
    }
}

/// What one round of the job works with.
struct Job<'a> {
    shell: &'a Shell,
    admin: &'a Client,
    local: &'a ConnectionInfo,
    dir: &'a Path,
    files: Vec<MigrationFile>,
    hashes: Vec<String>,
}

impl Job<'_> {
    fn snapshot(&self, count: usize) -> String {
        snapshot::database_name(&self.hashes[count - 1])
    }

    async fn run(&self, task: &Task) -> Result<(), WorkflowError> {
        match task {
            Task::Spare { count } => {
                let spare = unique(&spare_prefix(&self.hashes[count - 1]));
                copy(self.admin, &self.snapshot(*count), &spare).await?;
                Ok(())
            }
            Task::SeededSpare(key) => {
                let spare = unique(&spare_prefix(key));
                copy(self.admin, &snapshot::database_name(key), &spare).await?;
                Ok(())
            }
            Task::Drop(name) => drop_database(self.admin, name).await,
            Task::Build { base, targets } => {
                let building = unique(BUILDING);
                let result = self.build(*base, targets, &building).await;
                if result.is_err() {
                    let _ = drop_database(self.admin, &building).await;
                }
                result
            }
        }
    }

    /// Replays migrations from the snapshot of `base` migrations in `building`, copying it into
    /// a snapshot at each target but the last, which `building` itself becomes (renamed).
    async fn build(
        &self,
        base: usize,
        targets: &[usize],
        building: &str,
    ) -> Result<(), WorkflowError> {
        let create = match base {
            0 => format!("CREATE DATABASE {}", quote_ident(building)),
            k => snapshot::copy_sql(&self.snapshot(k), building),
        };
        self.admin
            .batch_execute(&create)
            .await
            .map_err(db_error("starting a snapshot"))?;
        for (i, &target) in targets.iter().enumerate() {
            let client = self
                .local
                .with_database(building)
                .connect_as(APPLICATION_NAME)
                .await?;
            migrate::deploy(self.shell, &client, self.dir, &self.files[..target]).await?;
            drop(client);
            let name = self.snapshot(target);
            let last = &self.files[target - 1].name;
            if i + 1 < targets.len() {
                snapshot::create(self.admin, building, &name, target, last).await?;
                continue;
            }
            let sql = format!(
                "ALTER DATABASE {} RENAME TO {}",
                quote_ident(building),
                quote_ident(&name)
            );
            // A reset that made the same snapshot meanwhile fails this; ours is then dropped.
            snapshot::without_sessions(self.admin, building, &sql, "naming a snapshot").await?;
            snapshot::mark(self.admin, &name, target, last).await?;
        }
        Ok(())
    }
}

async fn drop_database(admin: &Client, name: &str) -> Result<(), WorkflowError> {
    snapshot::drop_database(admin, name, "dropping an unused database").await
}

/// Takes the runner lock: at once, or (`wait`) when the running job is done, or as the one
/// waiter; false when a job runs and another already waits.
async fn acquire(admin: &Client, wait: bool) -> Result<bool, WorkflowError> {
    if try_lock(admin, RUNNER_LOCK).await? {
        return Ok(true);
    }
    if !wait && !try_lock(admin, WAITER_LOCK).await? {
        return Ok(false);
    }
    hold(admin).await?;
    if !wait {
        unlock(admin, WAITER_LOCK).await?;
    }
    Ok(true)
}

async fn try_lock(admin: &Client, key: i64) -> Result<bool, WorkflowError> {
    Ok(admin
        .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
        .await
        .map_err(db_error("taking the snapshot job's lock"))?
        .get(0))
}

async fn unlock(admin: &Client, key: i64) -> Result<(), WorkflowError> {
    admin
        .query_one("SELECT pg_advisory_unlock($1)", &[&key])
        .await
        .map_err(db_error("releasing the snapshot job's lock"))?;
    Ok(())
}

/// Waits for a running job and keeps others from working until `release`, so pruning never
/// races one.
pub async fn hold(admin: &Client) -> Result<(), WorkflowError> {
    admin
        .query_one("SELECT pg_advisory_lock($1)", &[&RUNNER_LOCK])
        .await
        .map_err(db_error("waiting for the background snapshot job"))?;
    Ok(())
}

pub async fn release(admin: &Client) -> Result<(), WorkflowError> {
    unlock(admin, RUNNER_LOCK).await
}

/// Every spare, set-aside and half-built database (for `snapshot prune --all`).
pub async fn drop_all(admin: &Client) -> Result<usize, WorkflowError> {
    let inventory = Inventory::read(admin).await?;
    let names: Vec<&String> = inventory
        .names
        .iter()
        .filter(|n| {
            n.starts_with(SPARE)
                || n.starts_with(LEGACY_IN_PROGRESS)
                || n.starts_with(TRASH)
                || n.starts_with(BUILDING)
        })
        .collect();
    for name in &names {
        drop_database(admin, name).await?;
    }
    Ok(names.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashes(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| crate::digest::sha256_hex(i.to_string().as_bytes()))
            .collect()
    }

    fn inventory(names: &[String]) -> Inventory {
        Inventory {
            names: names.to_vec(),
        }
    }

    fn snap(hashes: &[String], k: usize) -> String {
        snapshot::database_name(&hashes[k - 1])
    }

    fn spare(hashes: &[String], k: usize, i: usize) -> String {
        format!("{}{i}", spare_prefix(&hashes[k - 1]))
    }

    #[test]
    fn the_seeded_snapshot_gets_its_spares_first_and_they_are_never_dropped() {
        let h = hashes(3);
        let key = crate::digest::sha256_hex(b"seeded");
        let none = HashSet::new();
        let mut names = vec![snap(&h, 2), snap(&h, 3), snapshot::database_name(&key)];
        let seeded = Some(key.as_str());
        assert_eq!(
            next_task(&inventory(&names), &h, seeded, &none),
            Some(Task::SeededSpare(key.clone()))
        );
        names.push(format!("{}1", spare_prefix(&key)));
        names.push(format!("{}2", spare_prefix(&key)));
        let mut seen = HashSet::new();
        while let Some(task) = next_task(&inventory(&names), &h, seeded, &seen) {
            assert!(
                !matches!(&task, Task::Drop(name) if name.starts_with(&spare_prefix(&key))),
                "{task:?}"
            );
            assert_ne!(
                task,
                Task::SeededSpare(key.clone()),
                "the pool of 2 is full"
            );
            seen.insert(task);
        }
        // Another seed (or none): those spares are another history's, and are dropped.
        let mut seen = HashSet::new();
        let mut dropped = 0;
        while let Some(task) = next_task(&inventory(&names), &h, None, &seen) {
            if matches!(&task, Task::Drop(name) if name.starts_with(&spare_prefix(&key))) {
                dropped += 1;
            }
            seen.insert(task);
        }
        assert_eq!(dropped, 2);
    }

    #[test]
    fn the_whole_history_comes_first_then_its_spares_then_cleanup_then_checkpoints() {
        let h = hashes(60);
        let none = HashSet::new();
        // Nothing yet: replay everything, keeping each wanted snapshot on the way.
        assert_eq!(
            next_task(&inventory(&[]), &h, None, &none),
            Some(Task::Build {
                base: 0,
                targets: vec![25, 50, 59, 60]
            })
        );
        // The last migration edited: rebuilt from the snapshot before it.
        let names = vec![snap(&h, 25), snap(&h, 50), snap(&h, 59)];
        assert_eq!(
            next_task(&inventory(&names), &h, None, &none),
            Some(Task::Build {
                base: 59,
                targets: vec![60]
            })
        );
        // After a long reset made the whole history inline: its pool before any replay.
        let mut names = vec![snap(&h, 60), spare(&h, 60, 1)];
        for i in 2..=POOL {
            assert_eq!(
                next_task(&inventory(&names), &h, None, &none),
                Some(Task::Spare { count: 60 })
            );
            names.push(spare(&h, 60, i));
        }
        assert_eq!(
            next_task(&inventory(&names), &h, None, &none),
            Some(Task::Build {
                base: 0,
                targets: vec![25, 50, 59]
            })
        );
        let mut names = vec![snap(&h, 59), snap(&h, 60)];
        assert_eq!(
            next_task(&inventory(&names), &h, None, &none),
            Some(Task::Spare { count: 60 })
        );
        names.push(spare(&h, 60, 1));
        assert_eq!(
            next_task(&inventory(&names), &h, None, &none),
            Some(Task::Spare { count: 59 })
        );
        names.push(spare(&h, 59, 1));
        for i in 2..=POOL {
            assert_eq!(
                next_task(&inventory(&names), &h, None, &none),
                Some(Task::Spare { count: 60 })
            );
            names.push(spare(&h, 60, i));
        }
        let trash = format!("{TRASH}0123456789");
        let stale = spare(&hashes(61)[..], 61, 1);
        names.extend([trash.clone(), stale.clone()]);
        assert_eq!(
            next_task(&inventory(&names), &h, None, &none),
            Some(Task::Drop(trash.clone()))
        );
        names.retain(|n| *n != trash);
        assert_eq!(
            next_task(&inventory(&names), &h, None, &none),
            Some(Task::Drop(stale.clone()))
        );
        names.retain(|n| *n != stale);
        // Checkpoints last, from the nearest snapshot below them.
        assert_eq!(
            next_task(&inventory(&names), &h, None, &none),
            Some(Task::Build {
                base: 0,
                targets: vec![25, 50]
            })
        );
        names.extend([snap(&h, 25), snap(&h, 50)]);
        assert_eq!(next_task(&inventory(&names), &h, None, &none), None);
    }

    #[test]
    fn a_failed_task_is_not_retried_in_the_same_job() {
        let h = hashes(3);
        let first = next_task(&inventory(&[]), &h, None, &HashSet::new()).unwrap();
        let given_up = HashSet::from([first.clone()]);
        assert_ne!(next_task(&inventory(&[]), &h, None, &given_up), Some(first));
    }

    #[test]
    fn spares_of_a_prefix_include_the_unsuffixed_legacy_name() {
        let h = hashes(1);
        let legacy = format!("{SPARE}{}", short(&h[0]));
        let names = vec![legacy.clone(), spare(&h, 1, 7), snap(&h, 1)];
        assert_eq!(
            inventory(&names).spares(&h[0]),
            [legacy.as_str(), names[1].as_str()]
        );
    }
}
