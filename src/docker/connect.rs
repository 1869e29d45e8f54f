//! Finding and connecting to the Docker engine the way the docker CLI does, in its order:
//! `--host`/`DOCKER_HOST`, then `DOCKER_CONTEXT`, then the current context of
//! `~/.docker/config.json`, then the local socket. A `tcp://` engine speaks TLS when
//! `DOCKER_TLS_VERIFY` (or a context's TLS files) asks for it; plain HTTP only when nothing does.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bollard::Docker;

use super::ssh::SshTransport;
use super::{transport, DockerError};
use crate::shell::Shell;

const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// Where the engine is expected, why devdb looked there, and how to secure the connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub host: String,
    pub source: String,
    pub tls: Option<TlsFiles>,
}

/// The client's TLS material: the CA that signed the engine's certificate (unless the engine's
/// certificate is not checked) and the client certificate and key the engine asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsFiles {
    pub dir: PathBuf,
    pub verify: bool,
    pub from: String,
}

impl TlsFiles {
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    pub fn cert(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }
    pub fn key(&self) -> PathBuf {
        self.dir.join("key.pem")
    }
}

impl Endpoint {
    /// True for an engine on another machine (reached over TCP or ssh).
    pub fn is_remote(&self) -> bool {
        self.host.starts_with("tcp://")
            || self.host.starts_with("https://")
            || self.host.starts_with("http://")
            || self.host.starts_with("ssh://")
    }

    /// The engine's host name or address, for a port it publishes on all interfaces.
    pub fn remote_address(&self) -> Option<String> {
        if !self.is_remote() {
            return None;
        }
        let rest = self.host.split_once("://")?.1;
        let authority = rest.split('/').next()?;
        let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next()?.to_string(),
            None => authority.split(':').next()?.to_string(),
        };
        (!host.is_empty()).then_some(host)
    }
}

/// The engine this process talks to; `host_flag` is `--host`, which wins over every other
/// source, as the docker CLI's `-H`.
pub fn resolve_endpoint(host_flag: Option<&str>) -> Result<Endpoint, DockerError> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    resolve_with(&env, host_flag)
}

