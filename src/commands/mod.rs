//! One thin function per subcommand: load what it needs, call the module that does the work,
//! print the result.

use std::io::IsTerminal;

use anyhow::{bail, Context as _, Result};

mod copy;
mod devloop;
mod init;
pub mod json;
mod lint;
mod migrate;
mod tunnel;
mod workflow;

use crate::cli::{
    Cli, Command, DestroyArgs, JsonArg, LogsArgs, MigrateCommand, SnapshotCommand, UpArgs,
};
use crate::config::{Config, LoadOptions};
use crate::docker::Engine;
use crate::local;
use crate::progress;

/// What a command that succeeded found; `main` turns it into the exit code (0 or 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done, or already up to date.
    Done,
    /// Ran fine but found drift or findings (e.g. pending migrations).
    NotUpToDate,
}

pub async fn run(cli: Cli) -> Result<Outcome> {
    match &cli.command {
        Command::Init(args) => return init::init(args).map(|()| Outcome::Done),
        Command::Completions { shell } => return init::completions(*shell).map(|()| Outcome::Done),
        _ => {}
    }
    if let Some(host) = &cli.docker_host {
        crate::docker::set_host_override(host);
    }
    let config = load_config(&cli)?;
    let done = |result: Result<()>| result.map(|()| Outcome::Done);
    match cli.command {
        Command::Up(args) => done(up(&config, args).await),
        Command::Down => done(down(&config).await),
        Command::Destroy(args) => done(destroy(&config, args).await),
        Command::Status(args) => done(status(&config, args).await),
        Command::Logs(args) => done(logs(&config, args).await),
        Command::Url => done(url(&config).await),
        Command::Tunnel(args) => done(tunnel::tunnel(&config, args).await),
        Command::Migrate(command) => migrate::run(&config, command).await,
        Command::Copy(args) => done(copy::copy(&config, args).await),
        Command::FixMissing(args) => done(copy::fix_missing(&config, args).await),
        Command::Lint(args) => lint::lint(&config, args).await,
        Command::Reset(args) => done(workflow::reset(&config, args).await),
        Command::Seed => done(workflow::seed(&config).await),
        Command::Generate(args) => done(workflow::generate(&config, args).await),
        Command::Watch(steps) => done(workflow::watch(&config, steps).await),
        Command::Snapshot(command) => done(workflow::snapshot(&config, command).await),
        Command::InternalPrepareSpares { wait } => {
            done(workflow::prepare_spares(&config, wait).await)
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
        _ => false,
    }
}

/// Asks a yes/no question on the terminal; without one, `--yes` is required.
fn confirm(question: &str, what: &str) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        bail!("{what}; pass --yes to confirm");
    }
    progress::prompt(&format!("{question} [y/N]"));
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .context("reading the answer")?;
    if !matches!(answer.trim(), "y" | "Y" | "yes") {
        bail!("cancelled; nothing was changed");
    }
    Ok(())
}

fn load_config(cli: &Cli) -> Result<Config> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let path = Config::locate(cli.file.as_deref(), &cwd)?;
    let options = LoadOptions {
        project_name: cli.project_name.clone(),
        env_files: cli.env_file.iter().map(|f| cwd.join(f)).collect(),
        project_directory: cli.project_directory.as_ref().map(|d| cwd.join(d)),
        owner: crate::docker::names::shared_engine_owner(),
    };
    let config = Config::load_with(&path, &options)?;
    for warning in &config.warnings {
        progress::note(format!("warning: {warning}"));
    }
    Ok(config)
}

async fn up(config: &Config, args: UpArgs) -> Result<()> {
    let engine = Engine::connect().await?;
    let spinner = progress::spinner(format!("starting {}", config.project));
    let report = local::up(&engine, config, args.build).await;
    spinner.finish_and_clear();
    let report = report?;
    if args.json {
        let json = json::Up {
            project: config.project.clone(),
            services: report
                .services
                .iter()
                .map(|s| json::UpService {
                    service: s.service.clone(),
                    container: s.container.clone(),
                    state: json::variant_name(&s.state),
                    image: s.image.clone(),
                })
                .collect(),
            database: report.connection.database.clone(),
            database_created: report.database_created,
            url: report.connection.redacted_url(),
            changed: !report.changed_nothing(),
        };
        progress::result(serde_json::to_string(&json)?);
        return Ok(());
    }
    for outcome in &report.services {
        progress::note(format!(
            "{:<10} {} ({})",
            format!("{:?}", outcome.state).to_lowercase(),
            outcome.container,
            outcome.image
        ));
    }
    if report.database_created {
        progress::note(format!("created database {}", report.connection.database));
    }
    progress::result(report.connection.redacted_url());
    if std::io::stdout().is_terminal() {
        progress::note("(`devdb url` prints it with the password)");
    }
    Ok(())
}

async fn down(config: &Config) -> Result<()> {
    let engine = Engine::connect().await?;
    let stopped = engine.down(config).await?;
    if stopped.is_empty() {
        progress::note(format!("nothing running in project {}", config.project));
    }
    for name in stopped {
        progress::note(format!("stopped {name}"));
    }
    Ok(())
}

async fn destroy(config: &Config, args: DestroyArgs) -> Result<()> {
    if !args.yes {
        confirm(
            &format!(
                "Remove the containers, network and volumes (all local data) of project {}?",
                config.project
            ),
            &format!(
                "destroy removes all local data of project {}",
                config.project
            ),
        )?;
    }
    let engine = Engine::connect().await?;
    let removed = engine.destroy(config).await?;
    if removed.is_empty() {
        progress::note(format!("nothing to remove in project {}", config.project));
    }
    for item in removed {
        progress::note(format!("removed {item}"));
    }
    Ok(())
}

async fn status(config: &Config, args: JsonArg) -> Result<()> {
    let engine = Engine::connect().await?;
    let rows = engine.status(config).await?;
    if args.json {
        let rows: Vec<json::ServiceRow> = rows
            .into_iter()
            .map(|r| json::ServiceRow {
                service: r.service,
                container: r.container,
                state: r.state,
                health: r.health,
                port: r.port,
                image: r.image,
            })
            .collect();
        progress::result(serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    progress::result(format!(
        "{:<12} {:<10} {:<10} {:<6} IMAGE",
        "SERVICE", "STATE", "HEALTH", "PORT"
    ));
    for row in rows {
        progress::result(format!(
            "{:<12} {:<10} {:<10} {:<6} {}",
            row.service,
            row.state,
            row.health.as_deref().unwrap_or("-"),
            row.port
                .map(|p| p.to_string())
                .unwrap_or_else(|| "-".to_string()),
            row.image.as_deref().unwrap_or("-")
        ));
    }
    Ok(())
}

async fn logs(config: &Config, args: LogsArgs) -> Result<()> {
    let service = args
        .service
        .unwrap_or_else(|| config.settings.service.clone());
    if !config.services.contains_key(&service) {
        let known: Vec<&str> = config.services.keys().map(String::as_str).collect();
        bail!(
            "no service `{service}` in {}; services: {}",
            config.file.display(),
            known.join(", ")
        );
    }
    let engine = Engine::connect().await?;
    let mut stdout = std::io::stdout();
    engine
        .logs(config, &service, args.follow, args.tail, &mut stdout)
        .await?;
    Ok(())
}

async fn url(config: &Config) -> Result<()> {
    let engine = Engine::connect().await?;
    let info = local::connection_info(&engine, config).await?;
    if let Some(note) = local::short_lived_note(&engine, &info) {
        progress::note(note);
    }
    progress::result(info.url());
    Ok(())
}
