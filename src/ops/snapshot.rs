//! `snapshot list | prune`. Pruning holds the background job's lock for its whole run, through
//! a guard that releases it on every path, so it never races a job building snapshots.

use std::future::Future;

use anyhow::Result;
use tokio_postgres::Client;

use super::Ctx;
use crate::migrate::files;
use crate::workflow::snapshot::{self, SnapshotInfo};
use crate::workflow::{seed, spare};

pub async fn list(ctx: &Ctx) -> Result<Vec<SnapshotInfo>> {
    let admin = ctx.local().await?.maintenance().connect().await?;
    Ok(snapshot::list(&admin, true).await?)
}

#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Pruned {
    pub snapshots: usize,
    /// Ready copies dropped (`--all`).
    pub spares: usize,
}

/// Drops snapshots of other histories (`all`: every snapshot and ready copy).
pub async fn prune(ctx: &Ctx, all: bool) -> Result<Pruned> {
    let admin = ctx.local().await?.maintenance().connect().await?;
    let migrations = files::discover(&ctx.config.migrations_dir())?;
    let hashes = seed::snapshot_chain(&ctx.config, &snapshot::prefix_hashes(&migrations));
    holding_the_job(&admin, async {
        let dropped = snapshot::prune(&admin, &hashes, all).await?;
        let spares = match all {
            true => spare::drop_all(&admin).await?,
            false => 0,
        };
        Ok(Pruned {
            snapshots: dropped.len(),
            spares,
        })
    })
    .await
}

/// Runs `work` with the background job held off; releases the hold whether `work` failed or not.
async fn holding_the_job<T>(admin: &Client, work: impl Future<Output = Result<T>>) -> Result<T> {
    spare::hold(admin).await?;
    let result = work.await;
    let released = spare::release(admin).await;
    let value = result?;
    released?;
    Ok(value)
}
