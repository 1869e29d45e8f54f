//! Remote stages (`x-devdb.stages`): where their URL comes from, and connecting with TLS as the
//! URL or the stage config asks, the way libpq users write it (`sslmode=verify-full`,
//! `sslrootcert=...`, which tokio-postgres does not accept as is).

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::Client;

use super::{redact_url, DbError};
use crate::config::{Config, SslMode, StageSettings};

/// The name that always means the local database.
pub const LOCAL_STAGE: &str = "DEV";

/// Where a stage listens, split up; `password` is secret.
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub database: String,
}

/// A resolved stage: its URL (secret) and how to reach it.
pub struct Stage {
    pub name: String,
    url: String,
    pub sslmode: SslMode,
    pub root_cert: Option<PathBuf>,
}

impl std::fmt::Debug for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Stage {} ({})", self.name, self.redacted_url())
    }
}

impl Stage {
    /// Reads the stage's URL from its environment variable or command.
    pub fn resolve(config: &Config, name: &str) -> Result<Stage, DbError> {
        let settings = lookup(config, name)?;
        let url = match (&settings.url_env, &settings.url_command) {
            (Some(variable), _) => config
                .variable(variable)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .ok_or_else(|| DbError::Stage {
                    stage: name.to_string(),
                    message: format!("the environment variable {variable} (x-devdb.stages.{name}.url_env) is not set"),
                })?,
            (None, Some(command)) => run_url_command(name, command, config)?,
            (None, None) => unreachable!("config validation requires url_env or url_command"),
        };
        let params = libpq_params(&url);
        let sslmode = match settings.sslmode {
            Some(mode) => mode,
            None => match params.sslmode.as_deref() {
                None | Some("prefer") | Some("allow") => SslMode::Prefer,
                Some("disable") => SslMode::Disable,
                Some("require") => SslMode::Require,
                Some("verify-ca") => SslMode::VerifyCa,
                Some("verify-full") => SslMode::VerifyFull,
                Some(other) => {
                    return Err(DbError::Stage {
                        stage: name.to_string(),
                        message: format!("sslmode={other} is not one of disable, prefer, require, verify-ca, verify-full"),
                    })
                }
            },
        };
        let root_cert = settings
            .ca_file
            .as_ref()
            .map(|f| config.dir().join(f))
            .or(params.sslrootcert.map(PathBuf::from));
        Ok(Stage {
            name: name.to_string(),
            url,
            sslmode,
            root_cert,
        })
    }

    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }

    /// Host and database, for plans and messages.
    pub fn describe(&self) -> String {
        match self.pg_config() {
            Ok(config) => {
                let host = config
                    .get_hosts()
                    .first()
                    .map(|h| match h {
                        tokio_postgres::config::Host::Tcp(name) => name.clone(),
                        tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
                    })
                    .unwrap_or_default();
                let database = config.get_dbname().unwrap_or("(default)").to_string();
                format!(
                    "host {host}, database {database}, sslmode {:?}",
                    self.sslmode
                )
            }
            Err(_) => self.redacted_url(),
        }
    }

    /// The parts a libpq client (pg_dump in the db-copy container) needs.
    pub fn endpoint(&self) -> Result<Endpoint, DbError> {
        let config = self.pg_config()?;
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

    fn pg_config(&self) -> Result<tokio_postgres::Config, DbError> {
        let cleaned = strip_tls_params(&self.url);
        let mut config: tokio_postgres::Config = cleaned.parse().map_err(|e| DbError::Stage {
            stage: self.name.clone(),
            message: format!(
                "its URL {} is not a valid Postgres URL: {e}",
                redact_url(&self.url)
            ),
        })?;
        config.application_name("devdb");
        config.ssl_mode(match self.sslmode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        });
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(10));
        }
        Ok(config)
    }

    /// Connects; `read_only` sets `default_transaction_read_only` for the whole session.
    pub async fn connect(&self, read_only: bool) -> Result<Client, DbError> {
        let mut config = self.pg_config()?;
        if read_only {
            config.options("-c default_transaction_read_only=on");
        }
        let target = format!("stage {} ({})", self.name, self.redacted_url());
        let connector = tokio_postgres_rustls::MakeRustlsConnect::new(self.tls_config()?);
        let (client, connection) = config
            .connect(connector)
            .await
            .map_err(|error| DbError::Connect { target, error })?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    fn tls_config(&self) -> Result<rustls::ClientConfig, DbError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| DbError::Stage {
                stage: self.name.clone(),
                message: format!("TLS setup: {e}"),
            })?;
        let config = match self.sslmode {
            SslMode::VerifyCa | SslMode::VerifyFull => {
                let mut roots = RootCertStore::empty();
                match &self.root_cert {
                    Some(path) => {
                        let pem = std::fs::read(path).map_err(|e| DbError::Stage {
                            stage: self.name.clone(),
                            message: format!("cannot read the CA bundle {}: {e}", path.display()),
                        })?;
                        for cert in rustls_pki_types::pem::PemObject::pem_slice_iter(&pem) {
                            let cert: CertificateDer = cert.map_err(|e| DbError::Stage {
                                stage: self.name.clone(),
                                message: format!(
                                    "the CA bundle {} is not PEM: {e}",
                                    path.display()
                                ),
                            })?;
                            roots.add(cert).map_err(|e| DbError::Stage {
                                stage: self.name.clone(),
                                message: format!(
                                    "a certificate in {} is unusable: {e}",
                                    path.display()
                                ),
                            })?;
                        }
                    }
                    None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
                }
                builder.with_root_certificates(roots).with_no_client_auth()
            }
            // libpq's `require` encrypts without checking the certificate; so does devdb.
            _ => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
                .with_no_client_auth(),
        };
        Ok(config)
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

