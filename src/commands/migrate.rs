//! `devdb migrate ...`: thin glue between the CLI and `crate::migrate`.

use anyhow::{bail, Result};

use super::{confirm, json, Outcome};
use crate::cli::{MigrateCommand, ResolveArgs, StageArgs};
use crate::config::Config;
use crate::db::{self, quote_ident};
use crate::migrate::{self, files, Entry, Status};
use crate::progress;
use crate::target::{self, Target};

pub async fn run(config: &Config, command: MigrateCommand) -> Result<Outcome> {
    let done = |result: Result<()>| result.map(|()| Outcome::Done);
    match command {
        MigrateCommand::New(args) if args.from_prisma => super::devloop::new(config, args).await,
        MigrateCommand::New(args) => done(new(config, &args.name)),
        MigrateCommand::Diff(args) => super::devloop::diff(config, args).await,
        MigrateCommand::Deploy(args) => done(deploy(config, args).await),
        MigrateCommand::Status { stage, json } => {
            status(config, stage.stage.as_deref(), json).await
        }
        MigrateCommand::Resolve(args) => done(resolve(config, args).await),
        MigrateCommand::Reset { yes, stage } => done(reset(config, yes, stage.as_deref()).await),
    }
}

fn new(config: &Config, name: &str) -> Result<()> {
    let path = files::create(&config.migrations_dir(), name, chrono::Utc::now())?;
    progress::result(path.display());
    Ok(())
}

fn load_files(config: &Config) -> Result<Vec<migrate::MigrationFile>> {
    let dir = config.migrations_dir();
    files::ensure_lock_file(&dir)?;
    Ok(files::discover(&dir)?)
}

async fn deploy(config: &Config, args: StageArgs) -> Result<()> {
    let files = load_files(config)?;
    let target = target::open(config, args.stage.stage.as_deref()).await?;
    let lint = match target.remote {
        true => lint_stage(config, &target.stage, &args.allow_lint, args.json).await?,
        false => None,
    };
    if target.remote && !args.confirm {
        let status = migrate::status(&target.client, &files).await?;
        if args.json {
            print_json_plan(&target, &status)?;
        } else {
            print_plan(&target, &status, "deploy");
        }
        return Ok(());
    }
    if let Some(report) = &lint {
        let blocking: Vec<_> = report.blocking(&args.allow_lint).collect();
        if let Some(first) = blocking.first() {
            bail!(
                "lint found {} errors in the migrations pending on {} (first: {}); nothing was changed\n  \
                 next: fix them, or pass --allow-lint {} to deploy anyway",
                blocking.len(),
                target.stage,
                first.render(),
                first.rule
            );
        }
    }
    let before = migrate::status(&target.client, &files).await?;
    for entry in before.modified() {
        progress::note(format!(
            "warning: {} was modified after it was applied to {} (its checksum differs); deploy does not re-run it",
            entry.name, target.stage
        ));
    }
    let applied = migrate::deploy(&target.client, &config.migrations_dir(), &files).await?;
    if args.json {
        let json = json::Deploy {
            stage: target.stage.clone(),
            target: target.description.clone(),
            applied: applied
                .iter()
                .map(|a| json::AppliedMigration {
                    name: a.name.clone(),
                    milliseconds: json::millis(a.milliseconds),
                    in_transaction: a.in_transaction,
                })
                .collect(),
        };
        progress::result(serde_json::to_string(&json)?);
    } else if applied.is_empty() {
        progress::note(format!(
            "{} is up to date ({} migrations)",
            target.stage,
            files.len()
        ));
    } else {
        let total: u128 = applied.iter().map(|a| a.milliseconds).sum();
        progress::note(format!(
            "applied {} migrations to {} in {total} ms",
            applied.len(),
            target.stage
        ));
    }
    Ok(())
}

/// The plan a script reads: what `--confirm` would apply, nothing changed.
fn print_json_plan(target: &Target, status: &Status) -> Result<()> {
    fn names<'a>(entries: impl Iterator<Item = &'a Entry>) -> Vec<String> {
        entries.map(|e| e.name.clone()).collect()
    }
    let plan = json::DeployPlan {
        stage: target.stage.clone(),
        target: target.description.clone(),
        changed: false,
        apply: names(status.pending()),
        modified: names(status.modified()),
        failed: names(status.failed()),
        missing_on_disk: status.missing_on_disk.clone(),
    };
    progress::result(serde_json::to_string(&plan)?);
    Ok(())
}

/// Lints what is pending on `stage` and prints the findings as part of the plan. Lint needs
/// the local database; when it cannot run, deploy says so and goes on without it.
async fn lint_stage(
    config: &Config,
    stage: &str,
    allowed: &[String],
    json: bool,
) -> Result<Option<crate::lint::LintReport>> {
    crate::lint::check_rules(allowed)?;
    match super::lint::run(config, Some(stage)).await {
        Ok(report) => {
            // Part of the plan on stdout, unless stdout carries JSON.
            for finding in &report.findings {
                match json {
                    true => progress::note(finding.render()),
                    false => progress::result(finding.render()),
                }
            }
            progress::note(super::lint::summary(&report));
            Ok(Some(report))
        }
        Err(error) => {
            progress::note(format!(
                "warning: lint could not run ({error:#}); deploying without its checks"
            ));
            Ok(None)
        }
    }
}