/// The resolution itself over any environment (the unit tests give their own).
fn resolve_with(
    env: &dyn Fn(&str) -> Option<String>,
    host_flag: Option<&str>,
) -> Result<Endpoint, DockerError> {
    let config_dir = env("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|home| PathBuf::from(home).join(".docker")));
    let explicit = host_flag
        .map(|h| (h.to_string(), "--host".to_string()))
        .or_else(|| env("DOCKER_HOST").map(|h| (h, "DOCKER_HOST".to_string())));
    if let Some((host, source)) = explicit {
        let tls = env_tls(env, config_dir.as_deref(), &host);
        return Ok(Endpoint { host, source, tls });
    }
    let context = env("DOCKER_CONTEXT")
        .map(|c| (c, "DOCKER_CONTEXT".to_string()))
        .or_else(|| current_context(config_dir.as_deref()?));
    if let (Some((context, why)), Some(dir)) = (context, config_dir) {
        if context != "default" {
            return context_endpoint(&dir, &context, &why);
        }
    }
    Ok(Endpoint {
        host: DEFAULT_HOST.to_string(),
        source: "the default socket".to_string(),
        tls: None,
    })
}

/// TLS for `DOCKER_HOST`/`--host`, as the CLI: `DOCKER_TLS_VERIFY` checks the engine against
/// `ca.pem`; `DOCKER_TLS` alone encrypts without checking it. Files from `DOCKER_CERT_PATH`.
fn env_tls(
    env: &dyn Fn(&str) -> Option<String>,
    config_dir: Option<&Path>,
    host: &str,
) -> Option<TlsFiles> {
    if !host.starts_with("tcp://") && !host.starts_with("https://") {
        return None;
    }
    let verify = env("DOCKER_TLS_VERIFY").is_some();
    if !verify && env("DOCKER_TLS").is_none() {
        return None;
    }
    let (dir, from) = match env("DOCKER_CERT_PATH") {
        Some(path) => (PathBuf::from(path), "DOCKER_CERT_PATH".to_string()),
        None => (
            config_dir.map(Path::to_path_buf).unwrap_or_default(),
            "the default DOCKER_CERT_PATH".to_string(),
        ),
    };
    Some(TlsFiles { dir, verify, from })
}

fn current_context(config_dir: &Path) -> Option<(String, String)> {
    let config = std::fs::read_to_string(config_dir.join("config.json")).ok()?;
    let value: serde_json::Value = serde_json::from_str(&config).ok()?;
    let name = value.get("currentContext")?.as_str()?.to_string();
    let why = format!(
        "currentContext of {}",
        config_dir.join("config.json").display()
    );
    Some((name, why))
}

/// A context's endpoint: `contexts/meta/<sha256(name)>/meta.json` holds the host and
/// `SkipTLSVerify`; `contexts/tls/<sha256(name)>/docker/` the TLS files, when it has any.
fn context_endpoint(dir: &Path, context: &str, why: &str) -> Result<Endpoint, DockerError> {
    let id = crate::digest::sha256_hex(context.as_bytes());
    let meta_path = dir.join("contexts/meta").join(&id).join("meta.json");
    let unknown = |reason: String| DockerError::BadContext {
        context: context.to_string(),
        why: why.to_string(),
        reason,
    };
    let text = std::fs::read_to_string(&meta_path)
        .map_err(|e| unknown(format!("cannot read {}: {e}", meta_path.display())))?;
    let meta: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| unknown(format!("{} is not JSON: {e}", meta_path.display())))?;
    let docker = meta.pointer("/Endpoints/docker");
    let host = docker
        .and_then(|d| d.get("Host")?.as_str())
        .ok_or_else(|| {
            unknown(format!(
                "{} has no Endpoints.docker.Host",
                meta_path.display()
            ))
        })?
        .to_string();
    let skip_verify = docker
        .and_then(|d| d.get("SkipTLSVerify")?.as_bool())
        .unwrap_or(false);
    let tls_dir = dir.join("contexts/tls").join(&id).join("docker");
    let tcp = host.starts_with("tcp://") || host.starts_with("https://");
    let tls = (tcp && (tls_dir.is_dir() || skip_verify)).then(|| TlsFiles {
        dir: tls_dir,
        verify: !skip_verify,
        from: format!("Docker context `{context}`"),
    });
    Ok(Endpoint {
        host,
        source: format!("Docker context `{context}` ({why})"),
        tls,
    })
}

