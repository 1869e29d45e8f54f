//! The containers of the project: `up`, `down`, `destroy`, `status`, `logs`, `url`.

use anyhow::{bail, Result};

use super::Ctx;
use crate::db::ConnectionInfo;
use crate::docker::{ServiceStatus, UpOutcome};
use crate::local;

/// What `up` did.
#[derive(Debug, serde::Serialize)]
pub struct Up {
    pub project: String,
    pub services: Vec<UpOutcome>,
    pub database: String,
    pub database_created: bool,
    /// Password redacted.
    pub url: String,
    /// False when everything already ran (nothing was pulled, built, created or started).
    pub changed: bool,
}

/// Creates or starts what is missing and waits for the database (a spinner meanwhile).
pub async fn up(ctx: &Ctx, rebuild: bool) -> Result<Up> {
    let engine = ctx.engine().await?;
    let spinner = ctx
        .shell
        .spinner(format!("starting {}", ctx.config.project));
    let report = local::up(engine, &ctx.config, rebuild).await;
    spinner.finish_and_clear();
    let report = report?;
    super::branch::follow(&ctx.shell, engine, &ctx.config, &report.connection).await?;
    Ok(Up {
        project: ctx.config.project.clone(),
        changed: !report.changed_nothing(),
        database: report.connection.database.clone(),
        database_created: report.database_created,
        url: report.connection.redacted_url(),
        services: report.services,
    })
}

/// The containers stopped.
pub async fn down(ctx: &Ctx) -> Result<Vec<String>> {
    Ok(ctx.engine().await?.down(&ctx.config).await?)
}

/// What was removed (containers, network, volumes).
pub async fn destroy(ctx: &Ctx) -> Result<Vec<String>> {
    Ok(ctx.engine().await?.destroy(&ctx.config).await?)
}

pub async fn status(ctx: &Ctx) -> Result<Vec<ServiceStatus>> {
    Ok(ctx.engine().await?.status(&ctx.config).await?)
}

/// Streams a service's logs (the database service by default) into `out`.
pub async fn logs(
    ctx: &Ctx,
    service: Option<String>,
    follow: bool,
    tail: Option<usize>,
    out: &mut (dyn std::io::Write + Send),
) -> Result<()> {
    let config = &ctx.config;
    let service = service.unwrap_or_else(|| config.settings.service.clone());
    if !config.services.contains_key(&service) {
        let known: Vec<&str> = config.services.keys().map(String::as_str).collect();
        bail!(
            "no service `{service}` in {}; services: {}",
            config.file.display(),
            known.join(", ")
        );
    }
    let engine = ctx.engine().await?;
    engine.logs(config, &service, follow, tail, out).await?;
    Ok(())
}

/// How to reach the local database (its container must exist; nothing is started).
/// The local database's URL, and a note when it goes through a tunnel that closes with this
/// process (a remote engine's loopback mapping).
pub async fn url(ctx: &Ctx) -> Result<(ConnectionInfo, Option<String>)> {
    let engine = ctx.engine().await?;
    let info = local::connection_info(engine, &ctx.config).await?;
    let note = local::short_lived_note(engine, &info);
    Ok((info, note))
}

/// What `devdb tunnel` found: a tunnel it holds (as long as `ctx`'s engine lives), or a local
/// engine whose database needs none.
pub enum Tunnel {
    Held(ConnectionInfo),
    NotNeeded(ConnectionInfo),
}

/// Opens the tunnel `devdb tunnel` holds for long-lived clients.
pub async fn tunnel(ctx: &Ctx, port: u16) -> Result<Tunnel> {
    let engine = ctx.engine().await?;
    Ok(match local::hold_tunnel(engine, &ctx.config, port).await? {
        Some(info) => Tunnel::Held(info),
        None => Tunnel::NotNeeded(local::connection_info(engine, &ctx.config).await?),
    })
}
