//! The process boundary: parse arguments, run the command, and decide the exit code, as ripgrep
//! does: 0 success or up to date, 1 "not up to date" or findings, 2 any error.

use clap::Parser;
use devdb::commands::Outcome;

fn main() -> std::process::ExitCode {
    let cli = devdb::cli::Cli::parse();
    let output = &cli.output;
    devdb::progress::configure(
        devdb::progress::Verbosity::from_flags(output.quiet, output.verbose),
        output.color.enabled(),
    );
    let json = devdb::commands::wants_json(&cli.command);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return report_error(&anyhow::Error::new(err), json),
    };
    match runtime.block_on(devdb::commands::run(cli)) {
        Ok(Outcome::Done) => std::process::ExitCode::SUCCESS,
        Ok(Outcome::NotUpToDate) => std::process::ExitCode::from(1),
        Err(err) => report_error(&err, json),
    }
}

/// Prints the error (as `{"error": {"message", "hint"}}` on stdout under `--json`) and exits 2.
fn report_error(err: &anyhow::Error, json: bool) -> std::process::ExitCode {
    let text = describe(err);
    if json {
        let (message, hint) = devdb::progress::split_hint(&text);
        let body = devdb::commands::json::Error {
            error: devdb::commands::json::ErrorBody { message, hint },
        };
        devdb::progress::result(serde_json::to_string(&body).unwrap_or_default());
    } else {
        devdb::progress::error(&text);
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
