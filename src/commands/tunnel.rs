//! `devdb tunnel`: holds a local port to the database of a remote engine for clients that
//! outlive one devdb command (an IDE); the tunnel itself is docker/tunnel.rs.

use anyhow::Result;

use crate::cli::TunnelArgs;
use crate::config::Config;
use crate::docker::Engine;
use crate::{local, progress};

pub async fn tunnel(config: &Config, args: TunnelArgs) -> Result<()> {
    let engine = Engine::connect().await?;
    let Some(info) = local::hold_tunnel(&engine, config, args.port).await? else {
        let info = local::connection_info(&engine, config).await?;
        progress::note(format!(
            "the engine is local: no tunnel needed, the database is at {}",
            info.redacted_url()
        ));
        progress::result(info.port);
        return Ok(());
    };
    progress::note(format!(
        "{} reaches the database of {} until Ctrl-C",
        info.redacted_url(),
        engine.endpoint.host
    ));
    progress::result(info.port);
    tokio::signal::ctrl_c().await?;
    Ok(())
}
