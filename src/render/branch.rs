//! `devdb branch status|on|off|hook` and the branch lines of `devdb status`, as text.

use anyhow::Result;

use super::Json;
use crate::branch::head::Head;
use crate::branch::hook::Installed;
use crate::ops::branch::{BranchStatus, HookReport};
use crate::shell::Shell;

fn head(head: Option<&Head>) -> String {
    match head {
        Some(Head::Branch(name)) => format!("branch {name}"),
        Some(Head::Detached(sha)) => format!("detached HEAD at {}", &sha[..sha.len().min(12)]),
        Some(Head::Rebasing) => "a rebase in progress".to_string(),
        None => "no git repository".to_string(),
    }
}

fn size(bytes: i64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}

pub fn status(shell: &Shell, report: &BranchStatus, json: Json) -> Result<()> {
    if super::json(shell, report, json)? {
        return Ok(());
    }
    let state = if report.enabled { "on" } else { "off" };
    shell.result(format!(
        "branches {state} ({}); checked out: {}",
        report.decided_by,
        head(report.head.as_ref())
    ));
    lines(shell, report);
    Ok(())
}

fn lines(shell: &Shell, report: &BranchStatus) {
    let owner = report.owner.as_deref().unwrap_or("no branch yet");
    shell.result(format!("  in place: {} ({owner})", report.database));
    for parked in &report.parked {
        let cut = match &parked.switching_to {
            Some(to) => format!("  (switch to {to} cut short; the next command finishes it)"),
            None => String::new(),
        };
        shell.result(format!(
            "  parked:   {} ({}, {}){cut}",
            parked.database,
            parked.branch,
            size(parked.bytes)
        ));
    }
}

/// After the services of `devdb status`: nothing when branches are off (and nothing extra in
/// its JSON, which stays the list of services; `devdb branch status --json` is the report).
pub fn overview(shell: &Shell, report: Option<&BranchStatus>, json: Json) {
    let Some(report) = report else { return };
    if json != Json::No {
        return;
    }
    shell.result(format!("BRANCH: {}", head(report.head.as_ref())));
    lines(shell, report);
}

pub fn hook(shell: &Shell, report: &HookReport) {
    let what = match report.installed {
        Installed::Written => "installed",
        Installed::Chained => "appended devdb's call to the existing hook",
        Installed::AlreadyThere => "already installed",
    };
    shell.note(format!("{what}: {}", report.path));
}
