//! `ssh://[user@]host[:port]` engines, as the docker CLI reaches them: the system's `ssh` runs
//! `docker system dial-stdio` on the engine's machine, so the user's ssh config, agent and
//! known_hosts apply and devdb holds no key. One ssh connection (a ControlMaster in a private
//! temp folder) carries every API connection; bollard speaks HTTP to a Unix socket in that
//! folder, each connection to which is one multiplexed `dial-stdio` session.
//!
//! bollard's own `ssh` feature starts a new master for every HTTP connection and reports
//! ssh's failures without its stderr, hence this small transport. `DEVDB_SSH_COMMAND` (as
//! git's GIT_SSH_COMMAND) replaces `ssh`, e.g. `ssh -F ./ssh_config`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::UnixListener;
use tokio::process::{Child, Command};

use super::DockerError;
use crate::shell::Shell;

/// How long ssh may take to connect and authenticate.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// A running ssh connection to the engine's machine; dropping it ends ssh and removes the
/// folder (control socket, API socket).
pub struct SshTransport {
    dir: tempfile::TempDir,
    _master: Child,
    proxy: tokio::task::JoinHandle<()>,
}

impl Drop for SshTransport {
    fn drop(&mut self) {
        self.proxy.abort();
    }
}

impl SshTransport {
    /// The Unix socket bollard connects to.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("docker.sock")
    }
}

/// The parts of `ssh://[user@]host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl SshTarget {
    pub fn parse(url: &str) -> Result<SshTarget, String> {
        let rest = url
            .strip_prefix("ssh://")
            .ok_or_else(|| format!("`{url}` does not start with ssh://"))?;
        if rest.contains('/') && !rest.ends_with('/') {
            return Err(format!(
                "`{url}` has a path; an ssh engine is ssh://[user@]host[:port] (the remote \
                 `docker` finds its engine itself)"
            ));
        }
        let rest = rest.trim_end_matches('/');
        let (user, authority) = match rest.rsplit_once('@') {
            Some((user, authority)) => (Some(user.to_string()), authority),
            None => (None, rest),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => {
                let port = port
                    .parse()
                    .map_err(|_| format!("`{url}`: `{port}` is not a port"))?;
                (host, Some(port))
            }
            _ => (authority, None),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("`{url}` names no host"));
        }
        Ok(SshTarget {
            user,
            host: host.to_string(),
            port,
        })
    }

    /// The command line for `remote` (none: the master's own session) over `control`.
    fn command(&self, control: &std::path::Path, master: bool, remote: &[&str]) -> Vec<String> {
        let mut args = ssh_program();
        args.push("-o".into());
        args.push(format!("ControlPath={}", control.display()));
        if master {
            args.extend(["-o", "ControlMaster=yes", "-o", "ControlPersist=no"].map(String::from));
        } else {
            args.extend(["-o", "ControlMaster=no"].map(String::from));
        }
        if let Some(user) = &self.user {
            args.extend(["-l".to_string(), user.clone()]);
        }
        if let Some(port) = self.port {
            args.extend(["-p".to_string(), port.to_string()]);
        }
        args.push("--".into());
        args.push(self.host.clone());
        args.extend(remote.iter().map(|s| s.to_string()));
        args
    }
}

/// `ssh`, or the words of DEVDB_SSH_COMMAND.
fn ssh_program() -> Vec<String> {
    std::env::var("DEVDB_SSH_COMMAND")
        .ok()
        .map(|c| c.split_whitespace().map(String::from).collect::<Vec<_>>())
        .filter(|words| !words.is_empty())
        .unwrap_or_else(|| vec!["ssh".to_string()])
}

/// A new ssh connection to the engine's machine of `url` (the engine handle owns it).
pub async fn open(url: &str, shell: &Shell) -> Result<SshTransport, DockerError> {
    let target = SshTarget::parse(url).map_err(|reason| DockerError::Ssh {
        host: url.to_string(),
        command: String::new(),
        reason,
    })?;
    start(url, &target, shell).await
}

