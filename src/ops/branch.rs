//! A database per git branch: before a command touches the local database, `follow` parks the
//! database in place under its branch's name and renames the checked-out branch's database in
//! (no copy), or copies the one in place for a branch seen for the first time. Crash-safe by
//! order: the old database is tagged with where it is going (the journal), renamed aside, and
//! only then is the new one put in place and the journal cleared; a command that finds a
//! journal finishes the switch first. Held under the reset lock, so two commands never switch
//! (or reset) at once.

use std::time::Instant;

use anyhow::Result;
use serde::Serialize;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use super::Ctx;
use crate::branch::head::{Head, Repo};
use crate::branch::hook::{self, Installed};
use crate::branch::names;
use crate::branch::plan::{self, Parked, Plan, State, Tag};
use crate::branch::BranchError;
use crate::config::Config;
use crate::db::{quote_ident, quote_literal, ConnectionInfo, DbError};
use crate::docker::Engine;
use crate::migrate::{self, files, ledger};
use crate::shell::Shell;
use crate::workflow::{self, snapshot};

/// How the checked-out branch got its database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum How {
    /// The database in place was nobody's: it became this branch's.
    Claimed,
    /// Its parked database was renamed in.
    SwappedIn,
    /// First seen: a copy of the database it came from, then its own pending migrations.
    Copied,
    /// First seen, but the database it came from holds migrations this branch does not have:
    /// built from the nearest snapshot (a reset).
    Rebuilt,
}

/// What `follow` did.
#[derive(Debug, Clone, Serialize)]
pub struct Switched {
    pub from: Option<String>,
    pub to: String,
    pub how: How,
    /// Where `from`'s database now waits.
    pub parked_as: Option<String>,
    /// Migrations applied to the new branch's database.
    pub applied: Vec<String>,
    /// A switch a crash had cut short was finished.
    pub resumed: bool,
    /// Migrations of the copy this branch has no folder for (why it was rebuilt).
    pub missing: Vec<String>,
    pub milliseconds: u128,
}

/// `devdb branch status` and the branch part of `devdb status`.
#[derive(Debug, Clone, Serialize)]
pub struct BranchStatus {
    pub enabled: bool,
    /// `x-devdb.branches` or `devdb branch on|off` (which wins when both are set).
    pub decided_by: &'static str,
    pub head: Option<Head>,
    pub database: String,
    /// The branch the database in place belongs to.
    pub owner: Option<String>,
    pub parked: Vec<Parked>,
}

fn query(action: &str) -> impl FnOnce(tokio_postgres::Error) -> DbError + '_ {
    move |error| DbError::Query {
        action: action.to_string(),
        error,
    }
}

/// Whether branches are on here, and which setting said so.
fn enabled(config: &Config, repo: &Repo) -> (bool, &'static str) {
    match repo.switched() {
        Some(on) => (on, "devdb branch on|off"),
        None => (config.settings.branches, "x-devdb.branches"),
    }
}

/// The repository, when devdb follows its branches (on by `devdb branch on` or the config).
fn followed_repo(config: &Config) -> Option<Repo> {
    Repo::find(config.root()).filter(|repo| enabled(config, repo).0)
}

fn head_of(repo: &Repo) -> Result<Head, BranchError> {
    repo.head().map_err(|error| BranchError::Io {
        action: "reading what is checked out",
        path: repo.git_dir.join("HEAD").display().to_string(),
        error,
    })
}

