//! `devdb lint`: thin glue to `crate::lint` (connections here, the rules there).

use anyhow::Result;

use super::{json, Outcome};
use crate::cli::LintArgs;
use crate::config::Config;
use crate::lint::{self, LintReport, StageTarget};
use crate::migrate::files;
use crate::progress;
use crate::target;

pub async fn lint(config: &Config, args: LintArgs) -> Result<Outcome> {
    let stage = args.stage.stage.filter(|s| target::is_remote(Some(s)));
    let report = run(config, stage.as_deref()).await?;
    if args.json {
        let findings: Vec<json::LintFinding> = report
            .findings
            .iter()
            .map(|f| json::LintFinding {
                rule: f.rule.to_string(),
                severity: f.severity.label().to_string(),
                file: f.file.clone(),
                line: f.line,
                message: f.message.clone(),
            })
            .collect();
        progress::result(serde_json::to_string_pretty(&findings)?);
    } else {
        for finding in &report.findings {
            progress::result(finding.render());
        }
        progress::note(summary(&report));
    }
    Ok(match report.findings.is_empty() {
        true => Outcome::Done,
        false => Outcome::NotUpToDate,
    })
}

/// Lints what is pending on `stage` (or locally) against the local database.
pub async fn run(config: &Config, stage: Option<&str>) -> Result<LintReport> {
    let dir = config.migrations_dir();
    files::ensure_lock_file(&dir)?;
    let files = files::discover(&dir)?;
    let local = target::local_database(config).await?.connect().await?;
    let remote = match stage {
        Some(name) => Some(target::open(config, Some(name)).await?),
        None => None,
    };
    let stage = remote.as_ref().map(|t| StageTarget {
        name: &t.stage,
        client: &t.client,
    });
    Ok(lint::lint(&files, &dir, config.root(), &local, stage).await?)
}

pub fn summary(report: &LintReport) -> String {
    let errors = report.blocking(&[]).count();
    format!(
        "lint: {} findings ({errors} errors) in {} pending migrations",
        report.findings.len(),
        report.pending.len()
    )
}
