//! The daily loop: `reset`, `seed`, `generate`, `watch`, and the background job `reset` starts.

use anyhow::{bail, Result};

use super::Ctx;
use crate::generate;
use crate::workflow::{self, seed, spare, ResetOptions, ResetReport, WorkflowError};

/// Which of reset's steps run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Steps {
    pub no_data: bool,
    pub no_generate: bool,
    pub no_seed: bool,
}

fn options(steps: Steps) -> ResetOptions {
    ResetOptions {
        no_data: steps.no_data,
        no_generate: steps.no_generate,
        no_seed: steps.no_seed,
        recopy_from: None,
    }
}

/// Recreates the local database (never a stage); `recopy` copies the saved tables again from
/// that stage instead of restoring the saved rows.
pub async fn reset(
    ctx: &Ctx,
    stage: Option<String>,
    steps: Steps,
    recopy: Option<&str>,
) -> Result<ResetReport> {
    if let Some(stage) = stage {
        return Err(WorkflowError::RemoteStage(stage).into());
    }
    let mut options = options(steps);
    if let Some(name) = recopy {
        options.recopy_from = Some(ctx.stage(name).await?);
    }
    super::branch::before_reset(ctx).await?;
    let engine = ctx.engine().await?;
    let report = workflow::reset(engine, &ctx.config, &options).await?;
    super::branch::after_reset(ctx).await?;
    Ok(report)
}

/// What `seed` ran, and how long it took.
pub struct Seeded {
    pub database: String,
    pub plan: String,
    pub milliseconds: u128,
}

pub async fn seed(ctx: &Ctx) -> Result<Seeded> {
    let Some(plan) = seed::SeedPlan::load(&ctx.config)? else {
        bail!("no seed configured; add steps under x-devdb.seed (see README, Seeds)");
    };
    let local = ctx.local().await?;
    let started = std::time::Instant::now();
    seed::run(&ctx.shell, &ctx.config, &plan, local, None).await?;
    Ok(Seeded {
        database: local.database.clone(),
        plan: plan.describe(),
        milliseconds: started.elapsed().as_millis(),
    })
}

pub async fn generate(ctx: &Ctx) -> Result<Vec<generate::Outcome>> {
    let local = ctx.local().await?;
    let client = local.connect().await?;
    Ok(generate::run(&ctx.shell, &ctx.config, &client, local).await?)
}

pub async fn watch(ctx: &Ctx, steps: Steps) -> Result<()> {
    let engine = ctx.engine().await?;
    workflow::watch::watch(engine, &ctx.config, &options(steps)).await
}

/// The detached job `reset` (and `migrate new`) starts; quiet by design (its output goes
/// nowhere). It never starts containers: if the database is gone (`devdb destroy`), there is
/// nothing to prepare. After the snapshots, it renders the history's Prisma datamodel for
/// `--from-prisma` (best effort: that run renders it itself otherwise).
/// `wait` (tests, benchmarks): queue behind a running job and return when all is made.
pub async fn prepare_spares(ctx: &Ctx, wait: bool) -> Result<()> {
    let local = crate::local::connection_info(ctx.engine().await?, &ctx.config).await?;
    let admin = local
        .maintenance()
        .connect_as(spare::APPLICATION_NAME)
        .await?;
    let maintained = spare::maintain(&ctx.shell, &admin, &local, &ctx.config, wait).await;
    let _ = crate::devloop::from_prisma::prerender(&ctx.config, &local, &admin).await;
    maintained?;
    Ok(())
}
