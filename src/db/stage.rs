//! Remote stages (`x-devdb.stages`): where their URL comes from, and connecting with TLS as the
//! URL or the stage config asks, the way libpq users write it (`sslmode=verify-full`,
//! `sslrootcert=...`, which tokio-postgres does not accept as is).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_postgres::Client;

use super::{conninfo, DbError};
use crate::config::{Config, SslMode, StageSettings};

/// The name that always means the local database.
pub const LOCAL_STAGE: &str = "DEV";

/// How long connect, TLS handshake and login may take together unless the URL's
/// `connect_timeout` says otherwise (libpq waits forever; a hung stage must not hang devdb).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a `url_command` may run before devdb stops it.
pub const URL_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a stage listens, split up; `password` is secret (no `Debug` on purpose).
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub database: String,
}

/// A client certificate and its key (libpq's `sslcert` / `sslkey`).
struct ClientCert {
    cert: PathBuf,
    key: PathBuf,
}

/// A resolved stage: its URL parsed once into typed settings, and how to reach it. The URL's
/// text is not kept, so it cannot be printed.
pub struct Stage {
    pub name: String,
    config: tokio_postgres::Config,
    pub sslmode: SslMode,
    pub root_cert: Option<PathBuf>,
    client_cert: Option<ClientCert>,
    /// What the user should know about how the stage is reached (printed by the caller, once).
    pub warnings: Vec<String>,
}

impl std::fmt::Debug for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Stage {} ({})", self.name, self.describe())
    }
}

impl Stage {
    /// Reads the stage's URL from its environment variable or command and parses it.
    pub async fn resolve(config: &Config, name: &str) -> Result<Stage, DbError> {
        let settings = lookup(config, name)?;
        let error = |message: String| DbError::Stage {
            stage: name.to_string(),
            message,
        };
        let (text, source) = match (&settings.url_env, &settings.url_command) {
            (Some(variable), _) => (
                config
                    .variable(variable)
                    .filter(|v| !v.is_empty())
                    .map(str::to_string)
                    .ok_or_else(|| error(format!("the environment variable {variable} (x-devdb.stages.{name}.url_env) is not set")))?,
                format!("the environment variable {variable}"),
            ),
            (None, Some(command)) => (
                run_url_command(name, command, config.root()).await?,
                format!("url_command `{command}`"),
            ),
            (None, None) => unreachable!("config validation requires url_env or url_command"),
        };
        let parsed = conninfo::parse(&text).map_err(|message| {
            error(format!(
                "the URL from {source} is not a valid Postgres connection string: {message}"
            ))
        })?;
        drop(text);
        if parsed.tls.sslpassword_given {
            return Err(error(
                "sslpassword (an encrypted client key) is not supported; give an unencrypted \
                 key file (chmod 600) as sslkey"
                    .to_string(),
            ));
        }
        let client_cert = match (parsed.tls.sslcert, parsed.tls.sslkey) {
            (Some(cert), Some(key)) => Some(ClientCert {
                cert: cert.into(),
                key: key.into(),
            }),
            (None, None) => None,
            _ => {
                return Err(error(
                    "sslcert and sslkey go together: give both (PEM files) or neither".to_string(),
                ))
            }
        };
        let root_cert = settings
            .ca_file
            .as_ref()
            .map(|f| config.dir().join(f))
            .or(parsed.tls.sslrootcert.map(PathBuf::from));
        let explicit = match settings.sslmode {
            Some(mode) => Some(mode),
            None => parsed
                .tls
                .sslmode
                .as_deref()
                .map(|mode| parse_sslmode(mode).map_err(error))
                .transpose()?,
        };
        let sslmode = effective_sslmode(
            explicit,
            root_cert.is_some(),
            conninfo::all_hosts_local(&parsed.config),
        );
        let mut warnings = Vec::new();
        if explicit.is_none() && sslmode == SslMode::Require {
            warnings.push(format!(
                "warning: stage {name}: no sslmode given for a remote host, so devdb uses `require` \
                 (encrypted, certificate not checked); set `sslmode: verify-full` in x-devdb.stages.{name}"
            ));
        }
        Ok(Stage {
            name: name.to_string(),
            config: parsed.config,
            sslmode,
            root_cert,
            client_cert,
            warnings,
        })
    }

