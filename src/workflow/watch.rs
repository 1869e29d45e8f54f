//! `devdb watch`: re-runs the reset loop whenever something under `migrations/` changes,
//! debounced, printing each outcome (and a failing statement's file and line) without exiting.

use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use super::{reset, ResetOptions};
use crate::config::Config;
use crate::docker::Engine;

/// Quiet time after the last event before a reset: editors save in a burst of events a few
/// milliseconds apart (temp file, rename, chmod); every millisecond here is save-to-database
/// latency.
const DEBOUNCE: Duration = Duration::from_millis(50);

pub async fn watch(engine: &Engine, config: &Config, options: &ResetOptions) -> anyhow::Result<()> {
    let dir = config.migrations_dir();
    std::fs::create_dir_all(&dir)?;
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            if !event.kind.is_access() {
                let _ = sender.send(());
            }
        }
    })?;
    watcher.watch(&dir, RecursiveMode::Recursive)?;
    engine
        .shell
        .note(format!("watching {} (Ctrl-C to stop)", dir.display()));
    run_once(engine, config, options).await;
    while receiver.recv().await.is_some() {
        // Editors write in bursts (temp file, rename, chmod): wait for quiet.
        loop {
            match tokio::time::timeout(DEBOUNCE, receiver.recv()).await {
                Ok(Some(())) => continue,
                Ok(None) => return Ok(()),
                Err(_) => break,
            }
        }
        run_once(engine, config, options).await;
    }
    Ok(())
}

async fn run_once(engine: &Engine, config: &Config, options: &ResetOptions) {
    let shell = &engine.shell;
    if crate::ops::branch::before_watch_run(engine, config).await {
        return;
    }
    match reset(engine, config, options).await {
        Ok(report) => shell.note(format!(
            "ok: {} migrations applied, {} from snapshot, {} ms",
            report.applied.len(),
            report.from_snapshot,
            report.total_milliseconds
        )),
        Err(error) => shell.note(format!("failed: {error}")),
    }
}
