//! `migrate diff | new --from-prisma | --from-db` as text: the SQL is the result (stdout), where it
//! came from and how long it took is progress (stderr).

use anyhow::Result;

use super::Json;
use crate::devloop::{DbDiff, DbNew, Diff, New};
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

/// What the differ found and could not express, as notes.
fn not_expressed(shell: &Shell, items: &[String]) {
    for item in items {
        shell.note(format!("not expressed: {item}"));
    }
}

pub fn db_diff(shell: &Shell, report: &DbDiff, json: Json) -> Result<()> {
    if super::json(shell, report, json)? {
        return Ok(());
    }
    shell.note(format!(
        "history: {}; compared with the local database ({} ms)",
        report.history, report.milliseconds
    ));
    not_expressed(shell, &report.not_expressed);
    match report.empty {
        true => shell.note("the local database matches the migration history: no drift"),
        false => shell.result_text(&report.sql),
    }
    Ok(())
}

pub fn db_new(shell: &Shell, report: &DbNew, json: Json) -> Result<()> {
    if super::json(shell, report, json)? {
        return Ok(());
    }
    not_expressed(shell, &report.not_expressed);
    let Some(path) = &report.path else {
        shell.note("the local database matches the migration history; no migration was written");
        return Ok(());
    };
    shell.note(format!(
        "wrote the drift of the local database as {} statements, checked on a copy of the \
         history ({}), and recorded it as applied locally ({} ms)",
        report.statements, report.history, report.milliseconds
    ));
    shell.result(path);
    Ok(())
}
