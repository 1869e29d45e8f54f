//! The HTTP clients devdb gives bollard. bollard's own TLS and Unix clients keep no connection
//! between API calls (`pool_max_idle_per_host(0)`) and its TLS one also loads every system root
//! certificate when it is made: over a remote engine each call paid a TCP and TLS handshake
//! (and Nagle's delay, TCP_NODELAY being off), and over ssh each call started a new
//! `docker system dial-stdio`. These keep their connections alive for the process, set
//! TCP_NODELAY, and trust only the engine's CA. (Hand-written on hyper-util, hyper-rustls and
//! hyperlocal, which bollard already builds on, since bollard offers no pooled constructor.)

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bollard::{BollardRequest, Docker, API_DEFAULT_VERSION};
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::crypto::ring;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Seconds bollard waits for one response (its default; long pulls stream within it).
const REQUEST_TIMEOUT_SECS: u64 = 120;

/// How long one TCP connect to the engine may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An idle connection is dropped after this (long-lived commands: `watch`, `tunnel`).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The client certificate and key the engine asks for, PEM.
pub struct ClientIdentity<'a> {
    pub cert: &'a Path,
    pub key: &'a Path,
}

/// A client over the Unix socket at `socket` (the local engine, or an ssh engine's forwarded
/// socket).
pub fn unix(socket: &Path) -> Result<Docker, bollard::errors::Error> {
    let hex: String = socket
        .to_string_lossy()
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect();
    pooled(hyperlocal::UnixConnector, format!("unix://{hex}"))
}

/// A client speaking plain HTTP to `host:port` (`tcp://` without TLS; the caller warned).
pub fn plain(authority: &str) -> Result<Docker, bollard::errors::Error> {
    pooled(http_connector(), format!("http://{authority}"))
}

/// A client speaking TLS to `host:port`: the engine's certificate checked against `ca` (None:
/// not checked, a context's SkipTLSVerify), `identity` sent when given.
pub fn tls(
    authority: &str,
    ca: Option<&Path>,
    identity: Option<ClientIdentity<'_>>,
) -> Result<Docker, String> {
    let provider = Arc::new(ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in read_certs(ca)? {
                roots
                    .add(cert)
                    .map_err(|e| format!("{}: {e}", ca.display()))?;
            }
            builder.with_root_certificates(roots)
        }
        None => builder
            .dangerous()
            // A context's `SkipTLSVerify: true`, as the docker CLI honours it.
            .with_custom_certificate_verifier(crate::tls::EncryptOnly::new(&provider)),
    };
    let config = match identity {
        Some(identity) => {
            let certs = read_certs(identity.cert)?;
            let key = PrivateKeyDer::from_pem_file(identity.key)
                .map_err(|e| format!("{}: {e}", identity.key.display()))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| format!("{}: {e}", identity.cert.display()))?
        }
        None => builder.with_no_client_auth(),
    };
    let connector = hyper_rustls::HttpsConnector::from((http_connector(), config));
    pooled(connector, format!("https://{authority}")).map_err(|e| e.to_string())
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(certs)
}

fn http_connector() -> HttpConnector {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    http
}

/// bollard over a keep-alive hyper client; `address` is `scheme://authority`, which bollard
/// puts in front of every request's path.
fn pooled<C>(connector: C, address: String) -> Result<Docker, bollard::errors::Error>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    let client = Arc::new(
        Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(IDLE_TIMEOUT)
            .build(connector),
    );
    Docker::connect_with_custom_transport(
        move |request: BollardRequest| {
            let client = Arc::clone(&client);
            async move { Ok(client.request(request).await?) }
        },
        Some(address),
        REQUEST_TIMEOUT_SECS,
        API_DEFAULT_VERSION,
    )
}
