//! `lint`: what is pending on a stage (or locally) checked against the local database.

use anyhow::Result;

use super::target::{self, Target};
use super::Ctx;
use crate::lint::{self, LintReport, StageTarget};
use crate::migrate::files;

/// Lints what is pending on `stage` (or locally) against the local database.
pub async fn lint(ctx: &Ctx, stage: Option<&str>) -> Result<LintReport> {
    let stage = match stage.filter(|s| target::is_remote(Some(s))) {
        Some(name) => Some(target::open(ctx, Some(name)).await?),
        None => None,
    };
    against(ctx, stage.as_ref()).await
}

/// Lints what is pending on an open target (None: locally).
pub async fn against(ctx: &Ctx, stage: Option<&Target>) -> Result<LintReport> {
    let dir = ctx.config.migrations_dir();
    files::ensure_lock_file(&dir)?;
    let files = files::discover(&dir)?;
    let local = ctx.local().await?.connect().await?;
    let stage = stage.map(|t| StageTarget {
        name: &t.stage,
        client: &t.client,
    });
    Ok(lint::lint(&files, &dir, ctx.config.root(), &local, stage).await?)
}