/// Puts the checked-out branch's database in place, if branches are on and it is not there.
/// Called on the way to the local database (`Ctx::local`, `reset`).
pub async fn follow(
    shell: &Shell,
    engine: &Engine,
    config: &Config,
    local: &ConnectionInfo,
) -> Result<Option<Switched>> {
    let Some(repo) = followed_repo(config) else {
        return Ok(None);
    };
    let started = Instant::now();
    let head = head_of(&repo)?;
    let admin = local.maintenance().connect().await?;
    let database = &local.database;
    match plan::decide(&read_state(&admin, database, false).await?, &head) {
        Plan::Nothing => return Ok(None),
        Plan::LeaveAlone(why) => {
            shell.note(format!("branches: {why}"));
            return Ok(None);
        }
        _ => {}
    }
    workflow::serialize_resets(shell, &admin, database).await?;
    admin
        .batch_execute("SET synchronous_commit = off")
        .await
        .map_err(query("preparing the admin session"))?;
    // Again under the lock: another command may have switched meanwhile.
    let state = read_state(&admin, database, false).await?;
    let plan = plan::decide(&state, &head);
    let done = apply(&admin, local, config, &state, &plan).await?;
    // Closing the session releases the lock before migrations (and a reset, which takes it).
    drop(admin);
    let Some(mut done) = done else {
        return Ok(None);
    };
    complete(shell, engine, config, local, &mut done).await?;
    done.milliseconds = started.elapsed().as_millis();
    say(shell, &done);
    Ok(Some(done))
}

/// The project database and its parked ones, with their tags (`sizes`: and sizes on disk).
async fn read_state(admin: &Client, database: &str, sizes: bool) -> Result<State, DbError> {
    let size = if sizes {
        "pg_database_size(oid)"
    } else {
        "0::bigint"
    };
    let rows = admin
        .query(
            &format!(
                "SELECT datname::text, shobj_description(oid, 'pg_database'), {size} FROM pg_database \
                 WHERE datname = $1 OR starts_with(datname, $2) ORDER BY datname"
            ),
            &[&database, &names::prefix(database)],
        )
        .await
        .map_err(query("listing the branch databases"))?;
    let mut state = State::default();
    for row in rows {
        let name: String = row.get(0);
        let tag = Tag::parse(row.get::<_, Option<String>>(1).as_deref());
        if name == database {
            state.local = Some(tag);
        } else if let Some(tag) = tag {
            state.parked.push(Parked {
                database: name,
                branch: tag.devdb_branch,
                switching_to: tag.switching_to,
                bytes: row.get(2),
            });
        }
    }
    Ok(state)
}

async fn set_tag(admin: &Client, database: &str, tag: &Tag) -> Result<(), DbError> {
    admin
        .batch_execute(&format!(
            "COMMENT ON DATABASE {} IS {}",
            quote_ident(database),
            quote_literal(&tag.comment())
        ))
        .await
        .map_err(query("tagging a branch database"))
}

/// The renames and copies of `plan`, in the order that survives a kill at any point.
async fn apply(
    admin: &Client,
    local: &ConnectionInfo,
    config: &Config,
    state: &State,
    plan: &Plan,
) -> Result<Option<Switched>> {
    let database = &local.database;
    let files = files::discover(&config.migrations_dir())?;
    match plan {
        Plan::Nothing | Plan::LeaveAlone(_) => Ok(None),
        Plan::Claim { branch } => {
            set_tag(admin, database, &Tag::of(branch)).await?;
            Ok(Some(switched(None, branch, How::Claimed)))
        }
        Plan::Switch { from, to, parked } => {
            let parked_from = names::parked_name(database, from);
            if state.parked.iter().any(|p| p.database == parked_from) {
                return Err(BranchError::ParkedExists {
                    branch: from.clone(),
                    parked: parked_from,
                }
                .into());
            }
            let missing = match parked {
                Some(_) => Vec::new(),
                None => missing_migrations(local, &files).await?,
            };
            close_sessions(admin, database, to).await?;
            let journal = Tag {
                devdb_branch: from.clone(),
                switching_to: Some(to.clone()),
            };
            set_tag(admin, database, &journal).await?;
            rename(admin, database, &parked_from).await?;
            let done = swap_in(
                admin,
                database,
                &parked_from,
                from,
                to,
                parked.as_deref(),
                missing,
            )
            .await?;
            Ok(Some(done))
        }
        Plan::Resume {
            from,
            parked_from,
            to,
        } => resume(admin, local, &files, state, from, parked_from, to).await,
    }
}

