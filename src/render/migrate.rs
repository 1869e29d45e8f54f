//! `migrate deploy | status | resolve | reset` as text: a plan is the stage's result (stdout),
//! what was applied is progress (stderr).

use anyhow::Result;

use super::Json;
use crate::migrate::Applied;
use crate::ops::migrate::{Deployed, Mark, Plan, Resolved, StatusReport};
use crate::shell::Shell;

pub fn plan(shell: &Shell, plan: &Plan, json: Json) -> Result<()> {
    if super::json(shell, plan, json)? {
        return Ok(());
    }
    shell.result(format!("Plan for stage {}: {}", plan.stage, plan.target));
    let pending: Vec<_> = plan.status.pending().collect();
    if pending.is_empty() {
        shell.result("  nothing to apply");
    }
    for entry in pending {
        shell.result(format!(
            "  apply      {}  sha256 {}",
            entry.name, entry.checksum
        ));
    }
    let lines = [
        (
            &plan.modified,
            "modified   ",
            "changed after it was applied; not re-run",
        ),
        (
            &plan.failed,
            "failed     ",
            "blocks deploy until `migrate resolve`",
        ),
        (
            &plan.missing_on_disk,
            "missing    ",
            "in the database, not on disk",
        ),
    ];
    for (names, label, why) in lines {
        for name in names {
            shell.result(format!("  {label}{name}  ({why})"));
        }
    }
    shell.result(
        "Nothing was changed. Re-run `devdb migrate deploy` with --confirm to apply this plan.",
    );
    Ok(())
}

pub fn applied(shell: &Shell, deployed: &Deployed, json: Json) -> Result<()> {
    if super::json(shell, deployed, json)? {
        return Ok(());
    }
    let (stage, applied) = (&deployed.stage, &deployed.applied);
    if applied.is_empty() {
        shell.note(format!(
            "{stage} is up to date ({} migrations)",
            deployed.files
        ));
    } else {
        let total: u128 = applied.iter().map(|a: &Applied| a.milliseconds).sum();
        let count = applied.len();
        shell.note(format!(
            "applied {count} migrations to {stage} in {total} ms"
        ));
    }
    Ok(())
}

/// `dir` is the migrations folder, named in the heading.
pub fn status(
    shell: &Shell,
    report: &StatusReport,
    dir: &std::path::Path,
    json: Json,
) -> Result<()> {
    if super::json(shell, report, json)? {
        return Ok(());
    }
    shell.result(format!(
        "{} migrations in {} against {} ({})",
        report.files,
        dir.display(),
        report.stage,
        report.target
    ));
    for entry in &report.status.migrations {
        let state = serde_json::to_value(entry.state)?;
        let state = state.as_str().unwrap_or_default().replace('_', " ");
        let note = match entry.modified {
            true => "  (modified after it was applied)",
            false => "",
        };
        shell.result(format!("  {state:<12} {}{note}", entry.name));
    }
    for name in &report.status.missing_on_disk {
        shell.result(format!(
            "  {:<12} {name}  (in the database, not on disk)",
            "missing"
        ));
    }
    shell.result(match report.up_to_date {
        true => "Up to date.",
        false => "Not up to date.",
    });
    Ok(())
}

pub fn resolved(shell: &Shell, resolved: &Resolved, name: &str, mark: Mark) {
    let verb = match mark {
        Mark::Applied => "applied",
        Mark::RolledBack => "rolled back",
    };
    match resolved {
        Resolved::Plan { target } => {
            shell.result(format!(
                "Plan for stage {}: {}",
                target.stage, target.description
            ));
            shell.result(format!(
                "  record {name} as {verb} in _prisma_migrations (no SQL of the migration runs)"
            ));
            shell.result("Nothing was changed. Re-run with --confirm to apply this plan.");
        }
        Resolved::Recorded { target } => {
            shell.note(format!("recorded {name} as {verb} on {}", target.stage))
        }
    }
}
