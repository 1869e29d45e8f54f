//! `devdb reset`, `seed`, `generate` and `snapshot`: arguments to `ops`, reports to text or JSON.

use anyhow::Result;

use crate::cli::{JsonArg, ResetArgs, ResetSteps, SnapshotCommand};
use crate::ops::workflow::Steps;
use crate::ops::{self, Ctx};
use crate::render::{self, Json};

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
    render::workflow::reset(&ctx.shell, &report, Json::pretty(args.json))
}

pub async fn seed(ctx: &Ctx) -> Result<()> {
    render::workflow::seeded(&ctx.shell, &ops::workflow::seed(ctx).await?);
    Ok(())
}

pub async fn generate(ctx: &Ctx, args: JsonArg) -> Result<()> {
    let outcomes = ops::workflow::generate(ctx).await?;
    render::workflow::generated(&ctx.shell, &outcomes, Json::pretty(args.json))
}

pub async fn snapshot(ctx: &Ctx, command: SnapshotCommand) -> Result<()> {
    match command {
        SnapshotCommand::List(JsonArg { json }) => {
            let snapshots = ops::snapshot::list(ctx).await?;
            render::workflow::snapshots(&ctx.shell, &snapshots, Json::pretty(json))
        }
        SnapshotCommand::Prune { all } => {
            render::workflow::pruned(&ctx.shell, &ops::snapshot::prune(ctx, all).await?);
            Ok(())
        }
    }
}
