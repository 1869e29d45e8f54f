//! `devdb migrate ...`: arguments to `ops::migrate`, the reports to text or JSON.

use anyhow::{bail, Result};

use super::{confirm, Outcome};
use crate::cli::{MigrateCommand, ResolveArgs, StageArgs};
use crate::ops::migrate::{Deploy, Deployed, Mark, Plan, Resolved};
use crate::ops::{self, Ctx};
use crate::shell::Shell;

pub async fn run(ctx: &Ctx, command: MigrateCommand) -> Result<Outcome> {
    let done = |result: Result<()>| result.map(|()| Outcome::Done);
    match command {
        MigrateCommand::New(args) if args.from_prisma => super::devloop::new(ctx, args).await,
        MigrateCommand::New(args) => {
            done(ops::migrate::new(ctx, &args.name).map(|path| ctx.shell.result(path.display())))
        }
        MigrateCommand::Diff(args) => super::devloop::diff(ctx, args).await,
        MigrateCommand::Deploy(args) => done(deploy(ctx, args).await),
        MigrateCommand::Status { stage, json } => status(ctx, stage.stage.as_deref(), json).await,
        MigrateCommand::Resolve(args) => done(resolve(ctx, args).await),
        MigrateCommand::Reset { yes, stage } => done(reset(ctx, yes, stage.as_deref()).await),
    }
}

async fn deploy(ctx: &Ctx, args: StageArgs) -> Result<()> {
    let stage = args.stage.stage.as_deref();
    let prepared = ops::migrate::prepare(ctx, stage, &args.allow_lint).await?;
    if let Some(report) = &prepared.lint {
        // Part of the plan on stdout, unless stdout carries JSON.
        super::lint::render(&ctx.shell, report, args.json);
    }
    let shell = &ctx.shell;
    match ops::migrate::deploy(ctx, &prepared, args.confirm, &args.allow_lint).await? {
        Deploy::Plan(plan) if args.json => shell.result(serde_json::to_string(&plan)?),
        Deploy::Plan(plan) => print_plan(shell, &plan),
        Deploy::Blocked {
            errors,
            first,
            rule,
        } => bail!(
            "lint found {errors} errors in the migrations pending on {} (first: {first}); nothing was changed\n  \
             next: fix them, or pass --allow-lint {rule} to deploy anyway",
            prepared.target.stage
        ),
        Deploy::Applied(deployed) if args.json => shell.result(serde_json::to_string(&deployed)?),
        Deploy::Applied(deployed) => print_applied(shell, &deployed),
    }
    Ok(())
}

fn print_applied(shell: &Shell, deployed: &Deployed) {
    let (stage, applied) = (&deployed.stage, &deployed.applied);
    if applied.is_empty() {
        shell.note(format!(
            "{stage} is up to date ({} migrations)",
            deployed.files
        ));
    } else {
        let total: u128 = applied.iter().map(|a| a.milliseconds).sum();
        let count = applied.len();
        shell.note(format!(
            "applied {count} migrations to {stage} in {total} ms"
        ));
    }
}

fn print_plan(shell: &Shell, plan: &Plan) {
    shell.result(format!("Plan for stage {}: {}", plan.stage, plan.target));
    let status = &plan.status;
    let pending: Vec<_> = status.pending().collect();
    if pending.is_empty() {
        shell.result("  nothing to apply");
    }
    for entry in pending {
        shell.result(format!(
            "  apply      {}  sha256 {}",
            entry.name, entry.checksum
        ));
    }
    for name in &plan.modified {
        shell.result(format!(
            "  modified   {name}  (changed after it was applied; not re-run)"
        ));
    }
    for name in &plan.failed {
        shell.result(format!(
            "  failed     {name}  (blocks deploy until `migrate resolve`)"
        ));
    }
    for name in &plan.missing_on_disk {
        shell.result(format!(
            "  missing    {name}  (in the database, not on disk)"
        ));
    }
    shell.result(
        "Nothing was changed. Re-run `devdb migrate deploy` with --confirm to apply this plan.",
    );
}

async fn status(ctx: &Ctx, stage: Option<&str>, json: bool) -> Result<Outcome> {
    let report = ops::migrate::status(ctx, stage).await?;
    match json {
        true => ctx.shell.result(serde_json::to_string_pretty(&report)?),
        false => print_status(ctx, &report)?,
    }
    Ok(match report.up_to_date {
        true => Outcome::Done,
        false => Outcome::NotUpToDate,
    })
}

fn print_status(ctx: &Ctx, report: &ops::migrate::StatusReport) -> Result<()> {
    let shell = &ctx.shell;
    shell.result(format!(
        "{} migrations in {} against {} ({})",
        report.files,
        ctx.config.migrations_dir().display(),
        report.stage,
        report.target
    ));
    for entry in &report.status.migrations {
        let state = serde_json::to_value(entry.state)?;
        let state = state.as_str().unwrap_or_default().replace('_', " ");
        let note = match entry.modified {
            true => "  (modified after it was applied)",
            false => "",
        };
        shell.result(format!("  {state:<12} {}{note}", entry.name));
    }
    for name in &report.status.missing_on_disk {
        shell.result(format!(
            "  {:<12} {name}  (in the database, not on disk)",
            "missing"
        ));
    }
    shell.result(match report.up_to_date {
        true => "Up to date.",
        false => "Not up to date.",
    });
    Ok(())
}

async fn resolve(ctx: &Ctx, args: ResolveArgs) -> Result<()> {
    let (name, mark) = match (&args.target.applied, &args.target.rolled_back) {
        (Some(name), _) => (name.as_str(), Mark::Applied),
        (None, Some(name)) => (name.as_str(), Mark::RolledBack),
        (None, None) => bail!("pass --applied NAME or --rolled-back NAME"),
    };
    let verb = match mark {
        Mark::Applied => "applied",
        Mark::RolledBack => "rolled back",
    };
    let stage = args.stage.stage.as_deref();
    let shell = &ctx.shell;
    match ops::migrate::resolve(ctx, stage, name, mark, args.confirm).await? {
        Resolved::Plan { target } => {
            shell.result(format!(
                "Plan for stage {}: {}",
                target.stage, target.description
            ));
            shell.result(format!(
                "  record {name} as {verb} in _prisma_migrations (no SQL of the migration runs)"
            ));
            shell.result("Nothing was changed. Re-run with --confirm to apply this plan.");
        }
        Resolved::Recorded { target } => {
            shell.note(format!("recorded {name} as {verb} on {}", target.stage))
        }
    }
    Ok(())
}

async fn reset(ctx: &Ctx, yes: bool, stage: Option<&str>) -> Result<()> {
    let applied = ops::migrate::reset(ctx, stage, |local| match yes {
        true => Ok(()),
        false => confirm(
            &ctx.shell,
            &format!(
                "Drop and recreate the local database {} ({})?",
                local.database,
                local.redacted_url()
            ),
            &format!("reset drops the local database {}", local.database),
        ),
    })
    .await?;
    ctx.shell.note(format!("applied {applied} migrations"));
    Ok(())
}
