//! `devdb branch on|off|status (list)|drop|prune|hook`.

use anyhow::Result;

use crate::cli::BranchCommand;
use crate::ops::{self, Ctx};
use crate::render::{self, Json};

pub async fn run(ctx: &Ctx, command: BranchCommand) -> Result<()> {
    let (report, json) = match command {
        BranchCommand::On(args) => (ops::branch::set(ctx, true).await?, args.json),
        BranchCommand::Off(args) => (ops::branch::set(ctx, false).await?, args.json),
        BranchCommand::Status(args) => (ops::branch::status(ctx).await?, args.json),
        BranchCommand::Prune(args) => (ops::branch::prune(ctx).await?, args.json),
        BranchCommand::Drop { branch, json } => {
            (ops::branch::drop_parked(ctx, &branch).await?, json.json)
        }
        BranchCommand::Hook { chain } => {
            render::branch::hook(&ctx.shell, &ops::branch::install_hook(ctx, chain)?);
            return Ok(());
        }
    };
    render::branch::status(&ctx.shell, &report, Json::pretty(json))
}
