//! `migrate diff | new --from-prisma` as text: Prisma's SQL is the result (stdout), where it
//! came from and how long it took is progress (stderr).

use anyhow::Result;

use super::Json;
use crate::devloop::{Diff, New};
use crate::shell::Shell;

pub fn diff(shell: &Shell, report: &Diff, json: Json) -> Result<()> {
    if super::json(shell, report, json)? {
        return Ok(());
    }
    shell.note(format!(
        "history: {}; Prisma compared it with {} ({} ms)",
        report.history, report.schema, report.milliseconds
    ));
    match report.empty {
        true => shell.note("the migration history matches the schema"),
        false => shell.result_text(&report.sql),
    }
    Ok(())
}

pub fn new(shell: &Shell, report: &New, json: Json) -> Result<()> {
    if super::json(shell, report, json)? {
        return Ok(());
    }
    let Some(path) = &report.path else {
        shell.note("the migration history already matches the schema; no migration was written");
        return Ok(());
    };
    let applied = match report.applied {
        true => "; applied it locally",
        false => " (--create-only: not applied)",
    };
    shell.note(format!(
        "wrote Prisma's SQL from the history ({}) in {} ms{applied}",
        report.history, report.milliseconds
    ));
    shell.result(path);
    Ok(())
}
