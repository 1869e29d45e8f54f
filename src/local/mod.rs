//! The local database's lifecycle: containers up (`docker/`, which knows no Postgres) → ready
//! (a real connection, not a health flag) → database created → connections. This is the one
//! place that joins the engine adapter and Postgres.

mod data_mount;

use std::time::{Duration, Instant};

use crate::config::{Config, VolumeMount};
use crate::db::{self, ConnectionInfo, DbError};
use crate::docker::names::container_name;
use crate::docker::{DockerError, Engine, ServiceState, UpOutcome};
use crate::hint::Hint;

/// The port Postgres listens on inside its container.

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error(
        "Postgres in `{container}` did not accept connections within {seconds}s; last error: {last_error}\n  \
         last log lines:\n{logs}"
    )]
    NotReady {
        container: String,
        seconds: u64,
        last_error: String,
        logs: String,
    },
    #[error(
        "container `{container}` stopped (exit code {exit_code}) before Postgres was ready\n  \
         last log lines:\n{logs}"
    )]
    Exited {
        container: String,
        exit_code: i64,
        logs: String,
    },
    #[error(
        "service `{service}` mounts `{volume}` at {target}, but its image `{image}` keeps the data in \
         PGDATA={pgdata}, outside that mount{landing}\n  \
         (PostgreSQL 18+ images keep it in /var/lib/postgresql/<major>/docker and refuse a mount at \
         /var/lib/postgresql/data; 17 and older keep it in /var/lib/postgresql/data)\n  \
         fix: in {file}, change that entry of services.{service}.volumes to `{volume}:{suggested}`, \
         then run `devdb up` again (data an older major wrote there needs pg_upgrade, or a dump and \
         restore)"
    )]
    MisplacedDataMount {
        service: String,
        /// The volume's name (or a bind mount's host path).
        volume: String,
        target: String,
        image: String,
        pgdata: String,
        landing: &'static str,
        suggested: String,
        file: String,
    },
    #[error("service `{service}` has no container yet; run `devdb up` first")]
    NotCreated { service: String },
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl LocalError {
    /// What to do about it, shown apart from the message.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            LocalError::NotReady { .. } => Some(Hint::suggest(
                "raise x-devdb.ready_timeout, or see `devdb logs`",
            )),
            LocalError::Config(e) => e.hint().map(Hint::suggest),
            LocalError::Docker(e) => e.hint(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct UpReport {
    pub services: Vec<UpOutcome>,
    pub connection: ConnectionInfo,
    pub database_created: bool,
}

impl UpReport {
    pub fn changed_nothing(&self) -> bool {
        !self.database_created && self.services.iter().all(UpOutcome::changed_nothing)
    }
}

/// Creates or starts what is missing, waits for Postgres and creates the database.
pub async fn up(engine: &Engine, config: &Config, rebuild: bool) -> Result<UpReport, LocalError> {
    Ok(up_with_session(engine, config, rebuild, true).await?.0)
}

/// Brings the local database up (a no-op in milliseconds when it runs), keeping the session
/// on the maintenance database that readiness was checked with: a command that needs one
/// (`reset`) logs in once, not twice (over a remote engine, each login is a SCRAM exchange
/// and a TLS or tunnel connection). It does not create the project's database: a reset puts
/// one in place itself, under the reset lock that a concurrent `up` waits for.
pub async fn database_with_session(
    engine: &Engine,
    config: &Config,
) -> Result<(ConnectionInfo, tokio_postgres::Client), LocalError> {
    // The reset makes the database itself, under its lock.
    let (report, session) = up_with_session(engine, config, false, false).await?;
    Ok((report.connection, session))
}

async fn up_with_session(
    engine: &Engine,
    config: &Config,
    rebuild: bool,
    create_database: bool,
) -> Result<(UpReport, tokio_postgres::Client), LocalError> {
    config.check_local_port()?;
    let services = engine.start_services(config, rebuild).await?;
    let container = database_container(config);
    let database_changed = services.iter().any(|outcome| {
        outcome.service == config.database_service().name
            && outcome.state != ServiceState::Unchanged
    });
    if database_changed {
        check_data_mount(engine, config, &container).await?;
    }
    let connection = match connection_info(engine, config).await {
        Err(LocalError::NotCreated { .. }) => {
            // No port binding: the container already stopped. Say why.
            fail_if_stopped(engine, config, &container).await?;
            connection_info(engine, config).await?
        }
        other => other?,
    };
    let client = wait_until_ready(engine, config, &connection).await?;
    let note = |text: String| engine.shell.note(text);
    let database_created =
        create_database && db::ensure_database(&client, &connection.database, note).await?;
    let report = UpReport {
        services,
        connection,
        database_created,
    };
    Ok((report, client))
}

/// Brings the local database up (a no-op in milliseconds when it runs) and says how to reach it.
pub async fn database(engine: &Engine, config: &Config) -> Result<ConnectionInfo, LocalError> {
    Ok(up(engine, config, false).await?.connection)
}

/// How to reach the local database (its container must exist).
pub async fn connection_info(
    engine: &Engine,
    config: &Config,
) -> Result<ConnectionInfo, LocalError> {
    config.check_local_port()?;
    let service = config.database_service();
    let reach = engine
        .reach(&database_container(config), service.postgres_port())
        .await?
        .ok_or_else(|| LocalError::NotCreated {
            service: service.name.clone(),
        })?;
    let credentials = config.credentials();
    Ok(ConnectionInfo {
        host: reach.host,
        port: reach.port,
        user: credentials.user,
        password: credentials.password,
        database: credentials.database,
    })
}

/// A tunnel to the database held for a long-lived client (`devdb tunnel`) on `local_port` (0:
/// any free one), for as long as this process runs; None on a local engine, where the
/// published port is on the client already.
pub async fn hold_tunnel(
    engine: &Engine,
    config: &Config,
    local_port: u16,
) -> Result<Option<ConnectionInfo>, LocalError> {
    let mut info = connection_info(engine, config).await?;
    if !engine.endpoint.is_remote() {
        return Ok(None);
    }
    let container = database_container(config);
    let port = config.database_service().postgres_port();
    info.host = "127.0.0.1".to_string();
    info.port = engine.hold_tunnel(&container, port, local_port).await?;
    Ok(Some(info))
}

/// What a long-lived client should use instead of `info`, when `info` is a tunnel that closes
/// with this command.
pub fn short_lived_note(engine: &Engine, info: &ConnectionInfo) -> Option<String> {
    engine.is_tunnel(info.port).then(|| {
        format!(
            "note: the database is on the engine's loopback ({}), so this URL goes through a \
             tunnel that closes when this command ends; for a client that stays (an IDE, psql), \
             run `devdb tunnel` (add --port N for a fixed port) and connect where it says",
            engine.endpoint.host
        )
    })
}

fn database_container(config: &Config) -> String {
    container_name(&config.project, &config.database_service().name)
}

/// Polls until Postgres accepts a real connection; fails early when the container stops.
async fn wait_until_ready(
    engine: &Engine,
    config: &Config,
    connection: &ConnectionInfo,
) -> Result<tokio_postgres::Client, LocalError> {
    let container = database_container(config);
    let timeout = config.ready_timeout();
    let started = Instant::now();
    let maintenance = connection.maintenance();
    let mut last_state_check = Instant::now();
    loop {
        let last_error = match maintenance.connect().await {
            Ok(client) => return Ok(client),
            Err(DbError::Connect { error, .. }) => db::describe(&error),
            Err(other) => other.to_string(),
        };
        if last_state_check.elapsed() >= Duration::from_secs(1) {
            last_state_check = Instant::now();
            fail_if_stopped(engine, config, &container).await?;
        }
        if started.elapsed() >= timeout {
            return Err(LocalError::NotReady {
                seconds: timeout.as_secs(),
                last_error,
                logs: engine.log_tail(&container, 20).await,
                container,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Refuses a data volume that misses PGDATA (see `data_mount`) before waiting for a server that
/// either stops at once (18) or keeps its data where the next recreate loses it (17). Checked
/// when the container was (re)created or started, and when it stopped (an `up` right after a
/// refused one finds the container still on its way out, so unchanged).
async fn check_data_mount(
    engine: &Engine,
    config: &Config,
    container: &str,
) -> Result<(), LocalError> {
    let layout = engine.container_layout(container, "PGDATA").await?;
    let Some(pgdata) = layout.env_value else {
        return Ok(());
    };
    let service = config.database_service();
    let declared: Vec<(String, &str)> = service
        .volumes
        .iter()
        .map(|mount| match mount {
            VolumeMount::Named { name, target, .. } => (name.clone(), target.as_str()),
            VolumeMount::Bind { source, target, .. } => {
                (source.display().to_string(), target.as_str())
            }
        })
        .collect();
    let targets: Vec<&str> = declared.iter().map(|(_, target)| *target).collect();
    let mounts: Vec<&str> = layout.mount_targets.iter().map(String::as_str).collect();
    let Some(found) = data_mount::misplaced(&pgdata, &targets, &mounts) else {
        return Ok(());
    };
    let volume = declared
        .iter()
        .find(|(_, target)| target.trim_end_matches('/') == found.target)
        .map(|(source, _)| source.clone())
        .unwrap_or_default();
    Err(LocalError::MisplacedDataMount {
        service: service.name.clone(),
        volume,
        target: found.target,
        image: layout.image,
        pgdata,
        landing: if found.data_in_anonymous_volume {
            " (it would land in an anonymous volume of the image, which the next recreate loses)"
        } else {
            " (it would land inside the container, which the next recreate loses)"
        },
        suggested: found.suggested_target,
        file: config.file.display().to_string(),
    })
}

/// An `Exited` error with the container's last log lines when it is not running; a misplaced
/// data volume (why an 18 image stops at once) is named instead.
async fn fail_if_stopped(
    engine: &Engine,
    config: &Config,
    container: &str,
) -> Result<(), LocalError> {
    let run = engine.container_run_state(container).await?;
    if run.running {
        return Ok(());
    }
    check_data_mount(engine, config, container).await?;
    Err(LocalError::Exited {
        exit_code: run.exit_code,
        logs: engine.log_tail(container, 20).await,
        container: container.to_string(),
    })
}
