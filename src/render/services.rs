//! `up`, `status`, `url` and `tunnel` as text.

use anyhow::Result;

use super::Json;
use crate::db::ConnectionInfo;
use crate::docker::ServiceStatus;
use crate::ops::services::Up;
use crate::shell::Shell;

pub fn up(shell: &Shell, report: &Up, json: Json) -> Result<()> {
    if super::json(shell, report, json)? {
        return Ok(());
    }
    for outcome in &report.services {
        let state = format!("{:?}", outcome.state).to_lowercase();
        shell.note(format!(
            "{state:<10} {} ({})",
            outcome.container, outcome.image
        ));
    }
    if report.database_created {
        shell.note(format!("created database {}", report.database));
    }
    shell.result(&report.url);
    if shell.out_is_terminal() {
        shell.note("(`devdb url` prints it with the password)");
    }
    Ok(())
}

pub fn status(shell: &Shell, rows: &[ServiceStatus], json: Json) -> Result<()> {
    if super::json(shell, &rows, json)? {
        return Ok(());
    }
    shell.result(format!(
        "{:<12} {:<10} {:<10} {:<6} IMAGE",
        "SERVICE", "STATE", "HEALTH", "PORT"
    ));
    for row in rows {
        let port = row.port.map_or_else(|| "-".to_string(), |p| p.to_string());
        shell.result(format!(
            "{:<12} {:<10} {:<10} {:<6} {}",
            row.service,
            row.state,
            row.health.as_deref().unwrap_or("-"),
            port,
            row.image.as_deref().unwrap_or("-")
        ));
    }
    Ok(())
}

/// The URL with its password on stdout (what `devdb url` is for), a tunnel's caveat on stderr.
pub fn url(shell: &Shell, info: &ConnectionInfo, note: Option<&str>) {
    if let Some(note) = note {
        shell.note(note);
    }
    shell.result(info.url());
}

/// The tunnel's port on stdout; `engine` is the remote engine's host when a tunnel is held.
pub fn tunnel(shell: &Shell, info: &ConnectionInfo, engine: Option<&str>) {
    match engine {
        None => shell.note(format!(
            "the engine is local: no tunnel needed, the database is at {}",
            info.redacted_url()
        )),
        Some(host) => shell.note(format!(
            "{} reaches the database of {host} until Ctrl-C",
            info.redacted_url()
        )),
    }
    shell.result(info.port);
}