fn switched(from: Option<&str>, to: &str, how: How) -> Switched {
    Switched {
        from: from.map(str::to_string),
        to: to.to_string(),
        how,
        parked_as: None,
        applied: Vec::new(),
        resumed: false,
        missing: Vec::new(),
        milliseconds: 0,
    }
}

/// Step two of a switch (`from` is parked as `parked_from`): `to`'s parked database renamed
/// in, else an empty one to rebuild (`missing` non-empty), else a copy of `parked_from`. The
/// journal is cleared last.
async fn swap_in(
    admin: &Client,
    database: &str,
    parked_from: &str,
    from: &str,
    to: &str,
    parked: Option<&str>,
    missing: Vec<String>,
) -> Result<Switched> {
    let how = match parked {
        Some(parked) => {
            rename(admin, parked, database).await?;
            How::SwappedIn
        }
        None if !missing.is_empty() => {
            admin
                .batch_execute(&format!("CREATE DATABASE {}", quote_ident(database)))
                .await
                .map_err(query("creating the new branch's database"))?;
            How::Rebuilt
        }
        None => {
            let sql = snapshot::copy_sql(parked_from, database);
            snapshot::without_sessions(
                admin,
                parked_from,
                &sql,
                "copying the database for the new branch",
            )
            .await?;
            How::Copied
        }
    };
    set_tag(admin, database, &Tag::of(to)).await?;
    set_tag(admin, parked_from, &Tag::of(from)).await?;
    let mut done = switched(Some(from), to, how);
    done.parked_as = Some(parked_from.to_string());
    done.missing = missing;
    Ok(done)
}

/// Finishes a switch a kill cut short between parking and swapping in (the journal is on
/// `parked_from`). `up` may have created an empty database in the gap: it is dropped.
async fn resume(
    admin: &Client,
    local: &ConnectionInfo,
    files: &[migrate::MigrationFile],
    state: &State,
    from: &str,
    parked_from: &str,
    to: &str,
) -> Result<Option<Switched>> {
    let database = &local.database;
    let mut done = match &state.local {
        // Swapped in; only the journal was left.
        Some(Some(tag)) if tag.devdb_branch == to => {
            set_tag(admin, parked_from, &Tag::of(from)).await?;
            switched(Some(from), to, How::SwappedIn)
        }
        Some(Some(_)) => {
            set_tag(admin, parked_from, &Tag::of(from)).await?;
            return Ok(None);
        }
        Some(None) if !is_empty(local).await? => {
            // The copy was made; its tags were not.
            set_tag(admin, database, &Tag::of(to)).await?;
            set_tag(admin, parked_from, &Tag::of(from)).await?;
            switched(Some(from), to, How::Copied)
        }
        local_state => {
            if local_state.is_some() {
                snapshot::drop_database(admin, database, "dropping the empty database `up` made")
                    .await?;
            }
            let parked = state.parked_of(to).map(|p| p.database.clone());
            let missing = match parked {
                Some(_) => Vec::new(),
                None => missing_migrations(&local.with_database(parked_from), files).await?,
            };
            let done = swap_in(
                admin,
                database,
                parked_from,
                from,
                to,
                parked.as_deref(),
                missing,
            )
            .await?;
            done
        }
    };
    done.parked_as = Some(parked_from.to_string());
    done.resumed = true;
    Ok(Some(done))
}

/// Applied migrations of `database` that have no folder on this branch.
async fn missing_migrations(
    database: &ConnectionInfo,
    files: &[migrate::MigrationFile],
) -> Result<Vec<String>> {
    let client = database.connect().await?;
    Ok(migrate::status(&client, files).await?.missing_on_disk)
}

/// True when the database holds nothing (what `up` creates).
async fn is_empty(local: &ConnectionInfo) -> Result<bool> {
    let client = local.connect().await?;
    Ok(!ledger::exists(&client).await? && ledger::user_relations(&client).await?.is_empty())
}

