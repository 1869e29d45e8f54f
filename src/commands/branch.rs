//! `devdb branch on|off|status|hook`.

use anyhow::Result;

use crate::cli::BranchCommand;
use crate::ops::{self, Ctx};
use crate::render::{self, Json};

pub async fn run(ctx: &Ctx, command: BranchCommand) -> Result<()> {
    let shell = &ctx.shell;
    match command {
        BranchCommand::On(ref args) | BranchCommand::Off(ref args) => {
            let on = matches!(command, BranchCommand::On(_));
            let report = ops::branch::set(ctx, on).await?;
            render::branch::status(shell, &report, Json::pretty(args.json))
        }
        BranchCommand::Status(args) => {
            let report = ops::branch::status(ctx).await?;
            render::branch::status(shell, &report, Json::pretty(args.json))
        }
        BranchCommand::Hook { chain } => {
            render::branch::hook(shell, &ops::branch::install_hook(ctx, chain)?);
            Ok(())
        }
    }
}

pub fn wants_json(command: &BranchCommand) -> bool {
    match command {
        BranchCommand::On(args) | BranchCommand::Off(args) | BranchCommand::Status(args) => {
            args.json
        }
        BranchCommand::Hook { .. } => false,
    }
}