async fn start(url: &str, target: &SshTarget, shell: &Shell) -> Result<SshTransport, DockerError> {
    let dir = tempfile::Builder::new()
        .prefix("devdb-ssh-")
        .tempdir()
        .map_err(|e| ssh_error(url, "", format!("cannot create a temp folder: {e}")))?;
    let control = dir.path().join("cm");
    // The master's own session reads stdin until devdb ends, so ssh ends with devdb even when
    // devdb is killed.
    let args = target.command(&control, true, &["cat", ">/dev/null"]);
    let shown = args.join(" ");
    let mut master = Command::new(&args[0])
        .args(&args[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| ssh_error(url, &shown, format!("cannot run {}: {e}", args[0])))?;
    let started = Instant::now();
    while !control.exists() {
        if let Some(status) = master.try_wait().ok().flatten() {
            let mut stderr = String::new();
            if let Some(mut pipe) = master.stderr.take() {
                let _ = pipe.read_to_string(&mut stderr).await;
            }
            return Err(failure(url, &shown, status, &stderr));
        }
        if started.elapsed() > CONNECT_TIMEOUT {
            return Err(ssh_error(
                url,
                &shown,
                format!(
                    "no connection within {} s (a password or passphrase prompt? devdb needs \
                     a key in ssh-agent or one without a passphrase)",
                    CONNECT_TIMEOUT.as_secs()
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let socket = dir.path().join("docker.sock");
    let listener = UnixListener::bind(&socket).map_err(|e| {
        ssh_error(
            url,
            &shown,
            format!("cannot listen on {}: {e}", socket.display()),
        )
    })?;
    let dial = target.command(&control, false, &["docker", "system", "dial-stdio"]);
    let shell = shell.clone();
    let proxy = tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    shell.note(format!("warning: the ssh engine's local socket: {e}"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let dial = dial.clone();
            let shell = shell.clone();
            tokio::spawn(async move {
                if let Err(e) = carry(&dial, stream, &shell).await {
                    shell.note(format!("warning: `{}`: {e}", dial.join(" ")));
                }
            });
        }
    });
    Ok(SshTransport {
        dir,
        _master: master,
        proxy,
    })
}

/// One API connection through one `docker system dial-stdio` session.
async fn carry(
    dial: &[String],
    stream: tokio::net::UnixStream,
    shell: &Shell,
) -> std::io::Result<()> {
    let mut child = Command::new(&dial[0])
        .args(&dial[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let (mut from_api, mut to_api) = stream.into_split();
    let mut stdin = child.stdin.take().expect("piped");
    let mut stdout = child.stdout.take().expect("piped");
    let up = async {
        let _ = tokio::io::copy(&mut from_api, &mut stdin).await;
        drop(stdin);
    };
    let down = async {
        let _ = tokio::io::copy(&mut stdout, &mut to_api).await;
    };
    tokio::join!(up, down);
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr).await;
    }
    let status = child.wait().await?;
    if !status.success() && !stderr.trim().is_empty() {
        shell.note(format!(
            "warning: `{}` failed: {}",
            dial.join(" "),
            last_line(&stderr)
        ));
    }
    Ok(())
}

fn last_line(text: &str) -> &str {
    text.trim().lines().last().unwrap_or_default().trim()
}

fn ssh_error(url: &str, command: &str, reason: String) -> DockerError {
    DockerError::Ssh {
        host: url.to_string(),
        command: command.to_string(),
        reason,
    }
}

/// ssh ended before it connected: a changed host key is its own one-line error, anything else
/// names the command and ssh's words.
fn failure(
    url: &str,
    command: &str,
    status: std::process::ExitStatus,
    stderr: &str,
) -> DockerError {
    if is_host_key_mismatch(stderr) {
        return DockerError::SshHostKey {
            host: url.to_string(),
            name: SshTarget::parse(url).map(|t| t.host).unwrap_or_default(),
        };
    }
    let words = stderr.trim();
    ssh_error(
        url,
        command,
        if words.is_empty() {
            format!("ssh ended ({status}) without saying why")
        } else {
            words.lines().map(str::trim).collect::<Vec<_>>().join(" / ")
        },
    )
}

fn is_host_key_mismatch(stderr: &str) -> bool {
    stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        || stderr.contains("Host key verification failed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_urls() {
        let t = SshTarget::parse("ssh://me@box.example:2222").unwrap();
        assert_eq!(
            t,
            SshTarget {
                user: Some("me".into()),
                host: "box.example".into(),
                port: Some(2222)
            }
        );
        let t = SshTarget::parse("ssh://box").unwrap();
        assert_eq!((t.user, t.host.as_str(), t.port), (None, "box", None));
        let t = SshTarget::parse("ssh://[fd00::1]:22").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("fd00::1", Some(22)));
        assert!(SshTarget::parse("ssh://box/var/run/docker.sock").is_err());
        assert!(SshTarget::parse("ssh://me@").is_err());
        assert!(SshTarget::parse("ssh://box:x").is_err());
    }

    #[test]
    fn host_key_mismatch_is_recognised() {
        assert!(is_host_key_mismatch(
            "@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\nHost key verification failed."
        ));
        assert!(!is_host_key_mismatch("Permission denied (publickey)."));
    }

    #[test]
    fn master_and_session_command_lines() {
        let t = SshTarget::parse("ssh://me@box:2222").unwrap();
        let control = std::path::Path::new("/tmp/x/cm");
        let line = t.command(control, false, &["docker", "system", "dial-stdio"]);
        let tail: Vec<&str> = line
            .iter()
            .rev()
            .take(5)
            .rev()
            .map(String::as_str)
            .collect();
        assert_eq!(tail, ["--", "box", "docker", "system", "dial-stdio"]);
        assert!(line.contains(&"ControlMaster=no".to_string()));
        assert!(line.windows(2).any(|w| w == ["-l", "me"]));
        assert!(line.windows(2).any(|w| w == ["-p", "2222"]));
    }
}
