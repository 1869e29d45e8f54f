//! `devdb lint`: `ops::lint`, its findings as text or JSON.

use anyhow::Result;

use super::Outcome;
use crate::cli::LintArgs;
use crate::lint::LintReport;
use crate::ops::{self, Ctx};
use crate::shell::Shell;

pub async fn lint(ctx: &Ctx, args: LintArgs) -> Result<Outcome> {
    let report = ops::lint::lint(ctx, args.stage.stage.as_deref()).await?;
    match args.json {
        true => ctx
            .shell
            .result(serde_json::to_string_pretty(&report.findings)?),
        false => render(&ctx.shell, &report, false),
    }
    Ok(match report.findings.is_empty() {
        true => Outcome::Done,
        false => Outcome::NotUpToDate,
    })
}

/// The findings (on stdout, or on stderr when stdout carries JSON) and a summary line.
pub fn render(shell: &Shell, report: &LintReport, json: bool) {
    for finding in &report.findings {
        match json {
            true => shell.note(finding.render()),
            false => shell.result(finding.render()),
        }
    }
    let errors = report.blocking(&[]).count();
    shell.note(format!(
        "lint: {} findings ({errors} errors) in {} pending migrations",
        report.findings.len(),
        report.pending.len()
    ));
}
