//! `devdb migrate ...`: arguments to `ops::migrate`, the reports to text or JSON.

use anyhow::{bail, Result};

use super::{confirm, Outcome};
use crate::cli::{MigrateCommand, ResolveArgs, StageArgs};
use crate::ops::migrate::{Deploy, LintBlocked, Mark};
use crate::ops::{self, Ctx};
use crate::render::{self, Json};

pub async fn run(ctx: &Ctx, command: MigrateCommand) -> Result<Outcome> {
    let done = |result: Result<()>| result.map(|()| Outcome::Done);
    match command {
        MigrateCommand::New(args) if args.from_prisma => super::devloop::new(ctx, args).await,
        MigrateCommand::New(args) if args.from_db => super::devloop::new_from_db(ctx, args).await,
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
        render::lint::findings(&ctx.shell, report, args.json);
    }
    let json = Json::line(args.json);
    match ops::migrate::deploy(ctx, &prepared, args.confirm, &args.allow_lint).await? {
        Deploy::Plan(plan) => render::migrate::plan(&ctx.shell, &plan, json),
        Deploy::Blocked {
            errors,
            first,
            rule,
        } => Err(LintBlocked {
            stage: prepared.target.stage.clone(),
            errors,
            first,
            rule,
        }
        .into()),
        Deploy::Applied(deployed) => render::migrate::applied(&ctx.shell, &deployed, json),
    }
}

async fn status(ctx: &Ctx, stage: Option<&str>, json: bool) -> Result<Outcome> {
    let report = ops::migrate::status(ctx, stage).await?;
    let dir = ctx.config.migrations_dir();
    render::migrate::status(&ctx.shell, &report, &dir, Json::pretty(json))?;
    Ok(match report.up_to_date {
        true => Outcome::Done,
        false => Outcome::NotUpToDate,
    })
}

async fn resolve(ctx: &Ctx, args: ResolveArgs) -> Result<()> {
    let (name, mark) = match (&args.target.applied, &args.target.rolled_back) {
        (Some(name), _) => (name.as_str(), Mark::Applied),
        (None, Some(name)) => (name.as_str(), Mark::RolledBack),
        (None, None) => bail!("pass --applied NAME or --rolled-back NAME"),
    };
    let stage = args.stage.stage.as_deref();
    let resolved = ops::migrate::resolve(ctx, stage, name, mark, args.confirm).await?;
    render::migrate::resolved(&ctx.shell, &resolved, name, mark);
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
