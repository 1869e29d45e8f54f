//! The development loop's operations (`migrate diff|new --from-prisma|--from-db`): the local database
//! comes from the context, the work from `crate::devloop`.

use anyhow::Result;

use super::Ctx;
use crate::devloop::{self, DbDiff, DbNew, Diff, New, NewOptions};

pub async fn diff(ctx: &Ctx, schema: Option<&std::path::Path>) -> Result<Diff> {
    let local = ctx.local().await?;
    Ok(devloop::diff_from_prisma(&ctx.config, local, schema).await?)
}

pub async fn new(ctx: &Ctx, schema: Option<&std::path::Path>, options: &NewOptions) -> Result<New> {
    let local = ctx.local().await?;
    Ok(devloop::new_from_prisma(&ctx.shell, &ctx.config, local, schema, options).await?)
}

/// `migrate diff --from-db`.
pub async fn diff_from_db(ctx: &Ctx) -> Result<DbDiff> {
    let local = ctx.local().await?;
    let engine = ctx.engine().await?;
    Ok(devloop::diff_from_db(engine, &ctx.config, local).await?)
}

/// `migrate new NAME --from-db`.
pub async fn new_from_db(ctx: &Ctx, name: &str) -> Result<DbNew> {
    let local = ctx.local().await?;
    let engine = ctx.engine().await?;
    Ok(devloop::new_from_db(engine, &ctx.config, local, name).await?)
}
