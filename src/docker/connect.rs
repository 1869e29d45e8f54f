//! Finding and connecting to the Docker engine the way the docker CLI does:
//! `DOCKER_HOST`, then the current Docker context, then the local socket.

use std::path::PathBuf;

use bollard::Docker;

use super::DockerError;

const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// Where the engine is expected, and why devdb looked there.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub host: String,
    pub source: String,
}

pub fn resolve_endpoint() -> Endpoint {
    if let Ok(host) = std::env::var("DOCKER_HOST") {
        if !host.is_empty() {
            return Endpoint {
                host,
                source: "DOCKER_HOST".to_string(),
            };
        }
    }
    let config_dir = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker")));
    let context = std::env::var("DOCKER_CONTEXT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            let config = std::fs::read_to_string(config_dir.as_ref()?.join("config.json")).ok()?;
            let value: serde_json::Value = serde_json::from_str(&config).ok()?;
            value.get("currentContext")?.as_str().map(str::to_string)
        });
    if let (Some(context), Some(dir)) = (context, config_dir) {
        if context != "default" {
            let id = crate::digest::sha256_hex(context.as_bytes());
            let meta = dir.join("contexts/meta").join(id).join("meta.json");
            let host = std::fs::read_to_string(&meta)
                .ok()
                .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
                .and_then(|v| {
                    v.pointer("/Endpoints/docker/Host")?
                        .as_str()
                        .map(str::to_string)
                });
            if let Some(host) = host {
                return Endpoint {
                    host,
                    source: format!("Docker context `{context}`"),
                };
            }
        }
    }
    Endpoint {
        host: DEFAULT_HOST.to_string(),
        source: "the default socket".to_string(),
    }
}

/// How long the engine may take to answer its first request.
const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Connects, negotiates the API version (older engines speak older APIs) and pings.
pub async fn connect() -> Result<(Docker, Endpoint), DockerError> {
    let endpoint = resolve_endpoint();
    let unreachable = |reason: String| DockerError::NoEngine {
        host: endpoint.host.clone(),
        source_desc: endpoint.source.clone(),
        reason,
    };
    let docker =
        Docker::connect_with_host(&endpoint.host).map_err(|e| unreachable(e.to_string()))?;
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
    Ok((docker, endpoint))
}

/// The innermost cause of an error chain (the OS or server message a user can act on).
pub(super) fn root_cause(error: &dyn std::error::Error) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}