fn print_plan(target: &Target, status: &Status, action: &str) {
    progress::result(format!(
        "Plan for stage {}: {}",
        target.stage, target.description
    ));
    let pending: Vec<_> = status.pending().collect();
    if pending.is_empty() {
        progress::result("  nothing to apply");
    }
    for entry in pending {
        progress::result(format!(
            "  apply      {}  sha256 {}",
            entry.name, entry.checksum
        ));
    }
    for entry in status.modified() {
        progress::result(format!(
            "  modified   {}  (changed after it was applied; not re-run)",
            entry.name
        ));
    }
    for entry in status.failed() {
        progress::result(format!(
            "  failed     {}  (blocks deploy until `migrate resolve`)",
            entry.name
        ));
    }
    for name in &status.missing_on_disk {
        progress::result(format!(
            "  missing    {name}  (in the database, not on disk)"
        ));
    }
    progress::result(format!(
        "Nothing was changed. Re-run `devdb migrate {action}` with --confirm to apply this plan."
    ));
}

async fn status(config: &Config, stage: Option<&str>, json: bool) -> Result<Outcome> {
    let files = load_files(config)?;
    let target = target::open(config, stage).await?;
    let status = migrate::status(&target.client, &files).await?;
    if json {
        let json = json::MigrateStatus {
            stage: target.stage.clone(),
            target: target.description.clone(),
            up_to_date: status.is_up_to_date(),
            migrations: status
                .migrations
                .iter()
                .map(|m| json::MigrationState {
                    name: m.name.clone(),
                    state: json::variant_name(&m.state),
                    modified: m.modified,
                    checksum: m.checksum.clone(),
                    logs: m.logs.clone(),
                })
                .collect(),
            missing_on_disk: status.missing_on_disk.clone(),
        };
        progress::result(serde_json::to_string_pretty(&json)?);
    } else {
        progress::result(format!(
            "{} migrations in {} against {} ({})",
            files.len(),
            config.migrations_dir().display(),
            target.stage,
            target.description
        ));
        for entry in &status.migrations {
            let state = serde_json::to_value(entry.state)?
                .as_str()
                .unwrap_or_default()
                .replace('_', " ");
            let note = if entry.modified {
                "  (modified after it was applied)"
            } else {
                ""
            };
            progress::result(format!("  {state:<12} {}{note}", entry.name));
        }
        for name in &status.missing_on_disk {
            progress::result(format!(
                "  {:<12} {name}  (in the database, not on disk)",
                "missing"
            ));
        }
        progress::result(if status.is_up_to_date() {
            "Up to date."
        } else {
            "Not up to date."
        });
    }
    Ok(if status.is_up_to_date() {
        Outcome::Done
    } else {
        Outcome::NotUpToDate
    })
}

async fn resolve(config: &Config, args: ResolveArgs) -> Result<()> {
    let files = load_files(config)?;
    let target = target::open(config, args.stage.stage.as_deref()).await?;
    let (name, applied) = match (&args.target.applied, &args.target.rolled_back) {
        (Some(name), _) => (name.as_str(), true),
        (None, Some(name)) => (name.as_str(), false),
        (None, None) => bail!("pass --applied NAME or --rolled-back NAME"),
    };
    let verb = if applied { "applied" } else { "rolled back" };
    if target.remote && !args.confirm {
        progress::result(format!(
            "Plan for stage {}: {}",
            target.stage, target.description
        ));
        progress::result(format!(
            "  record {name} as {verb} in _prisma_migrations (no SQL of the migration runs)"
        ));
        progress::result("Nothing was changed. Re-run with --confirm to apply this plan.");
        return Ok(());
    }
    if applied {
        migrate::resolve_applied(&target.client, &files, name).await?;
    } else {
        migrate::resolve_rolled_back(&target.client, &files, name).await?;
    }
    progress::note(format!("recorded {name} as {verb} on {}", target.stage));
    Ok(())
}

async fn reset(config: &Config, yes: bool, stage: Option<&str>) -> Result<()> {
    if let Some(stage) = stage {
        bail!("`migrate reset` only resets the local database; it never touches a stage (got --stage {stage})");
    }
    let local = target::local_database(config).await?;
    if !yes {
        confirm(
            &format!(
                "Drop and recreate the local database {} ({})?",
                local.database,
                local.redacted_url()
            ),
            &format!("reset drops the local database {}", local.database),
        )?;
    }
    let admin = local.maintenance().connect().await?;
    admin
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(&local.database)
        ))
        .await?;
    db::ensure_database(&admin, &local.database).await?;
    progress::note(format!("recreated database {}", local.database));
    let files = load_files(config)?;
    let client = local.connect().await?;
    let applied = migrate::deploy(&client, &config.migrations_dir(), &files).await?;
    progress::note(format!("applied {} migrations", applied.len()));
    Ok(())
}
