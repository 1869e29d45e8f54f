//! Command-line definitions only; each command's work lives in its module (see `commands.rs`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "devdb",
    version,
    about = "A real local Postgres for every developer, kept in step with migrations and remote stages"
)]
pub struct Cli {
    /// The Compose file (default: compose/docker-compose.yaml, searched upwards from here).
    #[arg(
        long,
        short = 'f',
        global = true,
        env = "DEVDB_FILE",
        value_name = "PATH"
    )]
    pub file: Option<PathBuf>,
    /// Compose project name (default: COMPOSE_PROJECT_NAME, then `name:` in the file).
    #[arg(long, short = 'p', global = true, value_name = "NAME")]
    pub project_name: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the local database (pull or build its image, create what is missing) and print its URL.
    Up(UpArgs),
    /// Stop the project's containers, keeping their data.
    Down,
    /// Remove the project's containers, network and volumes (all local data).
    Destroy(DestroyArgs),
    /// Show each service's state, health, port and image.
    Status(JsonArg),
    /// Print a service's log.
    Logs(LogsArgs),
    /// Print the local database's connection URL (password included, for `psql $(devdb url)`).
    Url,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Rebuild images of services that have `build:` even when they exist.
    #[arg(long)]
    pub build: bool,
    /// Print the outcome as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct JsonArg {
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The service (default: the database service).
    pub service: Option<String>,
    /// Keep streaming new lines.
    #[arg(long, short = 'F', alias = "follow-logs")]
    pub follow: bool,
    /// Only the last N lines.
    #[arg(long, value_name = "N")]
    pub tail: Option<usize>,
}
