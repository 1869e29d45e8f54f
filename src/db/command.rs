//! The user's own commands that get a database's URL (seed steps, command generators): one
//! runner, so each runs the same way. In the project root, DATABASE_URL set, stdin closed;
//! its stdout and stderr relayed line by line to devdb's stderr through the Shell (devdb's
//! stdout stays for its results) with the URL and the password masked, since such commands
//! often print what they connect to; the last stderr lines kept for the error.

use std::collections::VecDeque;
use std::path::Path;
use std::process::{ExitStatus, Stdio};

use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};

use super::ConnectionInfo;
use crate::shell::Shell;

/// How many of the command's last stderr lines an error shows.
const STDERR_TAIL: usize = 10;

/// How the command ended, and its last stderr lines (masked).
pub struct Finished {
    pub status: ExitStatus,
    pub stderr_tail: Vec<String>,
}

/// Runs `program` (already found on PATH) with `arguments` against `target`; an error only
/// when it could not be started or waited for.
pub async fn run_with_url(
    shell: &Shell,
    root: &Path,
    program: &Path,
    arguments: &[String],
    target: &ConnectionInfo,
) -> std::io::Result<Finished> {
    let mut child = tokio::process::Command::new(program)
        .args(arguments)
        .current_dir(root)
        .env("DATABASE_URL", target.url())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mask = Mask::of(target);
    let stdout = child.stdout.take().map(BufReader::new);
    let stderr = child.stderr.take().map(BufReader::new);
    let echo = relay(shell, &mask, stdout, 0);
    let keep = relay(shell, &mask, stderr, STDERR_TAIL);
    let (_, tail) = tokio::join!(echo, keep);
    let status = child.wait().await?;
    Ok(Finished {
        status,
        stderr_tail: tail.into(),
    })
}

/// Passes each line of `pipe` to the Shell, masked, and returns the last `keep` of them.
async fn relay(
    shell: &Shell,
    mask: &Mask<'_>,
    pipe: Option<impl AsyncBufRead + Unpin>,
    keep: usize,
) -> VecDeque<String> {
    let mut tail = VecDeque::new();
    let Some(pipe) = pipe else {
        return tail;
    };
    let mut lines = pipe.lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let line = mask.apply(&line);
        shell.passthrough(&format!("{line}\n"));
        if keep > 0 {
            if tail.len() == keep {
                tail.pop_front();
            }
            tail.push_back(line);
        }
    }
    tail
}

/// The URL (whose password is percent-encoded there) and the password itself, replaced.
struct Mask<'a> {
    target: &'a ConnectionInfo,
    url: String,
    redacted: String,
}

impl Mask<'_> {
    fn of(target: &ConnectionInfo) -> Mask<'_> {
        Mask {
            target,
            url: target.url(),
            redacted: target.redacted_url(),
        }
    }

    fn apply(&self, line: &str) -> String {
        let line = line.replace(&self.url, &self.redacted);
        match self.target.password.expose() {
            "" => line,
            password => line.replace(password, "***"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::Verbosity;

    fn target() -> ConnectionInfo {
        ConnectionInfo {
            host: "127.0.0.1".into(),
            port: 5999,
            user: "app".into(),
            password: crate::config::Secret::new("s3cret/pw".to_string()),
            database: "shop".into(),
        }
    }

    #[tokio::test]
    async fn the_url_and_password_are_masked_in_what_is_relayed_and_kept() {
        let (shell, captured) = Shell::capture(Verbosity::Normal);
        let script = "echo \"url $DATABASE_URL\"; echo \"bad s3cret/pw\" >&2; exit 3";
        let args = ["-c".to_string(), script.to_string()];
        let root = std::env::temp_dir();
        let done = run_with_url(&shell, &root, Path::new("sh"), &args, &target())
            .await
            .unwrap();
        assert_eq!(done.status.code(), Some(3));
        assert_eq!(done.stderr_tail, ["bad ***"]);
        let relayed = captured.stderr();
        assert!(!relayed.contains("s3cret"), "{relayed}");
        assert!(relayed.contains(&target().redacted_url()), "{relayed}");
        assert_eq!(captured.stdout(), "");
    }
}
