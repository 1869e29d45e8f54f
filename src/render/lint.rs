//! `lint`'s findings, and the lint part of a stage deploy's plan.

use anyhow::Result;

use super::Json;
use crate::lint::LintReport;
use crate::shell::Shell;

/// `devdb lint`: the findings as JSON, or as text with a summary line.
pub fn report(shell: &Shell, report: &LintReport, json: Json) -> Result<()> {
    if !super::json(shell, &report.findings, json)? {
        findings(shell, report, false);
    }
    Ok(())
}

/// The findings (on stdout, or on stderr when stdout carries JSON) and a summary line.
pub fn findings(shell: &Shell, report: &LintReport, json: bool) {
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
