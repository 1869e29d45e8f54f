//! `devdb tunnel`: holds a local port to the database of a remote engine for clients that
//! outlive one devdb command (an IDE); the tunnel itself is docker/tunnel.rs.

use anyhow::Result;

use crate::cli::TunnelArgs;
use crate::ops::services::Tunnel;
use crate::ops::{self, Ctx};
use crate::render;

pub async fn tunnel(ctx: &Ctx, args: TunnelArgs) -> Result<()> {
    match ops::services::tunnel(ctx, args.port).await? {
        Tunnel::NotNeeded(info) => render::services::tunnel(&ctx.shell, &info, None),
        Tunnel::Held(info) => {
            let engine = ctx.engine().await?;
            render::services::tunnel(&ctx.shell, &info, Some(&engine.endpoint.host));
            tokio::signal::ctrl_c().await?;
        }
    }
    Ok(())
}