/// How long the engine may take to answer its first request.
const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Connects, negotiates the API version (older engines speak older APIs) and pings.
pub async fn connect(
    shell: &Shell,
    host_flag: Option<&str>,
) -> Result<(Docker, Endpoint, Option<Arc<SshTransport>>), DockerError> {
    let endpoint = resolve_endpoint(host_flag)?;
    let (docker, transport) = if endpoint.host.starts_with("ssh://") {
        let transport = Arc::new(super::ssh::open(&endpoint.host, shell).await?);
        let docker = transport::unix(&transport.socket())
            .map_err(|e| unreachable_error(&endpoint, root_cause(&e)))?;
        (docker, Some(transport))
    } else {
        (client_for(&endpoint, shell)?, None)
    };
    let unreachable = |reason: String| unreachable_error(&endpoint, reason);
    // An engine that accepts and never answers would otherwise hold devdb for bollard's 120 s.
    let docker = tokio::time::timeout(PING_TIMEOUT, docker.negotiate_version())
        .await
        .map_err(|_| {
            unreachable(format!(
                "it accepted the connection but did not answer within {} s",
                PING_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| unreachable(root_cause(&e)))?;
    Ok((docker, endpoint, transport))
}

/// The client for `endpoint`: TLS when asked for, else what its scheme says.
fn client_for(endpoint: &Endpoint, shell: &Shell) -> Result<Docker, DockerError> {
    let host = endpoint.host.as_str();
    let failed = |e: bollard::errors::Error| unreachable_error(endpoint, root_cause(&e));
    if let Some(tls) = &endpoint.tls {
        return tls_client(endpoint, tls, shell);
    }
    if let Some(path) = host.strip_prefix("unix://") {
        return transport::unix(Path::new(path)).map_err(failed);
    }
    if let Some(authority) = tcp_authority(host) {
        shell.note(format!(
            "warning: {host} (from {}) is plain HTTP: anyone on the path can drive this engine; \
             set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH for TLS",
            endpoint.source
        ));
        return transport::plain(authority).map_err(failed);
    }
    // Anything else (a named pipe, a bare path) as bollard reads it.
    Docker::connect_with_host(host).map_err(failed)
}

/// `host:port` of a `tcp://`, `http://` or `https://` endpoint.
fn tcp_authority(host: &str) -> Option<&str> {
    ["tcp://", "http://", "https://"]
        .iter()
        .find_map(|scheme| host.strip_prefix(scheme))
        .map(|rest| rest.trim_end_matches('/'))
}

fn tls_client(endpoint: &Endpoint, tls: &TlsFiles, shell: &Shell) -> Result<Docker, DockerError> {
    let files_error = |reason: String, fix: &str| DockerError::TlsFiles {
        host: endpoint.host.clone(),
        reason,
        fix: fix.to_string(),
    };
    let required = if tls.verify {
        vec![tls.ca(), tls.cert(), tls.key()]
    } else {
        shell.note(format!(
            "warning: {} asks for TLS without checking the engine's certificate \
             (SkipTLSVerify, or DOCKER_TLS without DOCKER_TLS_VERIFY): the connection is \
             encrypted, but anyone on the path to {} can pose as the engine",
            tls.from, endpoint.host
        ));
        Vec::new()
    };
    for file in required {
        if !file.is_file() {
            return Err(files_error(
                format!(
                    "{} is missing (TLS files from {})",
                    file.display(),
                    tls.from
                ),
                "point DOCKER_CERT_PATH at the folder holding ca.pem, cert.pem and key.pem",
            ));
        }
    }
    let (cert, key) = (tls.cert(), tls.key());
    let identity = (cert.is_file() && key.is_file()).then(|| transport::ClientIdentity {
        cert: &cert,
        key: &key,
    });
    let ca = tls.verify.then(|| tls.ca());
    let authority = tcp_authority(&endpoint.host).unwrap_or(&endpoint.host);
    transport::tls(authority, ca.as_deref(), identity).map_err(|reason| {
        files_error(
            format!("{reason} (TLS files from {})", tls.from),
            "check that ca.pem, cert.pem and key.pem are PEM files",
        )
    })
}

/// One error for an engine that does not answer, with the fix its kind of failure calls for.
fn unreachable_error(endpoint: &Endpoint, reason: String) -> DockerError {
    let lower = reason.to_lowercase();
    let hint = if lower.contains("certificate") || lower.contains("unknownissuer") {
        match &endpoint.tls {
            Some(tls) => format!(
                "the engine's certificate is not signed by {} or it refused cert.pem: use the CA \
                 and client certificate of this engine (from {})",
                tls.ca().display(),
                tls.from
            ),
            None => "set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH for this engine".to_string(),
        }
    } else if endpoint.is_remote() {
        "check that the engine runs and listens there and that the host is reachable, or point \
         DOCKER_HOST or `docker context use` at another engine"
            .to_string()
    } else {
        "start the engine (`sudo systemctl start docker`, or open Docker Desktop), or point \
         DOCKER_HOST or `docker context use` at a running one"
            .to_string()
    };
    DockerError::NoEngine {
        host: endpoint.host.clone(),
        source_desc: endpoint.source.clone(),
        reason,
        hint,
    }
}

/// The innermost cause of an error chain (the OS or server message a user can act on).
pub(super) fn root_cause(error: &dyn std::error::Error) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve(vars: &[(&str, &str)], flag: Option<&str>) -> Endpoint {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        resolve_with(&|name| map.get(name).cloned(), flag).unwrap()
    }

    fn context_dir(name: &str, meta: &str, tls: bool) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let id = crate::digest::sha256_hex(name.as_bytes());
        let meta_dir = dir.path().join("contexts/meta").join(&id);
        std::fs::create_dir_all(&meta_dir).unwrap();
        std::fs::write(meta_dir.join("meta.json"), meta).unwrap();
        if tls {
            std::fs::create_dir_all(dir.path().join("contexts/tls").join(&id).join("docker"))
                .unwrap();
        }
        dir
    }

    #[test]
    fn flag_wins_over_docker_host_and_contexts() {
        let e = resolve(
            &[
                ("DOCKER_HOST", "tcp://10.0.0.1:2375"),
                ("DOCKER_CONTEXT", "x"),
            ],
            Some("unix:///tmp/d.sock"),
        );
        assert_eq!(e.host, "unix:///tmp/d.sock");
        assert_eq!(e.source, "--host");
        assert_eq!(e.tls, None);
    }

    #[test]
    fn docker_host_with_tls_verify_uses_cert_path_or_config_dir() {
        let e = resolve(
            &[
                ("DOCKER_HOST", "tcp://h:2376"),
                ("DOCKER_TLS_VERIFY", "1"),
                ("HOME", "/home/u"),
            ],
            None,
        );
        let tls = e.tls.unwrap();
        assert_eq!(tls.dir, PathBuf::from("/home/u/.docker"));
        assert!(tls.verify);
        let e = resolve(
            &[
                ("DOCKER_HOST", "tcp://h:2376"),
                ("DOCKER_TLS_VERIFY", "1"),
                ("DOCKER_CERT_PATH", "/certs"),
            ],
            None,
        );
        assert_eq!(e.tls.unwrap().ca(), PathBuf::from("/certs/ca.pem"));
        // No TLS variable: plain tcp (the caller warns).
        assert_eq!(resolve(&[("DOCKER_HOST", "tcp://h:2375")], None).tls, None);
    }

    #[test]
    fn docker_context_beats_current_context_and_reads_tls_and_skip_verify() {
        let meta = r#"{"Name":"far","Endpoints":{"docker":{"Host":"tcp://10.1.1.1:2376","SkipTLSVerify":false}}}"#;
        let dir = context_dir("far", meta, true);
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"currentContext":"other"}"#,
        )
        .unwrap();
        let config = dir.path().to_str().unwrap();
        let e = resolve(
            &[("DOCKER_CONFIG", config), ("DOCKER_CONTEXT", "far")],
            None,
        );
        assert_eq!(e.host, "tcp://10.1.1.1:2376");
        let tls = e.tls.unwrap();
        assert!(tls.verify);
        assert!(tls.dir.ends_with("docker"));
        let skip =
            r#"{"Endpoints":{"docker":{"Host":"tcp://10.1.1.1:2376","SkipTLSVerify":true}}}"#;
        let dir = context_dir("far", skip, false);
        let config = dir.path().to_str().unwrap();
        let e = resolve(
            &[("DOCKER_CONFIG", config), ("DOCKER_CONTEXT", "far")],
            None,
        );
        assert!(!e.tls.unwrap().verify);
    }

    #[test]
    fn current_context_then_default_socket() {
        let meta = r#"{"Endpoints":{"docker":{"Host":"ssh://me@box"}}}"#;
        let dir = context_dir("box", meta, false);
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"currentContext":"box"}"#,
        )
        .unwrap();
        let config = dir.path().to_str().unwrap();
        let e = resolve(&[("DOCKER_CONFIG", config)], None);
        assert_eq!(e.host, "ssh://me@box");
        assert_eq!(e.remote_address().as_deref(), Some("box"));
        let e = resolve(&[("DOCKER_CONFIG", "/nonexistent")], None);
        assert_eq!(e.host, DEFAULT_HOST);
        assert!(!e.is_remote());
    }

    #[test]
    fn a_named_context_that_does_not_exist_is_an_error() {
        let env = |name: &str| match name {
            "DOCKER_CONFIG" => Some("/nonexistent".to_string()),
            "DOCKER_CONTEXT" => Some("ghost".to_string()),
            _ => None,
        };
        let error = resolve_with(&env, None).unwrap_err();
        let hint = error.hint().map(|h| h.text).unwrap_or_default();
        assert!(
            error.to_string().contains("ghost") && hint.contains("docker context ls"),
            "{error} / {hint}"
        );
    }

    #[test]
    fn remote_address_of_each_shape() {
        let at = |host: &str| Endpoint {
            host: host.into(),
            source: String::new(),
            tls: None,
        };
        assert_eq!(
            at("tcp://10.2.3.4:2376").remote_address().unwrap(),
            "10.2.3.4"
        );
        assert_eq!(
            at("ssh://u@h.example:22").remote_address().unwrap(),
            "h.example"
        );
        assert_eq!(
            at("tcp://[fd00::1]:2376/").remote_address().unwrap(),
            "fd00::1"
        );
        assert_eq!(at("unix:///var/run/docker.sock").remote_address(), None);
    }
}
