//! An error as the user sees it: the message, each cause once, and the next step, which every
//! devdb error type answers with `hint()` (looked up along the cause chain, outermost first).

use std::error::Error;

use crate::hint::Hint;
use crate::shell::Shell;

/// Writes the error on stderr, or as `{"error": {"message", "hint"}}` on stdout under `--json`.
pub fn error(shell: &Shell, err: &anyhow::Error, json: bool) {
    let message = describe(err);
    let hint = err.chain().find_map(hint_of);
    if json {
        let body = serde_json::json!({
            "error": { "message": message, "hint": hint.map(|h| h.text) }
        });
        shell.result(serde_json::to_string(&body).unwrap_or_default());
    } else {
        shell.error(&message, hint.as_ref());
    }
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

/// The hint of one link of the chain, when it is one of devdb's error types.
fn hint_of(err: &(dyn Error + 'static)) -> Option<Hint> {
    use crate::{
        branch, config, copy, devloop, docker, generate, lint, local, migrate, ops, workflow,
    };
    macro_rules! first_of {
        ($($kind:ty),* $(,)?) => {
            $(if let Some(err) = err.downcast_ref::<$kind>() {
                return err.hint();
            })*
        };
    }
    if let Some(err) = err.downcast_ref::<config::ConfigError>() {
        return err.hint().map(Hint::suggest);
    }
    first_of!(
        crate::db::DbError,
        branch::BranchError,
        docker::DockerError,
        local::LocalError,
        migrate::MigrateError,
        migrate::MigrationFailure,
        lint::LintError,
        copy::CopyError,
        copy::plan::PlanError,
        devloop::DevloopError,
        generate::GenerateError,
        workflow::WorkflowError,
        workflow::seed::SeedError,
        ops::migrate::LintBlocked,
    );
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::Verbosity;

    #[derive(Debug, thiserror::Error)]
    #[error("reading /x: {source}")]
    struct Wrapped {
        source: std::io::Error,
    }

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let err = anyhow::Error::new(Wrapped { source: io });
        assert_eq!(describe(&err), "reading /x: no such file");
        let err = anyhow::anyhow!("inner").context("outer");
        assert_eq!(describe(&err), "outer: inner");
    }

    #[test]
    fn a_wrapped_errors_hint_is_found_and_shown_apart_from_the_message() {
        let inner = crate::migrate::MigrateError::LockTimeout { seconds: 3 };
        let err =
            anyhow::Error::new(crate::workflow::WorkflowError::Migrate(inner)).context("reset");
        let (shell, captured) = Shell::capture(Verbosity::Normal);
        error(&shell, &err, false);
        let text = captured.stderr();
        assert!(
            text.starts_with("error: reset: another migration run holds"),
            "{text}"
        );
        assert!(text.ends_with("s\n  hint: wait for the other `devdb migrate` or `prisma migrate` to finish and try again\n"), "{text}");

        let (shell, captured) = Shell::capture(Verbosity::Quiet);
        error(&shell, &err, true);
        let json: serde_json::Value = serde_json::from_str(&captured.stdout()).unwrap();
        assert!(
            !json["error"]["message"].as_str().unwrap().contains("hint"),
            "{json}"
        );
        assert!(
            json["error"]["hint"]
                .as_str()
                .unwrap()
                .starts_with("wait for"),
            "{json}"
        );
    }

    #[test]
    fn next_steps_keep_their_label() {
        let err = crate::migrate::MigrateError::FailedInDatabase {
            name: "m1".into(),
            logs: "boom".into(),
        };
        let (shell, captured) = Shell::capture(Verbosity::Normal);
        error(&shell, &anyhow::Error::new(err), false);
        assert!(
            captured.stderr().contains(
                "\n  next: repair the database, then `devdb migrate resolve --rolled-back m1`"
            ),
            "{}",
            captured.stderr()
        );
    }
}
