//! `devdb tunnel`: holds a local port to the database of a remote engine for clients that
//! outlive one devdb command (an IDE); the tunnel itself is docker/tunnel.rs.

use anyhow::Result;

use crate::cli::TunnelArgs;
use crate::ops::services::Tunnel;
use crate::ops::{self, Ctx};

pub async fn tunnel(ctx: &Ctx, args: TunnelArgs) -> Result<()> {
    match ops::services::tunnel(ctx, args.port).await? {
        Tunnel::NotNeeded(info) => {
            ctx.shell.note(format!(
                "the engine is local: no tunnel needed, the database is at {}",
                info.redacted_url()
            ));
            ctx.shell.result(info.port);
        }
        Tunnel::Held(info) => {
            let engine = ctx.engine().await?;
            ctx.shell.note(format!(
                "{} reaches the database of {} until Ctrl-C",
                info.redacted_url(),
                engine.endpoint.host
            ));
            ctx.shell.result(info.port);
            tokio::signal::ctrl_c().await?;
        }
    }
    Ok(())
}
