//! The Docker engine adapter: everything devdb does to containers goes through the Docker API
//! (bollard), never through the `docker` command. It knows containers, images, networks and
//! volumes, not Postgres (`local/` joins the two).

mod connect;
mod container;
mod exec;
mod held;
mod image;
mod lock;
pub mod names;
mod oneshot;
mod project;
mod ssh;
mod transport;
mod tunnel;

use std::sync::{Arc, Mutex};

use bollard::Docker;

use crate::hint::Hint;
use crate::shell::Shell;

pub use connect::{resolve_endpoint, Endpoint, TlsFiles};
pub use container::{config_hash, ServiceState};
pub use exec::ExecOutput;
pub use oneshot::{Job, JobOutput, PublishedBy};
pub use project::{ContainerLayout, Published, RunState, ServiceStatus, UpOutcome};
pub use tunnel::{is_loopback, Reach};

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("cannot reach a Docker engine at {host} (from {source_desc}): {reason}")]
    NoEngine {
        host: String,
        source_desc: String,
        reason: String,
        hint: String,
    },
    #[error("Docker context `{context}` (from {why}): {reason}")]
    BadContext {
        context: String,
        why: String,
        reason: String,
    },
    #[error("cannot reach the Docker engine at {host} over ssh: {reason}\n  command: {command}")]
    Ssh {
        host: String,
        command: String,
        reason: String,
    },
    #[error(
        "the ssh host key of {host} does not match your known_hosts (the machine was reinstalled, \
         or this is another one): if you trust the change, run `ssh-keygen -R {name}`, then `ssh \
         {name}` once to accept the new key"
    )]
    SshHostKey { host: String, name: String },
    #[error("cannot use TLS for the Docker engine at {host}: {reason}")]
    TlsFiles {
        host: String,
        reason: String,
        fix: String,
    },
    #[error("cannot pull image `{image}` for service `{service}`: {reason}")]
    Pull {
        image: String,
        service: String,
        reason: String,
    },
    #[error(
        "image `{image}` of service `{service}` is not on the engine at {host}, which cannot pull \
         it: {reason}"
    )]
    NotOnEngine {
        image: String,
        service: String,
        host: String,
        reason: String,
    },
    #[error("building image `{image}` for service `{service}` from {context} failed: {reason}")]
    Build {
        image: String,
        service: String,
        context: String,
        reason: String,
    },
    #[error(
        "port {port} on 127.0.0.1 is already in use, so service `{service}` cannot publish it"
    )]
    PortInUse {
        port: u16,
        service: String,
        file: String,
        suggested: u16,
    },
    #[error("the {service} job failed with exit code {exit_code}; its last output:\n{stderr}")]
    JobFailed {
        service: String,
        exit_code: i64,
        stderr: String,
    },
    #[error(
        "{file} has no service `{service}` (x-devdb.copy_service names the db-copy job's service)"
    )]
    UnknownService { service: String, file: String },
    #[error("interrupted; the {job} job was stopped and removed")]
    Interrupted { job: String },
    #[error("db-copy job: {0}")]
    Job(String),
    #[error(
        "no image with PostgreSQL {major}'s pg_dump for the built-in db-copy job: `{base}` {reason}"
    )]
    NoCopyImage {
        major: u32,
        base: String,
        reason: String,
    },
    #[error("the tunnel to the database in `{container}` failed: {reason}")]
    Tunnel { container: String, reason: String },
    #[error("service `{service}` has no container yet; run `devdb up` first")]
    NotCreated { service: String },
    #[error(
        "{what} is at 127.0.0.1:{port} on this machine, but the db-copy job runs on the engine at \
         {host}, whose 127.0.0.1 is its own machine; nothing was changed"
    )]
    ClientLoopback {
        what: String,
        port: u16,
        host: String,
        ways_out: String,
    },
    #[error("{action}: {source}")]
    Api {
        action: String,
        source: bollard::errors::Error,
    },
}