/// devdb's own sessions on `database` are closed; anyone else's stops the switch before it
/// moved anything (after a short wait: a client that just disconnected lingers a moment).
async fn close_sessions(admin: &Client, database: &str, to: &str) -> Result<()> {
    let mut others = Vec::new();
    for attempt in 0..12 {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        others = foreign_sessions(admin, database).await?;
        if others.is_empty() {
            return Ok(());
        }
    }
    Err(BranchError::InUse {
        database: database.to_string(),
        to: to.to_string(),
        sessions: others,
    }
    .into())
}

/// Closes devdb's sessions on `database`; describes the others.
async fn foreign_sessions(admin: &Client, database: &str) -> Result<Vec<String>> {
    let rows = admin
        .query(
            "SELECT pid, coalesce(application_name, ''), coalesce(host(client_addr), 'local socket') \
             FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&database],
        )
        .await
        .map_err(query("listing the database's sessions"))?;
    let mut others = Vec::new();
    for row in rows {
        let (pid, app, from): (i32, String, String) = (row.get(0), row.get(1), row.get(2));
        match app.as_str() {
            "devdb" => {
                admin
                    .execute("SELECT pg_terminate_backend($1)", &[&pid])
                    .await
                    .map_err(query("closing devdb's sessions"))?;
            }
            "" => others.push(format!("pid {pid} from {from}")),
            _ => others.push(format!("pid {pid} `{app}` from {from}")),
        }
    }
    Ok(others)
}

/// `ALTER DATABASE from RENAME TO to`, retried while a closed session is still going away
/// (the server itself waits up to 5 s for other sessions before it refuses).
async fn rename(admin: &Client, from: &str, to: &str) -> Result<()> {
    let sql = format!(
        "ALTER DATABASE {} RENAME TO {}",
        quote_ident(from),
        quote_ident(to)
    );
    for attempt in 0..3 {
        match admin.batch_execute(&sql).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt < 2 && e.code() == Some(&SqlState::OBJECT_IN_USE) => {
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
            Err(e) => return Err(query("renaming a branch database")(e).into()),
        }
    }
    unreachable!("the last attempt returns")
}

/// After the lock is released: a copy gets the branch's pending migrations, a rebuild is a
/// reset (nearest snapshot, then the rest), tagged as the branch's afterwards.
async fn complete(
    shell: &Shell,
    engine: &Engine,
    config: &Config,
    local: &ConnectionInfo,
    done: &mut Switched,
) -> Result<()> {
    match done.how {
        How::Copied => {
            let dir = config.migrations_dir();
            let files = files::discover(&dir)?;
            let client = local.connect().await?;
            let applied = migrate::deploy(shell, &client, &dir, &files).await?;
            done.applied = applied.into_iter().map(|a| a.name).collect();
        }
        How::Rebuilt => {
            shell.note(format!(
                "branch {}: the database it came from holds {} migration(s) this branch has no folder for ({}); building it from the nearest snapshot instead",
                done.to,
                done.missing.len(),
                done.missing.join(", ")
            ));
            let report = workflow::reset(engine, config, &Default::default()).await?;
            let admin = local.maintenance().connect().await?;
            set_tag(&admin, &local.database, &Tag::of(&done.to)).await?;
            done.applied = report.applied;
        }
        How::Claimed | How::SwappedIn => {}
    }
    Ok(())
}

/// One line per switch; claiming the database in place (first use, after a reset) is quiet.
fn say(shell: &Shell, done: &Switched) {
    if done.how == How::Claimed {
        return;
    }
    let parked = match (&done.from, &done.parked_as) {
        (Some(from), Some(name)) => format!("{from}'s database parked as {name}; "),
        _ => String::new(),
    };
    let how = match done.how {
        How::Claimed => "the database in place is now its own".to_string(),
        How::SwappedIn => "its own database swapped in".to_string(),
        How::Copied => format!(
            "first seen: a copy of the database in place, then {} pending migration(s)",
            done.applied.len()
        ),
        How::Rebuilt => format!(
            "built from the nearest snapshot ({} migration(s) applied)",
            done.applied.len()
        ),
    };
    let resumed = if done.resumed {
        " (finished a switch that was cut short)"
    } else {
        ""
    };
    shell.note(format!(
        "branch {}: {parked}{how}{resumed}, {} ms",
        done.to, done.milliseconds
    ));
}

