//! Connecting to Postgres: the local database, remote stages, and descriptions of both built
//! from typed fields (a password is never part of a printed string).

pub mod command;
pub mod conninfo;
pub mod stage;

use std::fmt;
use std::time::Duration;

use tokio_postgres::{Client, NoTls};

use crate::config::Secret;
use crate::hint::Hint;

/// Connect and login to the local database together may take this long.
const LOCAL_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot connect to {target}: {}", describe(error))]
    Connect {
        target: String,
        error: tokio_postgres::Error,
    },
    #[error("stage {stage}: {message}")]
    Stage { stage: String, message: String },
    #[error("{action}: {}", describe(error))]
    Query {
        action: String,
        error: tokio_postgres::Error,
    },
}

/// Where a local Postgres listens and how to log in.
#[derive(Clone)]
pub struct ConnectionInfo {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Secret,
    pub database: String,
}

impl fmt::Debug for ConnectionInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted_url())
    }
}

impl ConnectionInfo {
    /// The full URL, password included: only for `devdb url`, which the user asks for.
    pub fn url(&self) -> String {
        format!(
            "postgres://{}:{}@{}:{}/{}",
            encode(&self.user),
            encode(self.password.expose()),
            self.host,
            self.port,
            encode(&self.database)
        )
    }

    /// The URL with `***` for the password, built from the fields (not by editing `url()`).
    pub fn redacted_url(&self) -> String {
        format!(
            "postgres://{}:***@{}:{}/{}",
            encode(&self.user),
            self.host,
            self.port,
            encode(&self.database)
        )
    }

    /// The same server's maintenance database (see [`maintenance_database`]), for dropping,
    /// creating and templating the project's database.
    pub fn maintenance(&self) -> ConnectionInfo {
        self.with_database(maintenance_database(&self.database))
    }

    pub fn with_database(&self, database: &str) -> ConnectionInfo {
        ConnectionInfo {
            database: database.to_string(),
            ..self.clone()
        }
    }

    pub fn pg_config(&self) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .host(&self.host)
            .port(self.port)
            .user(&self.user)
            .password(self.password.expose())
            .dbname(&self.database)
            .application_name("devdb")
            .connect_timeout(Duration::from_secs(5));
        config
    }

    /// Connects without TLS: the local database is only reachable on 127.0.0.1.
    pub async fn connect(&self) -> Result<Client, DbError> {
        self.connect_as("devdb").await
    }

    /// `connect` under another application_name, so a session tells what opened it
    /// (pg_stat_activity, the server log): `devdb spares` for the background job.
    pub async fn connect_as(&self, application_name: &str) -> Result<Client, DbError> {
        // tokio-postgres bounds only the TCP connect; a port that accepts and never answers
        // must not hang devdb either.
        let mut config = self.pg_config();
        config.application_name(application_name);
        let (client, connection) =
            tokio::time::timeout(LOCAL_CONNECT_TIMEOUT, config.connect(NoTls))
                .await
                .map_err(|_| DbError::Stage {
                    stage: stage::LOCAL_STAGE.to_string(),
                    message: format!(
                        "{} did not answer within {} s; see `devdb status` and `devdb logs`",
                        self.redacted_url(),
                        LOCAL_CONNECT_TIMEOUT.as_secs()
                    ),
                })?
                .map_err(|error| DbError::Connect {
                    target: self.redacted_url(),
                    error,
                })?;
        tokio::spawn(async move {
            // The error surfaces on the next query; nothing to do with it here.
            let _ = connection.await;
        });
        Ok(client)
    }
}

/// The database to hold admin sessions in while `target` is dropped, renamed or copied: Postgres
/// refuses those while a session is open on `target`, so when the project's database is
/// `postgres` itself (the official image's default) devdb uses `template1`, which always exists.
pub fn maintenance_database(target: &str) -> &'static str {
    if target == "postgres" {
        "template1"
    } else {
        "postgres"
    }
}

/// The advisory lock (of the maintenance database) a reset of `database` holds from start to
/// end, while the database is renamed aside and its replacement put in place. A literal, not a
/// parameter: one round trip (a parameter prepares first), which counts over a remote link.
fn reset_lock(database: &str) -> String {
    format!(
        "hashtext({})",
        quote_literal(&format!("devdb reset {database}"))
    )
}

/// Takes the reset lock of `database` in `client`'s session (held until released or the
/// session ends); `waiting` is told first when another session holds it.
pub async fn take_reset_lock(
    client: &Client,
    database: &str,
    waiting: impl FnOnce(),
) -> Result<(), DbError> {
    let lock = reset_lock(database);
    let try_lock = format!("SELECT pg_try_advisory_lock({lock})");
    if !lock_query(client, &try_lock, "taking the reset lock").await? {
        waiting();
        let wait = format!("SELECT pg_advisory_lock({lock})");
        lock_query(client, &wait, "waiting for the other reset").await?;
    }
    Ok(())
}

