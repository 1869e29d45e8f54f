//! The user's own commands that get a database's URL (seed steps, command generators): one
//! runner, so each runs the same way. In the project root, DATABASE_URL set, stdin closed;
//! its stdout and stderr relayed line by line to devdb's stderr through the Shell (devdb's
//! stdout stays for its results) with the URL and the password masked, since such commands
//! often print what they connect to; the last stderr lines kept for the error. A tool whose
//! output devdb reads (Prisma) is run the same way with its output captured instead.

use std::collections::VecDeque;
use std::path::Path;
use std::process::{ExitStatus, Stdio};

use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};

use super::ConnectionInfo;
use crate::shell::Shell;

/// How many of the command's last stderr lines an error shows.
const STDERR_TAIL: usize = 10;

/// How the command ended: its last stderr lines (masked) and, when captured, its stdout.
pub struct Finished {
    pub status: ExitStatus,
    pub stderr_tail: Vec<String>,
    /// The command's stdout when [`capture`]d (empty when relayed), as it wrote it: it is the
    /// caller's data (a generated script), so it is not masked; pass it through [`mask`]
    /// before showing it.
    pub stdout: String,
}

/// Runs `program` (already found on PATH) with `arguments` against `target`, relaying its
/// output; an error only when it could not be started or waited for.
pub async fn run_with_url(
    shell: &Shell,
    root: &Path,
    program: &Path,
    arguments: &[String],
    target: &ConnectionInfo,
) -> std::io::Result<Finished> {
    let child = spawn(root, program, arguments, target, &[])?;
    collect(child, Some(shell), target).await
}

/// Runs a tool whose output devdb reads (Prisma's `migrate diff`) like [`run_with_url`], with
/// `env` besides DATABASE_URL, but relays nothing: its stdout is kept for the caller
/// ([`Finished::stdout`]) and every stderr line kept, masked, for an error.
pub async fn capture(
    root: &Path,
    program: &Path,
    arguments: &[String],
    target: &ConnectionInfo,
    env: &[(&str, &str)],
) -> std::io::Result<Finished> {
    let child = spawn(root, program, arguments, target, env)?;
    collect(child, None, target).await
}

fn spawn(
    root: &Path,
    program: &Path,
    arguments: &[String],
    target: &ConnectionInfo,
    env: &[(&str, &str)],
) -> std::io::Result<tokio::process::Child> {
    tokio::process::Command::new(program)
        .args(arguments)
        .current_dir(root)
        .env("DATABASE_URL", target.url())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
}

/// Relays the child's output to `shell`, or with none captures it; then waits for it.
async fn collect(
    mut child: tokio::process::Child,
    shell: Option<&Shell>,
    target: &ConnectionInfo,
) -> std::io::Result<Finished> {
    let mask = Mask::of(target);
    let stdout = child.stdout.take();
    let stderr = child.stderr.take().map(BufReader::new);
    let (stdout, tail) = match shell {
        None => tokio::join!(read_all(stdout), relay(None, &mask, stderr, usize::MAX)),
        Some(shell) => {
            let echo = relay(Some(shell), &mask, stdout.map(BufReader::new), 0);
            let keep = relay(Some(shell), &mask, stderr, STDERR_TAIL);
            let (_, tail) = tokio::join!(echo, keep);
            (String::new(), tail)
        }
    };
    let status = child.wait().await?;
    Ok(Finished {
        status,
        stderr_tail: tail.into(),
        stdout,
    })
}

/// `text` with `target`'s URL and password masked, as everything relayed is.
pub fn mask(text: &str, target: &ConnectionInfo) -> String {
    Mask::of(target).apply(text)
}

async fn read_all(pipe: Option<tokio::process::ChildStdout>) -> String {
    let mut bytes = Vec::new();
    if let Some(mut pipe) = pipe {
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut pipe, &mut bytes).await;
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Passes each line of `pipe` to the Shell (when given), masked, and returns the last `keep`
/// of them.
async fn relay(
    shell: Option<&Shell>,
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
        if let Some(shell) = shell {
            shell.passthrough(&format!("{line}\n"));
        }
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

    #[tokio::test]
    async fn a_captured_command_keeps_its_stdout_and_all_of_its_stderr_masked() {
        let script = "printf 'CREATE TABLE t ();\\n'; echo \"to $DATABASE_URL as $EXTRA\" >&2; \
                      for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo \"line $i s3cret/pw\" >&2; done";
        let args = ["-c".to_string(), script.to_string()];
        let root = std::env::temp_dir();
        let env = [("EXTRA", "more")];
        let done = capture(&root, Path::new("sh"), &args, &target(), &env)
            .await
            .unwrap();
        assert!(done.status.success());
        assert_eq!(done.stdout, "CREATE TABLE t ();\n");
        assert_eq!(done.stderr_tail.len(), 13, "{:?}", done.stderr_tail);
        assert_eq!(
            done.stderr_tail[0],
            format!("to {} as more", target().redacted_url())
        );
        assert_eq!(done.stderr_tail[12], "line 12 ***");
        assert!(done.stderr_tail.iter().all(|l| !l.contains("s3cret")));
        assert_eq!(
            mask(&format!("x {}", target().url()), &target()),
            format!("x {}", target().redacted_url())
        );
    }
}
