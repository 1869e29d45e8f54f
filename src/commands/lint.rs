//! `devdb lint`: `ops::lint`, its findings as text or JSON.

use anyhow::Result;

use super::Outcome;
use crate::cli::LintArgs;
use crate::ops::{self, Ctx};
use crate::render::{self, Json};

pub async fn lint(ctx: &Ctx, args: LintArgs) -> Result<Outcome> {
    let report = ops::lint::lint(ctx, args.stage.stage.as_deref()).await?;
    render::lint::report(&ctx.shell, &report, Json::pretty(args.json))?;
    Ok(match report.findings.is_empty() {
        true => Outcome::Done,
        false => Outcome::NotUpToDate,
    })
}