    /// `user@host:port/database, sslmode MODE`, for plans and messages; never the password.
    pub fn describe(&self) -> String {
        format!(
            "{}, sslmode {}",
            conninfo::describe(&self.config),
            sslmode_name(self.sslmode)
        )
    }

    /// The parts a libpq client (pg_dump in the db-copy container) needs.
    pub fn endpoint(&self) -> Result<Endpoint, DbError> {
        let config = &self.config;
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(name)) => name.clone(),
            _ => {
                return Err(DbError::Stage {
                    stage: self.name.clone(),
                    message: "a TCP host is needed to reach it from a container".to_string(),
                })
            }
        };
        Ok(Endpoint {
            host,
            port: config.get_ports().first().copied().unwrap_or(5432),
            user: config.get_user().unwrap_or("postgres").to_string(),
            password: config
                .get_password()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .unwrap_or_default(),
            database: config
                .get_dbname()
                .unwrap_or(config.get_user().unwrap_or("postgres"))
                .to_string(),
        })
    }

    /// Connect, TLS handshake and login together may take this long (`connect_timeout`).
    pub fn connect_timeout(&self) -> Duration {
        self.config
            .get_connect_timeout()
            .copied()
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT)
    }

    /// Connects; `read_only` sets `default_transaction_read_only` for the whole session.
    pub async fn connect(&self, read_only: bool) -> Result<Client, DbError> {
        let mut config = self.config.clone();
        config.application_name("devdb");
        config.connect_timeout(self.connect_timeout());
        config.ssl_mode(match self.sslmode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        });
        if read_only {
            config.options("-c default_transaction_read_only=on");
        }
        let connector = tokio_postgres_rustls::MakeRustlsConnect::new(self.tls_config()?);
        let timeout = self.connect_timeout();
        let (client, connection) =
            match tokio::time::timeout(timeout, config.connect(connector)).await {
                Ok(connected) => connected.map_err(|error| DbError::Connect {
                    target: format!("stage {} ({})", self.name, self.describe()),
                    error,
                })?,
                Err(_) => {
                    return Err(DbError::Stage {
                        stage: self.name.clone(),
                        message: format!(
                    "{} did not finish connecting, TLS and login within {} s; check the host and \
                             port, or raise connect_timeout in its URL",
                    conninfo::describe(&self.config),
                    timeout.as_secs()
                ),
                    })
                }
            };
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    /// Refuses a stage that is the local database itself: copying would TRUNCATE a table behind
    /// its own open COPY and wait forever on its own lock. Only the same server can see the
    /// local session: a random `application_name` set on it is looked up in the stage's
    /// `pg_stat_activity` (visible to every role). Clones and servers started from one image
    /// share their system identifier and oids, so those prove nothing.
    pub async fn refuse_if_local(&self, stage: &Client, local: &Client) -> Result<(), DbError> {
        let token = format!("devdb-self-check-{}", uuid::Uuid::new_v4().simple());
        let query = |action: &'static str| {
            move |error| DbError::Query {
                action: action.to_string(),
                error,
            }
        };
        local
            .batch_execute(&format!("SET application_name = '{token}'"))
            .await
            .map_err(query("marking the local session"))?;
        let seen = stage
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE application_name = $1 AND datname = current_database()",
                &[&token],
            )
            .await
            .map_err(query("looking for the local session on the stage"))?
            .get::<_, i64>(0);
        if seen > 0 {
            return Err(self.stage_error(format!(
                "its URL ({}) points at the local database itself; point x-devdb.stages.{} at \
                 the stage's server",
                conninfo::describe(&self.config),
                self.name
            )));
        }
        Ok(())
    }

    fn stage_error(&self, message: String) -> DbError {
        DbError::Stage {
            stage: self.name.clone(),
            message,
        }
    }

    fn tls_config(&self) -> Result<rustls::ClientConfig, DbError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| self.stage_error(format!("TLS setup: {e}")))?;
        let builder = match self.sslmode {
            SslMode::VerifyCa | SslMode::VerifyFull => {
                let verifier = WebPkiServerVerifier::builder_with_provider(
                    Arc::new(self.root_store()?),
                    provider,
                )
                .build()
                .map_err(|e| self.stage_error(format!("TLS setup: {e}")))?;
                if self.sslmode == SslMode::VerifyCa {
                    builder
                        .dangerous()
                        .with_custom_certificate_verifier(Arc::new(ChainOnly(verifier)))
                } else {
                    builder.with_webpki_verifier(verifier)
                }
            }
            // libpq's `require` encrypts without checking the certificate; so does devdb.
            _ => builder
                .dangerous()
                .with_custom_certificate_verifier(crate::tls::EncryptOnly::new(&provider)),
        };
        match &self.client_cert {
            None => Ok(builder.with_no_client_auth()),
            Some(client) => {
                let chain = read_pem_certs(&client.cert).map_err(|m| self.stage_error(m))?;
                let key = PrivateKeyDer::from_pem_file(&client.key).map_err(|e| {
                    self.stage_error(format!(
                        "cannot read the client key {} (sslkey; an unencrypted PEM key): {e}",
                        client.key.display()
                    ))
                })?;
                builder.with_client_auth_cert(chain, key).map_err(|e| {
                    self.stage_error(format!(
                        "the client certificate {} and key {} do not form a usable pair: {e}",
                        client.cert.display(),
                        client.key.display()
                    ))
                })
            }
        }
    }

    /// The CA bundle when one is given (only it, as libpq's `sslrootcert`), else the operating
    /// system's trust store (falling back to the public web roots where the system has none).
    fn root_store(&self) -> Result<RootCertStore, DbError> {
        let mut roots = RootCertStore::empty();
        if let Some(path) = &self.root_cert {
            for cert in read_pem_certs(path).map_err(|m| self.stage_error(m))? {
                roots.add(cert).map_err(|e| {
                    self.stage_error(format!(
                        "a certificate in {} is unusable: {e}",
                        path.display()
                    ))
                })?;
            }
            return Ok(roots);
        }
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
        if roots.is_empty() {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        Ok(roots)
    }
}

fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path)
        .map_err(|e| format!("cannot read the CA bundle {}: {e}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{} is not PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(certs)
}

fn parse_sslmode(mode: &str) -> Result<SslMode, String> {
    Ok(match mode {
        "disable" => SslMode::Disable,
        "allow" | "prefer" => SslMode::Prefer,
        "require" => SslMode::Require,
        "verify-ca" => SslMode::VerifyCa,
        "verify-full" => SslMode::VerifyFull,
        other => {
            return Err(format!(
            "sslmode={other} is not one of disable, allow, prefer, require, verify-ca, verify-full"
        ))
        }
    })
}

/// libpq's rules, made safe for remote stages: nothing given means `prefer` only for this
/// machine and `require` otherwise (no silent plaintext to PROD); `require` with a CA given
/// checks the chain, as libpq does when a root certificate is present.
fn effective_sslmode(explicit: Option<SslMode>, has_ca: bool, local: bool) -> SslMode {
    match explicit {
        None if local => SslMode::Prefer,
        None | Some(SslMode::Require) if has_ca => SslMode::VerifyCa,
        None => SslMode::Require,
        Some(mode) => mode,
    }
}

pub fn sslmode_name(mode: SslMode) -> &'static str {
    match mode {
        SslMode::Disable => "disable",
        SslMode::Prefer => "prefer",
        SslMode::Require => "require",
        SslMode::VerifyCa => "verify-ca",
        SslMode::VerifyFull => "verify-full",
    }
}

fn lookup<'a>(config: &'a Config, name: &str) -> Result<&'a StageSettings, DbError> {
    config.settings.stages.get(name).ok_or_else(|| {
        let known: Vec<&str> = config.settings.stages.keys().map(String::as_str).collect();
        DbError::Stage {
            stage: name.to_string(),
            message: format!(
                "no such stage in x-devdb.stages of {} (defined: {}; `{LOCAL_STAGE}` is the local database)",
                config.file.display(),
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            ),
        }
    })
}