fn run_url_command(stage: &str, command: &str, config: &Config) -> Result<String, DbError> {
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(config.dir())
        .stderr(std::process::Stdio::piped())
        .output()
        .map_err(|e| DbError::Stage {
            stage: stage.to_string(),
            message: format!("cannot run url_command: {e}"),
        })?;
    if !output.status.success() {
        return Err(DbError::Stage {
            stage: stage.to_string(),
            message: format!(
                "url_command `{command}` failed ({}): {}",
                output.status,
                redact_url(String::from_utf8_lossy(&output.stderr).trim())
            ),
        });
    }
    let url = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if url.is_empty() {
        return Err(DbError::Stage {
            stage: stage.to_string(),
            message: format!("url_command `{command}` printed nothing"),
        });
    }
    Ok(url)
}

#[derive(Default)]
struct LibpqParams {
    sslmode: Option<String>,
    sslrootcert: Option<String>,
}

const TLS_PARAMS: [&str; 5] = ["sslmode", "sslrootcert", "sslcert", "sslkey", "sslpassword"];

fn libpq_params(url: &str) -> LibpqParams {
    let mut params = LibpqParams::default();
    for (key, value) in param_pairs(url) {
        match key.as_str() {
            "sslmode" => params.sslmode = Some(value),
            "sslrootcert" => params.sslrootcert = Some(value),
            _ => {}
        }
    }
    params
}

/// `key=value` pairs of a URL's query string or of a key/value connection string.
fn param_pairs(url: &str) -> Vec<(String, String)> {
    let text = if url.contains("://") {
        url.split_once('?').map_or("", |(_, q)| q)
    } else {
        url
    };
    let separator = if url.contains("://") { '&' } else { ' ' };
    text.split(separator)
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_string(),
                v.trim().trim_matches('\'').to_string(),
            )
        })
        .collect()
}

/// Removes the TLS parameters tokio-postgres rejects; devdb handles them itself.
fn strip_tls_params(url: &str) -> String {
    let keep = |pair: &&str| {
        !TLS_PARAMS
            .iter()
            .any(|p| pair.split_once('=').is_some_and(|(k, _)| k.trim() == *p))
    };
    if let Some((base, query)) = url.split_once('?').filter(|_| url.contains("://")) {
        let rest: Vec<&str> = query.split('&').filter(keep).collect();
        if rest.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", rest.join("&"))
        }
    } else if url.contains("://") {
        url.to_string()
    } else {
        url.split(' ').filter(keep).collect::<Vec<_>>().join(" ")
    }
}

/// Accepts any server certificate but still checks the handshake signatures (libpq `require`).
#[derive(Debug)]
struct EncryptOnly(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_tls_params_are_read_and_stripped() {
        let url = "postgres://u:p@db.example:5432/app?sslmode=verify-full&sslrootcert=/etc/ca.pem&application_name=x";
        let params = libpq_params(url);
        assert_eq!(params.sslmode.as_deref(), Some("verify-full"));
        assert_eq!(params.sslrootcert.as_deref(), Some("/etc/ca.pem"));
        assert_eq!(
            strip_tls_params(url),
            "postgres://u:p@db.example:5432/app?application_name=x"
        );
        assert_eq!(
            strip_tls_params("postgres://h/d?sslmode=require"),
            "postgres://h/d"
        );
        assert_eq!(
            strip_tls_params("host=h sslmode=verify-full dbname=d"),
            "host=h dbname=d"
        );
        assert!(strip_tls_params(url)
            .parse::<tokio_postgres::Config>()
            .is_ok());
    }
}
