//! `reset`, `seed`, `generate` and `snapshot` as text.

use anyhow::Result;

use super::Json;
use crate::generate::Outcome;
use crate::ops::snapshot::Pruned;
use crate::ops::workflow::Seeded;
use crate::shell::Shell;
use crate::workflow::snapshot::SnapshotInfo;
use crate::workflow::ResetReport;

pub fn reset(shell: &Shell, report: &ResetReport, json: Json) -> Result<()> {
    if !super::json(shell, report, json)? {
        let ms = report.total_milliseconds;
        shell.note(format!("reset done in {ms} ms"));
    }
    Ok(())
}

pub fn seeded(shell: &Shell, seeded: &Seeded) {
    shell.note(format!(
        "seeded {} ({}) in {} ms",
        seeded.database, seeded.plan, seeded.milliseconds
    ));
}

pub fn generated(shell: &Shell, outcomes: &[Outcome], json: Json) -> Result<()> {
    if super::json(shell, &outcomes, json)? {
        return Ok(());
    }
    if outcomes.is_empty() {
        shell.note("no generators configured (x-devdb.generate)");
    }
    for outcome in outcomes {
        let what = match (&outcome.output, outcome.changed) {
            (Some(path), Some(true)) => format!("wrote {}", path.display()),
            (Some(path), _) => format!("unchanged {}", path.display()),
            (None, _) => "ran".to_string(),
        };
        shell.note(format!("{:<40} {what}", outcome.generator));
    }
    Ok(())
}

pub fn snapshots(shell: &Shell, snapshots: &[SnapshotInfo], json: Json) -> Result<()> {
    if super::json(shell, &snapshots, json)? {
        return Ok(());
    }
    shell.result(format!(
        "{:<32} {:>10} {:>9}  {:<20} LAST MIGRATION",
        "SNAPSHOT", "MIGRATIONS", "MB", "CREATED"
    ));
    for s in snapshots {
        shell.result(format!(
            "{:<32} {:>10} {:>9.1}  {:<20} {}",
            s.database,
            s.migrations,
            s.bytes as f64 / 1e6,
            s.created,
            s.last
        ));
    }
    Ok(())
}

pub fn pruned(shell: &Shell, pruned: &Pruned) {
    shell.note(format!(
        "dropped {} snapshots and {} ready copies",
        pruned.snapshots, pruned.spares
    ));
}
