//! `devdb reset`, `seed`, `generate` and `snapshot`: arguments to `ops`, reports to text or JSON.

use anyhow::Result;

use crate::cli::{JsonArg, ResetArgs, ResetSteps, SnapshotCommand};
use crate::ops::workflow::Steps;
use crate::ops::{self, Ctx};

pub fn steps(steps: &ResetSteps) -> Steps {
    Steps {
        no_data: steps.no_data,
        no_generate: steps.no_generate,
        no_seed: steps.no_seed,
    }
}

pub async fn reset(ctx: &Ctx, args: ResetArgs) -> Result<()> {
    let recopy = args.recopy.as_deref();
    let report = ops::workflow::reset(ctx, args.stage, steps(&args.steps), recopy).await?;
    match args.json {
        true => ctx.shell.result(serde_json::to_string_pretty(&report)?),
        false => {
            let ms = report.total_milliseconds;
            ctx.shell.note(format!("reset done in {ms} ms"));
        }
    }
    Ok(())
}

pub async fn seed(ctx: &Ctx) -> Result<()> {
    let seeded = ops::workflow::seed(ctx).await?;
    ctx.shell.note(format!(
        "seeded {} ({}) in {} ms",
        seeded.database, seeded.plan, seeded.milliseconds
    ));
    Ok(())
}

pub async fn generate(ctx: &Ctx, args: JsonArg) -> Result<()> {
    let outcomes = ops::workflow::generate(ctx).await?;
    let shell = &ctx.shell;
    if args.json {
        shell.result(serde_json::to_string_pretty(&outcomes)?);
        return Ok(());
    }
    if outcomes.is_empty() {
        shell.note("no generators configured (x-devdb.generate)");
    }
    for outcome in outcomes {
        let what = match (outcome.output, outcome.changed) {
            (Some(path), Some(true)) => format!("wrote {}", path.display()),
            (Some(path), _) => format!("unchanged {}", path.display()),
            (None, _) => "ran".to_string(),
        };
        shell.note(format!("{:<40} {what}", outcome.generator));
    }
    Ok(())
}

pub async fn snapshot(ctx: &Ctx, command: SnapshotCommand) -> Result<()> {
    let shell = &ctx.shell;
    match command {
        SnapshotCommand::List(JsonArg { json }) => {
            let snapshots = ops::snapshot::list(ctx).await?;
            if json {
                shell.result(serde_json::to_string_pretty(&snapshots)?);
                return Ok(());
            }
            shell.result(format!(
                "{:<32} {:>10} {:>9}  {:<20} LAST MIGRATION",
                "SNAPSHOT", "MIGRATIONS", "MB", "CREATED"
            ));
            for s in snapshots {
                shell.result(format!(
                    "{:<32} {:>10} {:>9.1}  {:<20} {}",
                    s.database,
                    s.migrations,
                    s.bytes as f64 / 1e6,
                    s.created,
                    s.last
                ));
            }
        }
        SnapshotCommand::Prune { all } => {
            let pruned = ops::snapshot::prune(ctx, all).await?;
            shell.note(format!(
                "dropped {} snapshots and {} ready copies",
                pruned.snapshots, pruned.spares
            ));
        }
    }
    Ok(())
}
