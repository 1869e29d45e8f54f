//! How the client reaches a port a container publishes. On the local engine: 127.0.0.1. On a
//! remote engine, a port published on all interfaces: the engine's host address; a port
//! published on the engine's loopback (`127.0.0.1:5432:5432`, which the Compose file keeps
//! private to that machine): a tunnel through the engine API itself, so nothing is widened.
//!
//! The tunnel is a listener on the client's 127.0.0.1; each connection to it runs a small
//! stdio forwarder (`perl`, which every Debian-based Postgres image has through
//! postgresql-common; busybox `nc` otherwise) as an exec in the container, to the port on the
//! container's own loopback. Starting an exec costs the engine tens of milliseconds, so one
//! forwarder is always started ahead, waiting for its client's first bytes before it dials
//! Postgres: a command's second and later connections find theirs ready. It lives as long as
//! the devdb process (the tokio runtime), so it closes when the command ends; `devdb tunnel`
//! holds one open for long-lived clients.

use std::collections::HashMap;
use std::sync::MutexGuard;

use std::pin::Pin;

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::Docker;
use futures_util::{FutureExt, Stream, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{DockerError, Engine};

/// How the client reaches a published container port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reach {
    pub host: String,
    pub port: u16,
    /// True when `port` is devdb's tunnel, which lives only as long as this process.
    pub tunneled: bool,
}

/// Waits for the client's first bytes (a spare that is never used exits without dialling),
/// then copies between stdin/stdout and 127.0.0.1:$ARGV[0], half-closing towards the server
/// when stdin ends and exiting when the server closes.
const FORWARDER: &str = r#"use IO::Socket::INET; use IO::Select;
binmode STDIN; binmode STDOUT;
sysread(STDIN, my $first, 65536) or exit 0;
my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $ARGV[0], Proto => "tcp")
  or die "cannot connect to 127.0.0.1:$ARGV[0] in the container: $!\n";
binmode $s;
my $sel = IO::Select->new(\*STDIN, $s);
sub put { my ($h, $b) = @_; while (length $b) { my $n = syswrite($h, $b); exit 0 unless defined $n; substr($b, 0, $n) = ""; } }
put($s, $first);
while (1) {
  for my $h ($sel->can_read) {
    my $n = sysread($h, my $b, 65536);
    if (!$n) { exit 0 if $h == $s; shutdown($s, 1); $sel->remove(\*STDIN); next; }
    put($h == $s ? \*STDOUT : $s, $b);
  }
}"#;

const LAUNCHER: &str = "if command -v perl >/dev/null 2>&1; then exec perl -e \"$1\" \"$2\"; fi; \
                        exec nc 127.0.0.1 \"$2\"";

/// An engine's open tunnels: (container, container port) → local port.
pub(super) type Open = HashMap<(String, u16), u16>;

impl Engine {
    /// Where the client reaches `container_port` of `container`; None when the container does
    /// not exist or does not publish it. Opens (or reuses) a tunnel for a loopback mapping on
    /// a remote engine.
    pub async fn reach(
        &self,
        container: &str,
        container_port: u16,
    ) -> Result<Option<Reach>, DockerError> {
        let Some(published) = self.published_port(container, container_port).await? else {
            return Ok(None);
        };
        let host = match self.endpoint.remote_address() {
            None => "127.0.0.1".to_string(),
            Some(_) if is_loopback(&published.address) => {
                if let Some(port) = self.held_elsewhere(container, container_port) {
                    return Ok(Some(Reach {
                        host: "127.0.0.1".to_string(),
                        port,
                        tunneled: false,
                    }));
                }
                let port = self.tunnel(container, container_port, 0).await?;
                return Ok(Some(Reach {
                    host: "127.0.0.1".to_string(),
                    port,
                    tunneled: true,
                }));
            }
            Some(remote) => remote,
        };
        Ok(Some(Reach {
            host,
            port: published.port,
            tunneled: false,
        }))
    }

    /// True when `local_port` is a tunnel of this process (it closes when devdb ends).
    pub fn is_tunnel(&self, local_port: u16) -> bool {
        self.open_tunnels().values().any(|port| *port == local_port)
    }

    /// The port of a tunnel a `devdb tunnel` of this user holds to this container port
    /// (docker/held.rs), which spares this command an exec of its own.
    fn held_elsewhere(&self, container: &str, container_port: u16) -> Option<u16> {
        super::held::find(&self.endpoint.host, container, container_port)
    }

    /// A tunnel as `tunnel` opens it, recorded for the user's other devdb commands to use for
    /// as long as this process runs (`devdb tunnel`).
    pub async fn hold_tunnel(
        &self,
        container: &str,
        container_port: u16,
        local_port: u16,
    ) -> Result<u16, DockerError> {
        self.open(container, container_port, local_port, true).await
    }

    /// A listener on the client's 127.0.0.1 (`local_port`, or any free one for 0) forwarding
    /// each connection to 127.0.0.1:`container_port` inside `container`.
    pub async fn tunnel(
        &self,
        container: &str,
        container_port: u16,
        local_port: u16,
    ) -> Result<u16, DockerError> {
        self.open(container, container_port, local_port, false)
            .await
    }

    async fn open(
        &self,
        container: &str,
        container_port: u16,
        local_port: u16,
        hold: bool,
    ) -> Result<u16, DockerError> {
        let key = (container.to_string(), container_port);
        if local_port == 0 {
            let open = self.open_tunnels().get(&key).copied();
            if let Some(port) = open {
                if hold {
                    self.keep_record(container, container_port, port);
                }
                return Ok(port);
            }
        }
        let listener = TcpListener::bind(("127.0.0.1", local_port))
            .await
            .map_err(|e| DockerError::Tunnel {
                container: container.to_string(),
                reason: format!("cannot listen on 127.0.0.1:{local_port}: {e}"),
            })?;
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        self.open_tunnels().insert(key, port);
        if hold {
            self.keep_record(container, container_port, port);
        }
        // The task keeps the engine (and an ssh engine's connection) for as long as it runs.
        tokio::spawn(serve(
            self.clone(),
            listener,
            container.to_string(),
            container_port,
        ));
        Ok(port)
    }

