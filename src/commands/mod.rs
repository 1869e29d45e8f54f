//! One thin function per subcommand: arguments -> options -> `ops` -> rendered result.

use std::io::IsTerminal;

use anyhow::{bail, Context as _, Result};

mod branch;
mod copy;
mod devloop;
mod init;
mod lint;
mod migrate;
mod tunnel;
mod workflow;

use crate::cli::{
    BranchCommand, Cli, Command, DestroyArgs, JsonArg, MigrateCommand, SnapshotCommand, UpArgs,
};
use crate::config::{Config, LoadOptions};
use crate::ops::{self, Ctx};
use crate::render::{self, Json};
use crate::shell::Shell;

/// What a command that succeeded found; `main` turns it into the exit code (0 or 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done, or already up to date.
    Done,
    /// Ran fine but found drift or findings (e.g. pending migrations).
    NotUpToDate,
}

pub async fn run(cli: Cli, shell: Shell) -> Result<Outcome> {
    match &cli.command {
        Command::Init(args) => return init::init(&shell, args).map(|()| Outcome::Done),
        Command::Completions { shell: kind } => {
            init::completions(&shell, *kind);
            return Ok(Outcome::Done);
        }
        _ => {}
    }
    let ctx = Ctx::new(load_config(&cli, &shell)?, shell, cli.docker_host.clone());
    let ctx = &ctx;
    let done = |result: Result<()>| result.map(|()| Outcome::Done);
    match cli.command {
        Command::Up(args) => done(up(ctx, args).await),
        Command::Down => done(down(ctx).await),
        Command::Destroy(args) => done(destroy(ctx, args).await),
        Command::Status(args) => done(status(ctx, args).await),
        Command::Logs(args) => {
            let out = &mut ctx.shell.stdout();
            done(ops::services::logs(ctx, args.service, args.follow, args.tail, out).await)
        }
        Command::Url => done(url(ctx).await),
        Command::Tunnel(args) => done(tunnel::tunnel(ctx, args).await),
        Command::Migrate(command) => migrate::run(ctx, command).await,
        Command::Copy(args) => done(copy::copy(ctx, args).await),
        Command::FixMissing(args) => done(copy::fix_missing(ctx, args).await),
        Command::Lint(args) => lint::lint(ctx, args).await,
        Command::Reset(args) => done(workflow::reset(ctx, args).await),
        Command::Seed => done(workflow::seed(ctx).await),
        Command::Generate(args) => done(workflow::generate(ctx, args).await),
        Command::Watch(steps) => done(ops::workflow::watch(ctx, workflow::steps(&steps)).await),
        Command::Snapshot(command) => done(workflow::snapshot(ctx, command).await),
        Command::Branch(command) => done(branch::run(ctx, command).await),
        Command::InternalPrepareSpares { wait } => {
            done(ops::workflow::prepare_spares(ctx, wait).await)
        }
        Command::Init(_) | Command::Completions { .. } => unreachable!("handled above"),
    }
}

/// True when the command was asked for JSON, so errors are printed as JSON too.
pub fn wants_json(command: &Command) -> bool {
    match command {
        Command::Up(args) => args.json,
        Command::Status(args) | Command::Generate(args) => args.json,
        Command::Copy(args) => args.json,
        Command::Reset(args) => args.json,
        Command::Lint(args) => args.json,
        Command::Migrate(MigrateCommand::Deploy(args)) => args.json,
        Command::Migrate(MigrateCommand::Status { json, .. }) => *json,
        Command::Migrate(MigrateCommand::New(args)) => args.json,
        Command::Migrate(MigrateCommand::Diff(args)) => args.json,
        Command::Snapshot(SnapshotCommand::List(args)) => args.json,
        Command::Branch(
            BranchCommand::On(a) | BranchCommand::Off(a) | BranchCommand::Status(a),
        )
        | Command::Branch(BranchCommand::Drop { json: a, .. }) => a.json,
        _ => false,
    }
}

/// Asks a yes/no question on the terminal; without one, `--yes` is required.
fn confirm(shell: &Shell, question: &str, what: &str) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        bail!("{what}; pass --yes to confirm");
    }
    shell.prompt(&format!("{question} [y/N]"));
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .context("reading the answer")?;
    if !matches!(answer.trim(), "y" | "Y" | "yes") {
        bail!("cancelled; nothing was changed");
    }
    Ok(())
}

fn load_config(cli: &Cli, shell: &Shell) -> Result<Config> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let path = Config::locate(cli.file.as_deref(), &cwd)?;
    let options = LoadOptions {
        project_name: cli.project_name.clone(),
        env_files: cli.env_file.iter().map(|f| cwd.join(f)).collect(),
        project_directory: cli.project_directory.as_ref().map(|d| cwd.join(d)),
        owner: crate::docker::names::shared_engine_owner(cli.docker_host.as_deref()),
    };
    let config = Config::load_with(&path, &options)?;
    for warning in &config.warnings {
        shell.note(format!("warning: {warning}"));
    }
    Ok(config)
}

async fn up(ctx: &Ctx, args: UpArgs) -> Result<()> {
    let report = ops::services::up(ctx, args.build).await?;
    render::services::up(&ctx.shell, &report, Json::line(args.json))
}

async fn down(ctx: &Ctx) -> Result<()> {
    let stopped = ops::services::down(ctx).await?;
    let empty = format!("nothing running in project {}", ctx.config.project);
    render::notes(&ctx.shell, "stopped", &stopped, &empty);
    Ok(())
}

async fn destroy(ctx: &Ctx, args: DestroyArgs) -> Result<()> {
    let project = &ctx.config.project;
    if !args.yes {
        confirm(
            &ctx.shell,
            &format!(
                "Remove the containers, network and volumes (all local data) of project {project}?"
            ),
            &format!("destroy removes all local data of project {project}"),
        )?;
    }
    let removed = ops::services::destroy(ctx).await?;
    let empty = format!("nothing to remove in project {project}");
    render::notes(&ctx.shell, "removed", &removed, &empty);
    Ok(())
}

async fn status(ctx: &Ctx, args: JsonArg) -> Result<()> {
    let rows = ops::services::status(ctx).await?;
    render::services::status(&ctx.shell, &rows, Json::pretty(args.json))?;
    let branches = ops::branch::overview(ctx).await?;
    render::branch::overview(&ctx.shell, branches.as_ref(), Json::pretty(args.json));
    Ok(())
}

async fn url(ctx: &Ctx) -> Result<()> {
    let (info, note) = ops::services::url(ctx).await?;
    render::services::url(&ctx.shell, &info, note.as_deref());
    Ok(())
}
