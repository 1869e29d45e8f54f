//! `devdb copy` and `devdb fix-missing`: arguments to `ops::copy`, the report to text or JSON.

use anyhow::Result;

use crate::cli::{CopyArgs, FixMissingArgs};
use crate::copy::{self, CopyOptions};
use crate::ops::copy::Structure;
use crate::ops::{self, Ctx};

pub async fn copy(ctx: &Ctx, args: CopyArgs) -> Result<()> {
    let structure = match (args.schema, args.schema_only) {
        (_, true) => Structure::Only,
        (true, false) => Structure::ThenRows,
        (false, false) => Structure::No,
    };
    let options = CopyOptions {
        tables: args.tables,
        jobs: args.jobs,
        filters: args.filters,
        save: args.save,
        prune_dangling: args.prune_dangling,
        no_follow: args.no_follow,
        with_children: args.with_children.map(|depth| depth.unwrap_or(usize::MAX)),
        subset: args.subset,
    };
    let Some(report) = ops::copy::copy(ctx, &args.stage, structure, options).await? else {
        return Ok(());
    };
    match args.json {
        true => ctx.shell.result(serde_json::to_string_pretty(&report)?),
        false => ctx.shell.result_text(&copy::summary(&report)),
    }
    Ok(())
}

pub async fn fix_missing(ctx: &Ctx, args: FixMissingArgs) -> Result<()> {
    let report =
        ops::copy::fix_missing(ctx, &args.relation, &args.stage, args.into.as_deref()).await?;
    ctx.shell.result(report.migration.display());
    Ok(())
}