    /// Records a held tunnel for the user's other commands; the record goes when the last
    /// clone of this engine does (the tunnel's task holds one until the process ends).
    fn keep_record(&self, container: &str, container_port: u16, port: u16) {
        if let Some(record) =
            super::held::record(&self.endpoint.host, container, container_port, port)
        {
            self.held
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(record);
        }
    }
}

/// Hands each client the forwarder started ahead and starts the next one.
async fn serve(engine: Engine, listener: TcpListener, container: String, container_port: u16) {
    let start = || {
        let (docker, container) = (engine.docker.clone(), container.clone());
        tokio::spawn(async move { start_forwarder(&docker, &container, container_port).await })
    };
    let mut spare = start();
    while let Ok((client, _)) = listener.accept().await {
        let ready = std::mem::replace(&mut spare, start());
        let shell = engine.shell.clone();
        let container = container.clone();
        let docker = engine.docker.clone();
        tokio::spawn(async move {
            // A spare that failed or already ended (a held tunnel's, started before the
            // container was recreated or started) is replaced by a fresh one for this client.
            let forwarder = match ready.await {
                Ok(Ok(mut forwarder)) => match forwarder.ended() {
                    false => Ok(forwarder),
                    true => start_forwarder(&docker, &container, container_port).await,
                },
                _ => start_forwarder(&docker, &container, container_port).await,
            };
            let carried = match forwarder {
                Ok(forwarder) => carry(&container, forwarder, client).await,
                Err(e) => Err(e),
            };
            if let Err(e) = carried {
                shell.note(format!("devdb tunnel: {e}"));
            }
        });
    }
}

impl Engine {
    fn open_tunnels(&self) -> MutexGuard<'_, Open> {
        self.tunnels.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// True for a loopback address: only the machine it is said on reaches it.
pub fn is_loopback(address: &str) -> bool {
    address
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
        || address == "localhost"
}

/// A forwarder exec'd in the container, attached, not yet dialling Postgres.
struct Forwarder {
    output: Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>,
    input: Pin<Box<dyn AsyncWrite + Send>>,
}

impl Forwarder {
    /// True when the exec said something or ended before its client wrote a byte: it is not
    /// waiting for one any more (its container stopped, or it failed).
    fn ended(&mut self) -> bool {
        self.output.next().now_or_never().is_some()
    }
}

async fn start_forwarder(
    docker: &Docker,
    container: &str,
    container_port: u16,
) -> Result<Forwarder, DockerError> {
    let port = container_port.to_string();
    let options = CreateExecOptions {
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        tty: Some(false),
        cmd: Some(vec!["sh", "-c", LAUNCHER, "devdb-tunnel", FORWARDER, &port]),
        ..Default::default()
    };
    let exec = docker
        .create_exec(container, options)
        .await
        .map_err(|e| tunnel_error(container, &e))?;
    let start = StartExecOptions {
        detach: false,
        tty: false,
        output_capacity: None,
    };
    match docker
        .start_exec(&exec.id, Some(start))
        .await
        .map_err(|e| tunnel_error(container, &e))?
    {
        StartExecResults::Attached { output, input } => Ok(Forwarder { output, input }),
        StartExecResults::Detached => Err(DockerError::Tunnel {
            container: container.to_string(),
            reason: "the engine did not attach to the forwarder".to_string(),
        }),
    }
}

/// One client connection carried through one forwarder.
async fn carry(
    container: &str,
    forwarder: Forwarder,
    client: TcpStream,
) -> Result<(), DockerError> {
    let Forwarder {
        mut output,
        mut input,
    } = forwarder;
    let (mut from_client, mut to_client) = client.into_split();
    let upstream = async {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            match from_client.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if input.write_all(&buffer[..n]).await.is_err() {
                        break;
                    }
                    let _ = input.flush().await;
                }
            }
        }
    };
    let mut stderr = Vec::new();
    let downstream = async {
        while let Some(Ok(chunk)) = output.next().await {
            match chunk {
                LogOutput::StdOut { message } | LogOutput::Console { message } => {
                    if to_client.write_all(&message).await.is_err() {
                        break;
                    }
                }
                LogOutput::StdErr { message } => stderr.extend_from_slice(&message),
                LogOutput::StdIn { .. } => {}
            }
        }
        let _ = to_client.shutdown().await;
    };
    // Either side ending ends the connection: a client that closes drops the exec (its stdin
    // ends, the forwarder half-closes towards Postgres and exits); a server that closes ends
    // the exec's output.
    tokio::select! {
        _ = upstream => {}
        _ = downstream => {}
    }
    if stderr.is_empty() {
        Ok(())
    } else {
        Err(DockerError::Tunnel {
            container: container.to_string(),
            reason: String::from_utf8_lossy(&stderr).trim().to_string(),
        })
    }
}

fn tunnel_error(container: &str, error: &bollard::errors::Error) -> DockerError {
    DockerError::Tunnel {
        container: container.to_string(),
        reason: format!("{error}: {}", super::connect::root_cause(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses() {
        assert!(is_loopback("127.0.0.1"));
        assert!(is_loopback("::1"));
        assert!(is_loopback("localhost"));
        assert!(!is_loopback(""));
        assert!(!is_loopback("0.0.0.0"));
        assert!(!is_loopback("10.1.2.3"));
    }
}
