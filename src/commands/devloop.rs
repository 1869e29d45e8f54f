//! `devdb migrate new|diff --from-prisma|--from-db`: thin glue between the CLI
//! and `crate::devloop`, which does the work.

use anyhow::Result;

use super::Outcome;
use crate::cli::{DiffArgs, NewArgs};
use crate::devloop::NewOptions;
use crate::ops::{self, Ctx};
use crate::render::{self, Json};

pub async fn diff(ctx: &Ctx, args: DiffArgs) -> Result<Outcome> {
    if args.from_db {
        let report = ops::devloop::diff_from_db(ctx).await?;
        render::devloop::db_diff(&ctx.shell, &report, Json::line(args.json))?;
        return Ok(drift(report.empty));
    }
    let report = ops::devloop::diff(ctx, args.schema.as_deref()).await?;
    render::devloop::diff(&ctx.shell, &report, Json::line(args.json))?;
    Ok(drift(report.empty))
}

fn drift(empty: bool) -> Outcome {
    match empty {
        true => Outcome::Done,
        false => Outcome::NotUpToDate,
    }
}

pub async fn new(ctx: &Ctx, args: NewArgs) -> Result<Outcome> {
    let options = NewOptions {
        name: args.name,
        create_only: args.create_only,
    };
    let report = ops::devloop::new(ctx, args.schema.as_deref(), &options).await?;
    render::devloop::new(&ctx.shell, &report, Json::line(args.json))?;
    Ok(Outcome::Done)
}

pub async fn new_from_db(ctx: &Ctx, args: NewArgs) -> Result<Outcome> {
    let report = ops::devloop::new_from_db(ctx, &args.name).await?;
    render::devloop::db_new(&ctx.shell, &report, Json::line(args.json))?;
    Ok(Outcome::Done)
}
