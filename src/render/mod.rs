//! What a command shows: each operation's typed report as text (for people) or JSON (for
//! scripts, the report itself), written through the Shell. `commands/` parses and calls `ops`;
//! the wording lives here, one file per family of commands, so neither floor mixes the two.

pub mod branch;
pub mod devloop;
pub mod error;
pub mod init;
pub mod lint;
pub mod migrate;
pub mod services;
pub mod workflow;

use anyhow::Result;
use serde::Serialize;

use crate::shell::Shell;

/// How a command's report is written on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Json {
    /// Text for people.
    No,
    /// One line of JSON.
    Line,
    /// Indented JSON (the reports that are lists or tables).
    Pretty,
}

impl Json {
    pub fn line(json: bool) -> Json {
        match json {
            true => Json::Line,
            false => Json::No,
        }
    }

    pub fn pretty(json: bool) -> Json {
        match json {
            true => Json::Pretty,
            false => Json::No,
        }
    }
}

/// Writes `report` as JSON when asked; false means the caller renders text.
pub fn json(shell: &Shell, report: &impl Serialize, json: Json) -> Result<bool> {
    match json {
        Json::No => return Ok(false),
        Json::Line => shell.result(serde_json::to_string(report)?),
        Json::Pretty => shell.result(serde_json::to_string_pretty(report)?),
    }
    Ok(true)
}

/// One note per item (`verb item`), or `empty` when there are none.
pub fn notes(shell: &Shell, verb: &str, items: &[String], empty: &str) {
    if items.is_empty() {
        shell.note(empty);
    }
    for item in items {
        shell.note(format!("{verb} {item}"));
    }
}
