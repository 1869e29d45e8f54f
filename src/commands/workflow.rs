//! `devdb reset`, `generate`, `watch` and `snapshot`: thin glue to `crate::workflow`.

use anyhow::Result;

use crate::cli::{JsonArg, ResetArgs, ResetSteps, SnapshotCommand};
use crate::config::Config;
use crate::generate;
use crate::migrate::files;
use crate::progress;
use crate::target;
use crate::workflow::{self, seed, snapshot, spare, ResetOptions, WorkflowError};

fn options(steps: &ResetSteps, recopy: Option<String>) -> ResetOptions {
    ResetOptions {
        no_data: steps.no_data,
        no_generate: steps.no_generate,
        no_seed: steps.no_seed,
        recopy_from: recopy,
    }
}

pub async fn reset(config: &Config, args: ResetArgs) -> Result<()> {
    if let Some(stage) = args.stage {
        return Err(WorkflowError::RemoteStage(stage).into());
    }
    let report = workflow::reset(config, &options(&args.steps, args.recopy)).await?;
    if args.json {
        let json = super::json::Reset {
            steps: report
                .steps
                .iter()
                .map(|s| super::json::ResetStep {
                    name: s.name.clone(),
                    milliseconds: super::json::millis(s.milliseconds),
                    detail: s.detail.clone(),
                })
                .collect(),
            from_snapshot: report.from_snapshot,
            applied: report.applied.clone(),
            seed: report.seed.clone(),
            total_milliseconds: super::json::millis(report.total_milliseconds),
        };
        progress::result(serde_json::to_string_pretty(&json)?);
    } else {
        progress::note(format!("reset done in {} ms", report.total_milliseconds));
    }
    Ok(())
}

pub async fn seed(config: &Config) -> Result<()> {
    let Some(plan) = seed::SeedPlan::load(config)? else {
        anyhow::bail!("no seed configured; add steps under x-devdb.seed (see README, Seeds)");
    };
    let local = target::local_database(config).await?;
    let admin = local.maintenance().connect().await?;
    let started = std::time::Instant::now();
    seed::run(config, &plan, &local, &admin).await?;
    progress::note(format!(
        "seeded {} ({}) in {} ms",
        local.database,
        plan.describe(),
        started.elapsed().as_millis()
    ));
    Ok(())
}

pub async fn generate(config: &Config, args: JsonArg) -> Result<()> {
    let local = target::local_database(config).await?;
    let client = local.connect().await?;
    let outcomes = generate::run(config, &client, &local).await?;
    if args.json {
        progress::result(serde_json::to_string_pretty(&outcomes)?);
        return Ok(());
    }
    if outcomes.is_empty() {
        progress::note("no generators configured (x-devdb.generate)");
    }
    for outcome in outcomes {
        let what = match (outcome.output, outcome.changed) {
            (Some(path), Some(true)) => format!("wrote {}", path.display()),
            (Some(path), _) => format!("unchanged {}", path.display()),
            (None, _) => "ran".to_string(),
        };
        progress::note(format!("{:<40} {what}", outcome.generator));
    }
    Ok(())
}

pub async fn watch(config: &Config, steps: ResetSteps) -> Result<()> {
    workflow::watch::watch(config, &options(&steps, None)).await
}

pub async fn snapshot(config: &Config, command: SnapshotCommand) -> Result<()> {
    let local = target::local_database(config).await?;
    let admin = local.maintenance().connect().await?;
    match command {
        SnapshotCommand::List(JsonArg { json }) => {
            let snapshots = snapshot::list(&admin, true).await?;
            if json {
                progress::result(serde_json::to_string_pretty(&snapshots)?);
            } else {
                progress::result(format!(
                    "{:<32} {:>10} {:>9}  {:<20} LAST MIGRATION",
                    "SNAPSHOT", "MIGRATIONS", "MB", "CREATED"
                ));
                for s in snapshots {
                    progress::result(format!(
                        "{:<32} {:>10} {:>9.1}  {:<20} {}",
                        s.database,
                        s.migrations,
                        s.bytes as f64 / 1e6,
                        s.created,
                        s.last
                    ));
                }
            }
        }
        SnapshotCommand::Prune { all } => {
            let migrations = files::discover(&config.migrations_dir())?;
            let hashes = seed::snapshot_chain(config, &snapshot::prefix_hashes(&migrations));
            spare::hold(&admin).await?;
            let dropped = snapshot::prune(&admin, &hashes, all).await?;
            let spares = if all {
                spare::drop_all(&admin).await?
            } else {
                0
            };
            spare::release(&admin).await?;
            progress::note(format!(
                "dropped {} snapshots and {spares} ready copies",
                dropped.len()
            ));
        }
    }
    Ok(())
}

/// The detached job `reset` starts; quiet by design (its output goes nowhere). It never starts
/// containers: if the database is gone (`devdb destroy`), there is nothing to prepare.
/// `wait` (tests, benchmarks): queue behind a running job and return when all is made.
pub async fn prepare_spares(config: &Config, wait: bool) -> Result<()> {
    let engine = crate::docker::Engine::connect().await?;
    let local = crate::local::connection_info(&engine, config).await?;
    let admin = local.maintenance().connect().await?;
    spare::maintain(&admin, &local, config, wait).await?;
    Ok(())
}