impl DockerError {
    /// What to do about it, shown apart from the message.
    pub fn hint(&self) -> Option<Hint> {
        let text = match self {
            DockerError::NoEngine { hint, .. } => hint.clone(),
            DockerError::BadContext { .. } => {
                "see `docker context ls`, or `docker context use default` for the local engine".into()
            }
            DockerError::Ssh { .. } => "check that this ssh command works without a prompt (a key \
                 in ssh-agent, ~/.ssh/config) and that `docker` runs on that machine"
                .into(),
            DockerError::TlsFiles { fix, .. } => fix.clone(),
            DockerError::Pull { service, .. } => format!(
                "check the image name and your registry access (`docker login`), or set `image:` \
                 of service `{service}` to an image that exists locally (see `docker images`)"
            ),
            DockerError::NotOnEngine { image, host, .. } => format!(
                "an image built or pulled on this machine exists only here; copy it to the engine \
                 with `docker save {image} | docker -H {host} load` (DOCKER_HOST/TLS or the context \
                 as for devdb), or push it to a registry the engine reaches"
            ),
            DockerError::PortInUse {
                service,
                file,
                suggested,
                ..
            } => format!(
                "stop what listens there, or change the host port in `ports:` of service \
                 `{service}` in {file} (e.g. \"${{DEVDB_PORT:-{suggested}}}:5432\", then \
                 DEVDB_PORT={suggested} devdb up)"
            ),
            DockerError::NoCopyImage { major, .. } => format!(
                "set DEVDB_POSTGRES_IMAGE_{major} (or x-devdb.copy_image, `{{major}}` standing for \
                 the version) to a local image that has PostgreSQL {major}'s client tools, or add \
                 a `db_copy` service to the Compose file"
            ),
            DockerError::ClientLoopback { ways_out, .. } => ways_out.clone(),
            DockerError::Tunnel { .. } => {
                "the container must run and have perl or nc; `devdb logs` shows its log".into()
            }
            _ => return None,
        };
        Some(Hint::suggest(text))
    }

    fn api(action: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> DockerError {
        let action = action.into();
        move |source| DockerError::Api { action, source }
    }
}

/// A connection to the Docker engine.
#[derive(Clone)]
pub struct Engine {
    pub docker: Docker,
    pub endpoint: Endpoint,
    /// Where pulls, builds and jobs report progress.
    pub shell: Shell,
    /// The ssh connection an `ssh://` engine is reached through, kept while this engine (or a
    /// tunnel of it) lives. Held, never read.
    #[allow(dead_code)]
    transport: Option<Arc<ssh::SshTransport>>,
    /// The tunnels this engine opened (docker/tunnel.rs), shared by its clones.
    tunnels: Arc<Mutex<tunnel::Open>>,
    /// The published ports of containers `up` found running unchanged, from its listing
    /// (docker/project.rs): a warm `up` needs no inspect to learn where the database is.
    listed_ports: Arc<Mutex<project::ListedPorts>>,
    /// The records of the tunnels this process holds for others (docker/held.rs).
    held: Arc<Mutex<Vec<held::HeldRecord>>>,
}

impl Engine {
    /// Connects to the engine `host_flag` (`--host`) names, else the one the environment or the
    /// Docker context does (docker/connect.rs).
    pub async fn connect(shell: &Shell, host_flag: Option<&str>) -> Result<Engine, DockerError> {
        let (docker, endpoint, transport) = connect::connect(shell, host_flag).await?;
        Ok(Engine {
            docker,
            endpoint,
            shell: shell.clone(),
            transport,
            tunnels: Arc::default(),
            listed_ports: Arc::default(),
            held: Arc::default(),
        })
    }
}

/// True when the engine answered 404 (no such container/image/network/volume).
fn is_not_found(error: &bollard::errors::Error) -> bool {
    matches!(
        error,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}
