//! `devdb migrate new --from-prisma` and `migrate diff --from-prisma`: thin glue between the CLI
//! and `crate::devloop`, which does the work.

use anyhow::Result;

use super::Outcome;
use crate::cli::{DiffArgs, NewArgs};
use crate::config::Config;
use crate::devloop::{self, NewOptions};
use crate::progress;

pub async fn diff(config: &Config, args: DiffArgs) -> Result<Outcome> {
    let report = devloop::diff_from_prisma(config, args.schema.as_deref()).await?;
    if args.json {
        progress::result(serde_json::to_string(&report)?);
    } else {
        progress::note(format!(
            "history: {}; Prisma compared it with {} ({} ms)",
            report.history, report.schema, report.milliseconds
        ));
        match report.empty {
            true => progress::note("the migration history matches the schema"),
            false => progress::result_text(&report.sql),
        }
    }
    Ok(match report.empty {
        true => Outcome::Done,
        false => Outcome::NotUpToDate,
    })
}

pub async fn new(config: &Config, args: NewArgs) -> Result<Outcome> {
    let options = NewOptions {
        name: args.name,
        create_only: args.create_only,
    };
    let report = devloop::new_from_prisma(config, args.schema.as_deref(), &options).await?;
    if args.json {
        progress::result(serde_json::to_string(&report)?);
        return Ok(Outcome::Done);
    }
    match (&report.path, report.applied) {
        (None, _) => progress::note(
            "the migration history already matches the schema; no migration was written",
        ),
        (Some(path), applied) => {
            progress::note(format!(
                "wrote Prisma's SQL from the history ({}) in {} ms{}",
                report.history,
                report.milliseconds,
                if applied {
                    "; applied it locally"
                } else {
                    " (--create-only: not applied)"
                }
            ));
            progress::result(path);
        }
    }
    Ok(Outcome::Done)
}