/// Creates `database` when it does not exist. `client` is on the maintenance database;
/// `note` is handed what to tell the user when a running reset must end first.
pub async fn ensure_database(
    client: &Client,
    database: &str,
    note: impl FnOnce(String),
) -> Result<bool, DbError> {
    if database_exists(client, database).await? {
        return Ok(false);
    }
    // Missing may mean a reset has it renamed aside: an empty database made now would take
    // the name the reset is about to put its copy under. Wait for any reset to end, then look
    // again (the lock is free and instant when no reset runs).
    take_reset_lock(client, database, || {
        note(format!(
            "a reset of database {database} is running; waiting for it to finish"
        ))
    })
    .await?;
    let created = match database_exists(client, database).await {
        Ok(true) => Ok(false),
        Ok(false) => create_database(client, database).await,
        Err(error) => Err(error),
    };
    let unlock = format!("SELECT pg_advisory_unlock({})", reset_lock(database));
    lock_query(client, &unlock, "releasing the reset lock").await?;
    created
}

/// Runs a one-value lock query; true when it answered `t`.
async fn lock_query(client: &Client, sql: &str, action: &str) -> Result<bool, DbError> {
    let messages = client
        .simple_query(sql)
        .await
        .map_err(|error| DbError::Query {
            action: action.to_string(),
            error,
        })?;
    Ok(messages.iter().any(|message| match message {
        tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0) == Some("t"),
        _ => false,
    }))
}

async fn database_exists(client: &Client, database: &str) -> Result<bool, DbError> {
    // One round trip (a parameter would prepare first: two), which a remote engine's link
    // or tunnel makes worth saving on every `up`.
    let lookup = format!(
        "SELECT 1 FROM pg_database WHERE datname = {}",
        quote_literal(database)
    );
    Ok(client
        .simple_query(&lookup)
        .await
        .map_err(|error| DbError::Query {
            action: format!("looking up database {database}"),
            error,
        })?
        .iter()
        .any(|message| matches!(message, tokio_postgres::SimpleQueryMessage::Row(_))))
}

async fn create_database(client: &Client, database: &str) -> Result<bool, DbError> {
    match client
        .batch_execute(&format!("CREATE DATABASE {}", quote_ident(database)))
        .await
    {
        Ok(()) => Ok(true),
        // A concurrent `up` created it between the check and the CREATE.
        Err(error)
            if error.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE)
                || error.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) =>
        {
            Ok(false)
        }
        Err(error) => Err(DbError::Query {
            action: format!("creating database {database}"),
            error,
        }),
    }
}

/// Postgres's own HINT of an error, as the next step of the devdb error that wraps it.
pub fn postgres_hint(error: &tokio_postgres::Error) -> Option<Hint> {
    error.as_db_error()?.hint().map(Hint::suggest)
}

impl DbError {
    pub fn hint(&self) -> Option<Hint> {
        match self {
            DbError::Connect { error, .. } | DbError::Query { error, .. } => postgres_hint(error),
            DbError::Stage { .. } => None,
        }
    }
}

/// A Postgres error as a user needs it: SQLSTATE, message and detail, or the underlying I/O
/// cause (tokio-postgres's own Display says only "db error"). Its hint is [`postgres_hint`].
pub fn describe(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        let mut text = format!("{}: {}", db.code().code(), db.message());
        if let Some(detail) = db.detail() {
            text.push_str(&format!(" ({detail})"));
        }
        // Its HINT is the error's hint (`postgres_hint`), shown apart from the message.
        return text;
    }
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        text.push_str(&format!(": {inner}"));
        cause = inner.source();
    }
    text
}

/// `name` as a quoted SQL identifier (postgres_protocol's escaping, as libpq's).
pub fn quote_ident(name: &str) -> String {
    postgres_protocol::escape::escape_identifier(name)
}

/// `value` as a SQL string literal (postgres_protocol's escaping: `E'...'` when it holds `\`).
pub fn quote_literal(value: &str) -> String {
    postgres_protocol::escape::escape_literal(value)
}

fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encodes_and_redacts() {
        let info = ConnectionInfo {
            host: "127.0.0.1".into(),
            port: 5432,
            user: "app".into(),
            password: Secret::new("p@ss:w/rd"),
            database: "app".into(),
        };
        assert_eq!(
            info.url(),
            "postgres://app:p%40ss%3Aw%2Frd@127.0.0.1:5432/app"
        );
        assert_eq!(info.redacted_url(), "postgres://app:***@127.0.0.1:5432/app");
        assert!(!format!("{info:?}").contains("p%40ss"));
    }
}
