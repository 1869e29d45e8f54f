//! `devdb migrate new --from-prisma` and `migrate diff --from-prisma`: thin glue between the CLI
//! and `crate::devloop`, which does the work.

use anyhow::Result;

use super::Outcome;
use crate::cli::{DiffArgs, NewArgs};
use crate::devloop::NewOptions;
use crate::ops::{self, Ctx};

pub async fn diff(ctx: &Ctx, args: DiffArgs) -> Result<Outcome> {
    let report = ops::devloop::diff(ctx, args.schema.as_deref()).await?;
    if args.json {
        ctx.shell.result(serde_json::to_string(&report)?);
    } else {
        ctx.shell.note(format!(
            "history: {}; Prisma compared it with {} ({} ms)",
            report.history, report.schema, report.milliseconds
        ));
        match report.empty {
            true => ctx.shell.note("the migration history matches the schema"),
            false => ctx.shell.result_text(&report.sql),
        }
    }
    Ok(match report.empty {
        true => Outcome::Done,
        false => Outcome::NotUpToDate,
    })
}

pub async fn new(ctx: &Ctx, args: NewArgs) -> Result<Outcome> {
    let options = NewOptions {
        name: args.name,
        create_only: args.create_only,
    };
    let report = ops::devloop::new(ctx, args.schema.as_deref(), &options).await?;
    if args.json {
        ctx.shell.result(serde_json::to_string(&report)?);
        return Ok(Outcome::Done);
    }
    match (&report.path, report.applied) {
        (None, _) => ctx
            .shell
            .note("the migration history already matches the schema; no migration was written"),
        (Some(path), applied) => {
            ctx.shell.note(format!(
                "wrote Prisma's SQL from the history ({}) in {} ms{}",
                report.history,
                report.milliseconds,
                if applied {
                    "; applied it locally"
                } else {
                    " (--create-only: not applied)"
                }
            ));
            ctx.shell.result(path);
        }
    }
    Ok(Outcome::Done)
}
