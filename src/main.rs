//! The process boundary: parse arguments, make the Shell, run the command, render an error, and
//! decide the exit code, as ripgrep does: 0 success or up to date, 1 "not up to date" or
//! findings, 2 any error.

use clap::Parser;
use devdb::commands::Outcome;
use devdb::shell::{Shell, Verbosity};

fn main() -> std::process::ExitCode {
    let cli = devdb::cli::Cli::parse();
    let output = &cli.output;
    let shell = Shell::new(
        Verbosity::from_flags(output.quiet, output.verbose),
        output.color.enabled(),
    );
    let json = devdb::commands::wants_json(&cli.command);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return report_error(&shell, &anyhow::Error::new(err), json),
    };
    match runtime.block_on(devdb::commands::run(cli, shell.clone())) {
        Ok(Outcome::Done) => std::process::ExitCode::SUCCESS,
        Ok(Outcome::NotUpToDate) => std::process::ExitCode::from(1),
        Err(err) => report_error(&shell, &err, json),
    }
}

/// Prints the error (as `{"error": {"message", "hint"}}` on stdout under `--json`) and exits 2.
fn report_error(shell: &Shell, err: &anyhow::Error, json: bool) -> std::process::ExitCode {
    devdb::render::error::error(shell, err, json);
    std::process::ExitCode::from(2)
}
