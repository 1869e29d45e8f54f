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
    let (message, hint) = devdb::shell::split_hint(&describe(err));
    if json {
        let body = serde_json::json!({
            "error": { "message": message, "hint": hint.map(|h| h.text) }
        });
        shell.result(serde_json::to_string(&body).unwrap_or_default());
    } else {
        shell.error(&message, hint.as_ref());
    }
    std::process::ExitCode::from(2)
}

/// The error and its causes, each cause once: many errors already show their source in their
/// own message (`{action}: {source}`), so a cause whose text is already there is not repeated.
fn describe(err: &anyhow::Error) -> String {
    let mut text = err.to_string();
    for cause in err.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("reading /x: {source}")]
    struct Wrapped {
        source: std::io::Error,
    }

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let err = anyhow::Error::new(Wrapped { source: io });
        assert_eq!(super::describe(&err), "reading /x: no such file");
        let err = anyhow::anyhow!("inner").context("outer");
        assert_eq!(super::describe(&err), "outer: inner");
    }
}