/// Before `reset` (which brings the database up itself): follow the branch first, so the
/// reset recreates the checked-out branch's database. Costs nothing with branches off.
pub async fn before_reset(ctx: &Ctx) -> Result<()> {
    match followed_repo(&ctx.config) {
        Some(_) => ctx.local().await.map(|_| ()),
        None => Ok(()),
    }
}

/// Before each run of `devdb watch`'s loop: follows the branch; true when the run should be
/// skipped because the database was just switched (a reset would throw the swapped-in
/// branch's rows away) or could not be (a reset would recreate the old branch's database with
/// the new branch's migrations). What happened is said either way.
pub async fn before_watch_run(engine: &Engine, config: &Config) -> bool {
    let shell = &engine.shell;
    let Some(repo) = followed_repo(config) else {
        return false;
    };
    git_settled(&repo).await;
    let followed = match crate::local::database(engine, config).await {
        Ok(local) => follow(shell, engine, config, &local).await,
        Err(error) => Err(error.into()),
    };
    match followed {
        Ok(switched) => switched.is_some_and(|s| s.how != How::Claimed),
        Err(error) => {
            shell.note(format!("failed: {error:#}"));
            true
        }
    }
}

/// Waits (at most 5 s) until git has finished writing, so a checkout's HEAD is read, not the
/// branch it leaves: a reset run in that gap replaced the old branch's database with an empty
/// one holding the new branch's migrations. 500 ms after the index's last write is what a
/// checkout needs between index and HEAD with room for a loaded machine.
async fn git_settled(repo: &Repo) {
    let settle = std::time::Duration::from_millis(500);
    let started = Instant::now();
    while repo.busy(settle) && started.elapsed() < std::time::Duration::from_secs(5) {
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// After `reset`: the new database is the checked-out branch's at once (untagged, a checkout
/// before the next command would hand it to the wrong branch).
pub async fn after_reset(ctx: &Ctx) -> Result<()> {
    let Some(repo) = followed_repo(&ctx.config) else {
        return Ok(());
    };
    let head = head_of(&repo)?;
    let Some(branch) = head.branch() else {
        return Ok(());
    };
    let local = ctx.local().await?;
    let admin = local.maintenance().connect().await?;
    Ok(set_tag(&admin, &local.database, &Tag::of(branch)).await?)
}

fn repo_of(config: &Config) -> Result<Repo, BranchError> {
    Repo::find(config.root()).ok_or_else(|| BranchError::NoRepo {
        dir: config.root().display().to_string(),
    })
}

/// `devdb branch status`: follows the checked-out branch first (it touches the database).
pub async fn status(ctx: &Ctx) -> Result<BranchStatus> {
    let repo = repo_of(&ctx.config)?;
    let local = ctx.local().await?;
    let admin = local.maintenance().connect().await?;
    describe(&ctx.config, &repo, &admin, &local.database).await
}

/// The branch part of `devdb status`, which starts nothing: None when branches are off, there
/// is no repository, or the database is not running.
pub async fn overview(ctx: &Ctx) -> Result<Option<BranchStatus>> {
    let Some(repo) = Repo::find(ctx.config.root()) else {
        return Ok(None);
    };
    if !enabled(&ctx.config, &repo).0 {
        return Ok(None);
    }
    let engine = ctx.engine().await?;
    let Ok(local) = crate::local::connection_info(engine, &ctx.config).await else {
        return Ok(None);
    };
    let Ok(admin) = local.maintenance().connect().await else {
        return Ok(None);
    };
    Ok(Some(
        describe(&ctx.config, &repo, &admin, &local.database).await?,
    ))
}

async fn describe(
    config: &Config,
    repo: &Repo,
    admin: &Client,
    database: &str,
) -> Result<BranchStatus> {
    let state = read_state(admin, database, true).await?;
    let (enabled, decided_by) = enabled(config, repo);
    Ok(BranchStatus {
        enabled,
        decided_by,
        head: Some(head_of(repo)?),
        database: database.to_string(),
        owner: state.owner().map(str::to_string),
        parked: state.parked,
    })
}

/// `devdb branch drop BRANCH`: drops that branch's parked database, under the reset lock.
pub async fn drop_parked(ctx: &Ctx, branch: &str) -> Result<BranchStatus> {
    let (repo, database, admin, state) = locked_state(ctx).await?;
    if state.owner() == Some(branch) {
        return Err(BranchError::InPlace(branch.to_string()).into());
    }
    let Some(parked) = state.parked_of(branch) else {
        return Err(BranchError::NotParked(branch.to_string()).into());
    };
    snapshot::drop_database(&admin, &parked.database, "dropping a parked database").await?;
    ctx.shell
        .note(format!("dropped {} ({branch})", parked.database));
    describe(&ctx.config, &repo, &admin, &database).await
}

/// Where `drop` and `prune` start: the repository, the project database's name, a maintenance
/// session holding the reset lock (no switch or reset runs beside them), and the state it reads.
async fn locked_state(ctx: &Ctx) -> Result<(Repo, String, Client, State)> {
    let repo = repo_of(&ctx.config)?;
    let local = ctx.local().await?;
    let admin = local.maintenance().connect().await?;
    workflow::serialize_resets(&ctx.shell, &admin, &local.database).await?;
    let state = read_state(&admin, &local.database, false).await?;
    Ok((repo, local.database.clone(), admin, state))
}

/// `devdb branch prune`: drops the parked databases of branches git no longer has (deleted or
/// merged and removed), under the reset lock. A database mid-switch and the one in place stay.
pub async fn prune(ctx: &Ctx) -> Result<BranchStatus> {
    let (repo, database, admin, state) = locked_state(ctx).await?;
    let gone = state.parked.iter().filter(|parked| {
        parked.switching_to.is_none()
            && state.owner() != Some(parked.branch.as_str())
            && !repo.has_branch(&parked.branch)
    });
    for parked in gone {
        snapshot::drop_database(&admin, &parked.database, "dropping a parked database").await?;
        ctx.shell.note(format!(
            "dropped {} (branch {} is gone)",
            parked.database, parked.branch
        ));
    }
    describe(&ctx.config, &repo, &admin, &database).await
}

/// `devdb branch on|off`: recorded for this clone (in its git dir); `on` then claims the
/// database in place for the checked-out branch.
pub async fn set(ctx: &Ctx, on: bool) -> Result<BranchStatus> {
    let repo = repo_of(&ctx.config)?;
    let path = repo.switch_file();
    std::fs::write(&path, if on { "on\n" } else { "off\n" }).map_err(|error| BranchError::Io {
        action: "recording devdb branch on|off",
        path: path.display().to_string(),
        error,
    })?;
    status(ctx).await
}

/// Where the hook went, and how.
#[derive(Debug, Clone, Serialize)]
pub struct HookReport {
    pub path: String,
    pub installed: Installed,
}

/// `devdb branch hook`: the `post-checkout` hook, chained onto an existing one only on request.
/// It goes where git looks for hooks: `core.hooksPath` when set (husky and the like set it), else the
/// repository's hooks folder.
pub fn install_hook(ctx: &Ctx, chain: bool) -> Result<HookReport> {
    let repo = repo_of(&ctx.config)?;
    let configured = std::process::Command::new("git")
        .args(["config", "--get", "core.hooksPath"])
        .current_dir(&repo.top)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|p| !p.is_empty());
    let dir = match configured {
        Some(path) => repo.top.join(path),
        None => repo.hooks_dir(),
    };
    let path = dir.join("post-checkout");
    let installed = hook::install(&path, chain)?;
    Ok(HookReport {
        path: path.display().to_string(),
        installed,
    })
}