/// Runs `url_command` with `sh -c` in the project root, bounded by [`URL_COMMAND_TIMEOUT`]; on
/// a timeout the whole process group is killed and what it wrote to stderr is shown.
async fn run_url_command(stage: &str, command: &str, root: &Path) -> Result<String, DbError> {
    let error = |message: String| DbError::Stage {
        stage: stage.to_string(),
        message,
    };
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(root)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| error(format!("cannot run url_command `{command}`: {e}")))?;
    let stdout = Pipe::collect(child.stdout.take());
    let stderr = Pipe::collect(child.stderr.take());
    let status = match tokio::time::timeout(URL_COMMAND_TIMEOUT, child.wait()).await {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => return Err(error(format!("waiting for url_command `{command}`: {e}"))),
        Err(_) => {
            // The group devdb created for it: `sh` and whatever it started.
            if let Some(group) = child
                .id()
                .and_then(|id| rustix::process::Pid::from_raw(id as i32))
            {
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            }
            let _ = child.wait().await;
            return Err(error(format!(
                "url_command `{command}` (run in {}) did not finish within {} s and was stopped; \
                 its stderr: {}",
                root.display(),
                URL_COMMAND_TIMEOUT.as_secs(),
                shown(&stderr.drained().await)
            )));
        }
    };
    let (stdout, stderr) = (stdout.drained().await, stderr.drained().await);
    if !status.success() {
        return Err(error(format!(
            "url_command `{command}` (run in {}) failed ({status}): {}",
            root.display(),
            shown(&stderr)
        )));
    }
    let url = String::from_utf8_lossy(&stdout).trim().to_string();
    if url.is_empty() {
        return Err(error(format!("url_command `{command}` printed nothing")));
    }
    Ok(url)
}

/// A pipe read to its end by a task, so a timeout can still show what arrived.
struct Pipe {
    buffer: Arc<Mutex<Vec<u8>>>,
    reader: Option<tokio::task::JoinHandle<()>>,
}

impl Pipe {
    fn collect(pipe: Option<impl AsyncRead + Unpin + Send + 'static>) -> Pipe {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let reader = pipe.map(|mut pipe| {
            let sink = buffer.clone();
            tokio::spawn(async move {
                let mut chunk = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut chunk).await {
                    if n == 0 {
                        break;
                    }
                    sink.lock().unwrap().extend_from_slice(&chunk[..n]);
                }
            })
        });
        Pipe { buffer, reader }
    }

    /// What arrived once the pipe closed (waited for: under load a fast `echo` can exit before its
    /// output is read); a process the command left running in the
    /// background may keep it open, so that wait is bounded.
    async fn drained(self) -> Vec<u8> {
        if let Some(reader) = self.reader {
            let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
        }
        let bytes = self.buffer.lock().unwrap().clone();
        bytes
    }
}

fn shown(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr).trim().to_string();
    if text.is_empty() {
        "(nothing)".to_string()
    } else {
        text
    }
}

/// libpq's `verify-ca`: the chain must lead to a trusted CA, the host name is not checked.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // webpki checks the chain before the name, so a name mismatch means the chain held.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_defaults_follow_libpq_but_never_plaintext_to_a_remote_host() {
        assert_eq!(effective_sslmode(None, false, true), SslMode::Prefer);
        assert_eq!(effective_sslmode(None, false, false), SslMode::Require);
        assert_eq!(effective_sslmode(None, true, false), SslMode::VerifyCa);
        assert_eq!(
            effective_sslmode(Some(SslMode::Require), true, false),
            SslMode::VerifyCa
        );
        assert_eq!(
            effective_sslmode(Some(SslMode::Require), false, false),
            SslMode::Require
        );
        assert_eq!(
            effective_sslmode(Some(SslMode::Disable), true, false),
            SslMode::Disable
        );
        assert_eq!(
            effective_sslmode(Some(SslMode::VerifyFull), false, true),
            SslMode::VerifyFull
        );
    }
}
