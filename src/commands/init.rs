//! `devdb init` (adopting devdb in an existing repository) and `devdb completions`.

use anyhow::{Context as _, Result};
use clap::CommandFactory;

use crate::cli::{Cli, InitArgs};
use crate::shell::Shell;
use crate::{ops, render};

pub fn init(shell: &Shell, args: &InitArgs) -> Result<()> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    render::init::init(shell, &ops::init::init(&cwd, args.dry_run)?);
    Ok(())
}

/// Prints the completion script for `shell` on stdout.
pub fn completions(shell: &Shell, kind: clap_complete::Shell) {
    let mut script = Vec::new();
    clap_complete::generate(kind, &mut Cli::command(), "devdb", &mut script);
    shell.result_text(&String::from_utf8_lossy(&script));
}
