//! Command-line definitions only; each command's work lives in its module (see `commands/`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "devdb",
    version,
    about = "A real local Postgres for every developer, kept in step with migrations and remote stages"
)]
pub struct Cli {
    /// The Compose file (default: COMPOSE_FILE, else compose.yaml, compose.yml,
    /// docker-compose.yaml, docker-compose.yml or compose/docker-compose.yaml here or above).
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
    /// An env file to interpolate the Compose file with, as Compose's --env-file (repeatable,
    /// later files win; default: .env in the project directory).
    #[arg(long, global = true, value_name = "PATH")]
    pub env_file: Vec<PathBuf>,
    /// Compose's project directory: where `.env` is read and relative paths in services start
    /// (default: the Compose file's folder).
    #[arg(long, global = true, value_name = "DIR")]
    pub project_directory: Option<PathBuf>,
    /// The Docker engine, as the docker CLI's -H (wins over DOCKER_HOST and contexts), e.g.
    /// tcp://build-box:2376 (TLS from DOCKER_TLS_VERIFY and DOCKER_CERT_PATH).
    #[arg(long = "host", short = 'H', global = true, value_name = "URL")]
    pub docker_host: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// How much devdb says on stderr, and in which colours.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Print nothing but results and errors (no progress, notes or warnings).
    #[arg(long, short = 'q', global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Also print details (each statement's timing, engine calls).
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,
    /// Colours on stderr: auto (a terminal without NO_COLOR), always or never.
    #[arg(long, global = true, value_name = "WHEN", default_value = "auto")]
    pub color: ColorWhen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

impl ColorWhen {
    /// None: decide by the terminal and NO_COLOR.
    pub fn enabled(self) -> Option<bool> {
        match self {
            ColorWhen::Auto => None,
            ColorWhen::Always => Some(true),
            ColorWhen::Never => Some(false),
        }
    }
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
    /// Hold a local port that reaches the database of a remote engine (for an IDE), until Ctrl-C.
    Tunnel(TunnelArgs),
    /// Prisma-compatible migrations: new, deploy, status, resolve, reset.
    #[command(subcommand)]
    Migrate(MigrateCommand),
    /// Copy tables' rows (and on request their structure) from a stage into the local database.
    Copy(CopyArgs),
    /// Copy a relation that only a stage has into a new migration, apply it, and rerun deploy.
    FixMissing(FixMissingArgs),
    /// Check the pending migrations: what they use must exist, and they must be safe on a live stage.
    Lint(LintArgs),
    /// Recreate the local database from the longest unchanged snapshot, apply the remaining
    /// migrations, restore saved data and run the generators.
    Reset(ResetArgs),
    /// Run the seed (x-devdb.seed) against the current local database: all of it or nothing.
    Seed,
    /// Regenerate client artifacts (x-devdb.generate) from the local database.
    Generate(JsonArg),
    /// Re-run `reset` whenever a migration changes.
    Watch(ResetSteps),
    /// The template databases `reset` keeps.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// A database per git branch: on, off, status, drop, hook.
    #[command(subcommand)]
    Branch(BranchCommand),
    /// Add devdb to an existing repository: find its Compose file, Postgres service and Prisma
    /// migrations, and append an `x-devdb:` block (or write devdb's example Compose file).
    Init(InitArgs),
    /// Print a shell completion script (e.g. `devdb completions bash > /etc/bash_completion.d/devdb`).
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Background job started by `reset`: snapshots, ready copies and cleanup.
    #[command(hide = true)]
    InternalPrepareSpares {
        /// Wait for a running job, then finish all the work (tests, benchmarks).
        #[arg(long)]
        wait: bool,
    },
}

#[derive(Debug, Args)]
pub struct ResetSteps {
    /// Skip restoring copied data.
    #[arg(long)]
    pub no_data: bool,
    /// Skip the generators.
    #[arg(long)]
    pub no_generate: bool,
    /// Skip the seed (x-devdb.seed).
    #[arg(long)]
    pub no_seed: bool,
}

#[derive(Debug, Args)]
pub struct ResetArgs {
    #[command(flatten)]
    pub steps: ResetSteps,
    /// Copy the saved tables again from STAGE instead of restoring the saved rows.
    #[arg(long, value_name = "STAGE")]
    pub recopy: Option<String>,
    /// Refused: reset never touches a remote stage.
    #[arg(long, hide = true)]
    pub stage: Option<String>,
    /// Print the step timings as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// List snapshots with the migrations they hold and their size.
    List(JsonArg),
    /// Drop snapshots that match no prefix of the current migrations (all with --all).
    Prune {
        #[arg(long)]
        all: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum BranchCommand {
    /// Give every git branch its own local database (for this clone; x-devdb.branches for all).
    On(JsonArg),
    /// Keep one database whatever is checked out (parked databases stay).
    Off(JsonArg),
    /// The checked-out branch, whose database is in place, and the parked ones with their sizes
    /// (switches first).
    #[command(visible_alias = "list")]
    Status(JsonArg),
    /// Drop the parked databases of branches git no longer has.
    Prune(JsonArg),
    /// Drop a branch's parked database (never the one in place).
    Drop {
        branch: String,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Install a git post-checkout hook that switches the database on checkout.
    Hook {
        /// Append devdb's call to an existing post-checkout hook instead of refusing.
        #[arg(long)]
        chain: bool,
    },
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// Tables or globs (`aws_ec2_*`, `reporting.*`); default: x-devdb.copy.tables.
    pub tables: Vec<String>,
    /// The stage to copy from (x-devdb.stages).
    #[arg(long = "from", value_name = "STAGE")]
    pub stage: String,
    /// Accepted for older scripts; tables now load one after another into one transaction.
    #[arg(long, value_name = "N", hide = true)]
    pub jobs: Option<usize>,
    /// Only the rows of TABLE matching CONDITION (SQL), e.g. `orders:placed_at > now() - interval '30 days'`.
    #[arg(long = "where", value_name = "TABLE:CONDITION")]
    pub filters: Vec<String>,
    /// Keep the copied rows under .devdb/ so `devdb reset` can restore them without the stage.
    #[arg(long)]
    pub save: bool,
    /// Delete local rows whose foreign keys would point nowhere after the copy (reported),
    /// instead of refusing the copy.
    #[arg(long)]
    pub prune_dangling: bool,
    /// Do not pull the rows that copied rows reference from the stage; refuse the copy instead.
    #[arg(long)]
    pub no_follow: bool,
    /// Also copy the rows that reference the chosen rows (their children), DEPTH FK levels
    /// down (no limit without a value; cycles stop it).
    #[arg(long, value_name = "DEPTH", num_args = 0..=1)]
    pub with_children: Option<Option<usize>>,
    /// Copy the named subset of x-devdb.subsets (start tables, conditions, limits, rules, masks).
    #[arg(long, value_name = "NAME", conflicts_with_all = ["tables", "filters"])]
    pub subset: Option<String>,
    /// Copy the relation's structure (and what it needs that is missing locally), then its rows.
    #[arg(long, conflicts_with = "schema_only")]
    pub schema: bool,
    /// Copy the relation's structure only.
    #[arg(long)]
    pub schema_only: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct FixMissingArgs {
    /// The relation that is missing locally (`name` or `schema.name`).
    pub relation: String,
    /// The stage that has it.
    #[arg(long = "from", value_name = "STAGE")]
    pub stage: String,
    /// Put the structure at the start of this (not yet applied) migration instead of a new one.
    #[arg(long, value_name = "MIGRATION")]
    pub into: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Create migrations/<timestamp>_<name>/migration.sql (empty, or with --from-prisma the
    /// SQL from the history to schema.prisma, applied locally).
    New(NewArgs),
    /// Print the SQL from the migration history to schema.prisma (--from-prisma) or to the
    /// local database (--from-db); exit 1 when there is any.
    Diff(DiffArgs),
    /// Apply pending migrations (to the local database unless --stage is given).
    Deploy(StageArgs),
    /// Applied, pending, failed, rolled back, modified and missing migrations; exit 0 only when up to date.
    Status {
        #[command(flatten)]
        stage: StageOnly,
        /// Print JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Record a migration as applied, or a failed one as rolled back, without running it.
    Resolve(ResolveArgs),
    /// Drop and recreate the local database, then apply every migration (local only).
    Reset {
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
        /// Refused: reset never touches a remote stage.
        #[arg(long, hide = true)]
        stage: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// What the migration does, e.g. "add users table" (becomes add_users_table).
    pub name: String,
    /// Fill it with Prisma's SQL from the migration history to schema.prisma, computed on a
    /// copy of the history's snapshot (no shadow database replay).
    #[arg(long)]
    pub from_prisma: bool,
    /// The schema.prisma (or schema folder) to use with --from-prisma.
    #[arg(long, value_name = "PATH", requires = "from_prisma")]
    pub schema: Option<PathBuf>,
    /// Write the migration only; do not apply it to the local database.
    #[arg(long, requires = "from_prisma")]
    pub create_only: bool,
    /// Adopt drift: fill it with the SQL from the migration history to the local database as
    /// it is now (changed by hand), verified on a copy, and record it as applied locally.
    #[arg(long, conflicts_with = "from_prisma")]
    pub from_db: bool,
    /// Print the outcome as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Compare the migration history with schema.prisma, through the project's Prisma CLI.
    #[arg(long, required_unless_present = "from_db")]
    pub from_prisma: bool,
    /// Compare the migration history with the local database (drift made by hand).
    #[arg(long, conflicts_with_all = ["from_prisma", "schema"])]
    pub from_db: bool,
    /// The schema.prisma (or schema folder); default: found as `migrate new --from-prisma` does.
    #[arg(long, value_name = "PATH")]
    pub schema: Option<PathBuf>,
    /// Print the outcome as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StageOnly {
    /// A stage from x-devdb.stages (e.g. CODE); DEV or none means the local database.
    #[arg(long, value_name = "STAGE")]
    pub stage: Option<String>,
}

#[derive(Debug, Args)]
pub struct StageArgs {
    #[command(flatten)]
    pub stage: StageOnly,
    /// Change a remote stage; without it devdb prints the plan and changes nothing.
    #[arg(long)]
    pub confirm: bool,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Deploy to a stage even though lint reports errors of RULE (repeatable).
    #[arg(long, value_name = "RULE")]
    pub allow_lint: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LintArgs {
    /// Lint what is pending on this stage, and check it for the stage's live tables.
    #[command(flatten)]
    pub stage: StageOnly,
    /// Print the findings as JSON on stdout (rule, severity, file, line, message).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false, id = "resolution")]
pub struct ResolveTarget {
    /// Record NAME as applied (baselining, or after finishing a failed migration by hand).
    #[arg(long, value_name = "NAME", group = "resolution")]
    pub applied: Option<String>,
    /// Record the failed NAME as rolled back so the next deploy re-runs it.
    #[arg(long, value_name = "NAME", group = "resolution")]
    pub rolled_back: Option<String>,
}

#[derive(Debug, Args)]
pub struct ResolveArgs {
    #[command(flatten)]
    pub target: ResolveTarget,
    #[command(flatten)]
    pub stage: StageOnly,
    /// Change a remote stage; without it devdb prints the plan and changes nothing.
    #[arg(long)]
    pub confirm: bool,
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

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Print the block that would be appended, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct TunnelArgs {
    /// The local port to listen on (127.0.0.1); default: any free one.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
}
