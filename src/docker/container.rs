//! One service's container: the desired configuration, its hash, and creating, starting and
//! recreating it (volumes are never removed here, so data survives a recreate).

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, ContainerSummary, EndpointSettings, HealthConfig, HostConfig,
    NetworkCreateRequest, NetworkingConfig, PortBinding, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, ListNetworksOptionsBuilder,
    RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
};

use super::names::{self, *};
use super::{is_not_found, DockerError, Engine};
use crate::config::{Config, PortMapping, Service, VolumeMount};

/// How long a database container may take to shut down before it is recreated.
const GRACEFUL_STOP_SECONDS: i32 = 120;

/// What happened to a service's container during `up`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceState {
    Unchanged,
    Started,
    Created,
    Recreated,
}

/// A hash of everything that shapes the container; the image id is part of it, so a rebuilt
/// or re-pulled image also recreates the container.
pub fn config_hash(service: &Service, image_id: &str) -> String {
    let description = serde_json::json!({
        "image_id": image_id,
        "image": service.image,
        "environment": service.environment,
        "ports": service.ports,
        "volumes": service.volumes,
        "healthcheck": service.healthcheck,
        "command": service.command,
    });
    crate::digest::sha256_hex(description.to_string().as_bytes())
}

impl Engine {
    /// The project's containers (any state), one API call.
    pub async fn project_containers(
        &self,
        project: &str,
    ) -> Result<Vec<ContainerSummary>, DockerError> {
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&names::project_filter(project))
            .build();
        self.docker
            .list_containers(Some(options))
            .await
            .map_err(DockerError::api(format!(
                "listing containers of project {project}"
            )))
    }

    /// Brings one service's container to the desired state; returns its name and what changed.
    pub async fn ensure_container(
        &self,
        config: &Config,
        service: &Service,
        image_id: &str,
        existing: Option<&ContainerSummary>,
    ) -> Result<ServiceState, DockerError> {
        let name = container_name(&config.project, &service.name);
        let hash = self.binding_hash(config_hash(service, image_id), service);
        let mut state = ServiceState::Created;
        if let Some(container) = existing {
            let same = container
                .labels
                .as_ref()
                .and_then(|l| l.get(CONFIG_HASH_LABEL))
                .is_some_and(|h| *h == hash);
            let running = container.state.map(|s| s.to_string()).as_deref() == Some("running");
            if same && running {
                return Ok(ServiceState::Unchanged);
            }
            if same {
                self.start(config, service, &name).await?;
                return Ok(ServiceState::Started);
            }
            // Postgres gets its stop signal and time to shut down cleanly (flushing commits
            // made with synchronous_commit=off) before the container goes.
            if running {
                self.stop_container_within(&name, GRACEFUL_STOP_SECONDS)
                    .await?;
            }
            self.remove_container(&name).await?;
            state = ServiceState::Recreated;
        }
        self.ensure_network(&config.project).await?;
        for mount in &service.volumes {
            if let VolumeMount::Named { name: volume, .. } = mount {
                self.ensure_volume(&config.project, volume).await?;
            }
        }
        let body = container_body(config, service, &hash, self.endpoint.is_remote());
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        match self.docker.create_container(Some(options), body).await {
            Ok(_) => {}
            // A concurrent `up` created it from the same configuration: start that one.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => {}
            Err(e) => return Err(DockerError::api(format!("creating container {name}"))(e)),
        }
        self.start(config, service, &name).await?;
        Ok(state)
    }

    async fn start(
        &self,
        config: &Config,
        service: &Service,
        name: &str,
    ) -> Result<(), DockerError> {
        match self.docker.start_container(name, None).await {
            Ok(()) => Ok(()),
            // Already running (a concurrent `up` started it).
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) if is_port_conflict(&e) => {
                let port = service.ports.iter().find_map(|p| p.host_port).unwrap_or(0);
                Err(DockerError::PortInUse {
                    port,
                    service: service.name.clone(),
                    file: config.file.display().to_string(),
                    suggested: port.saturating_add(1),
                })
            }
            Err(e) => Err(DockerError::api(format!("starting container {name}"))(e)),
        }
    }

    /// Stops and removes a container, keeping its volumes.
    pub async fn remove_container(&self, name: &str) -> Result<(), DockerError> {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(false)
            .build();
        match self.docker.remove_container(name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(DockerError::api(format!("removing container {name}"))(e)),
        }
    }

    pub async fn stop_container(&self, name: &str) -> Result<(), DockerError> {
        self.stop_container_within(name, 10).await
    }

    /// Sends the image's stop signal (SIGINT for Postgres: fast shutdown with a checkpoint) and
    /// waits up to `seconds` before the engine kills it.
    async fn stop_container_within(&self, name: &str, seconds: i32) -> Result<(), DockerError> {
        let options = StopContainerOptionsBuilder::default().t(seconds).build();
        match self.docker.stop_container(name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(DockerError::api(format!("stopping container {name}"))(e)),
        }
    }

    pub(super) async fn ensure_network(&self, project: &str) -> Result<(), DockerError> {
        // Two `up`s on a fresh project would both find no network and both create one.
        let _lock = super::lock::project_lock(&self.endpoint.host, project).await?;
        let name = network_name(project);
        match self.docker.inspect_network(&name, None).await {
            Ok(_) => return Ok(()),
            Err(e) if is_not_found(&e) => {}
            // "network is ambiguous": two of that name exist (a past race); keep one.
            Err(_) => return self.keep_one_network(&name).await,
        }
        let request = NetworkCreateRequest {
            name: name.clone(),
            driver: Some("bridge".to_string()),
            labels: Some(HashMap::from([
                (PROJECT_LABEL.to_string(), project.to_string()),
                (NETWORK_LABEL.to_string(), "default".to_string()),
            ])),
            ..Default::default()
        };
        match self.docker.create_network(request).await {
            Ok(_) => {}
            // Another devdb (or compose) created it between our inspect and create.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => {}
            Err(e) => return Err(DockerError::api(format!("creating network {name}"))(e)),
        }
        self.keep_one_network(&name).await
    }

    /// The engine does not refuse a second network of the same name. devdbs on one machine are
    /// serialized by the project lock; what another client (compose, an older devdb) left is
    /// converged here: every creator keeps the one with the lowest id and removes the others.
    async fn keep_one_network(&self, name: &str) -> Result<(), DockerError> {
        let filter = HashMap::from([("name".to_string(), vec![name.to_string()])]);
        let options = ListNetworksOptionsBuilder::default()
            .filters(&filter)
            .build();
        let mut ids: Vec<String> = self
            .docker
            .list_networks(Some(options))
            .await
            .map_err(DockerError::api(format!("listing networks named {name}")))?
            .into_iter()
            .filter(|n| n.name.as_deref() == Some(name))
            .filter_map(|n| n.id)
            .collect();
        ids.sort();
        for extra in ids.iter().skip(1) {
            // Already gone (the other `up` removed it) is fine.
            let _ = self.docker.remove_network(extra).await;
        }
        Ok(())
    }

    async fn ensure_volume(&self, project: &str, volume: &str) -> Result<(), DockerError> {
        let name = volume_name(project, volume);
        match self.docker.inspect_volume(&name).await {
            Ok(_) => return Ok(()),
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(DockerError::api(format!("inspecting volume {name}"))(e)),
        }
        let request = VolumeCreateRequest {
            name: Some(name.clone()),
            labels: Some(HashMap::from([
                (PROJECT_LABEL.to_string(), project.to_string()),
                (VOLUME_LABEL.to_string(), volume.to_string()),
            ])),
            ..Default::default()
        };
        self.docker
            .create_volume(request)
            .await
            .map_err(DockerError::api(format!("creating volume {name}")))?;
        Ok(())
    }
}

fn is_port_conflict(error: &bollard::errors::Error) -> bool {
    let text = error.to_string();
    text.contains("address already in use") || text.contains("port is already allocated")
}

/// Where a published port listens on the engine's machine. A local engine: 127.0.0.1 whatever
/// the file says, so the database is never reachable from the network. A remote engine: what
/// the file says (none written: all interfaces, as Compose), since its loopback is not the
/// client's; a loopback mapping stays loopback and devdb tunnels to it (docker/tunnel.rs).
pub(super) fn publish_address(port: &PortMapping, remote: bool) -> String {
    if remote {
        port.host_ip.clone().unwrap_or_default()
    } else {
        "127.0.0.1".to_string()
    }
}

impl Engine {
    /// On a remote engine the published addresses are part of the configuration (the local
    /// one always publishes on 127.0.0.1, so its hash stays what it was).
    fn binding_hash(&self, hash: String, service: &Service) -> String {
        if !self.endpoint.is_remote() {
            return hash;
        }
        let addresses: Vec<String> = service
            .ports
            .iter()
            .map(|p| publish_address(p, true))
            .collect();
        crate::digest::sha256_hex(format!("{hash} {}", addresses.join(",")).as_bytes())
    }
}

/// The container devdb creates for `service`: Compose's labels (so `docker compose` sees it
/// as its own), the published ports, mounts and healthcheck, on the project network.
fn container_body(
    config: &Config,
    service: &Service,
    hash: &str,
    remote: bool,
) -> ContainerCreateBody {
    let network = network_name(&config.project);
    let (exposed_ports, port_bindings) = published_ports(service, remote);
    ContainerCreateBody {
        image: service.image.clone(),
        env: Some(
            service
                .environment
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
        ),
        cmd: service.command.clone(),
        labels: Some(compose_labels(config, service, hash)),
        exposed_ports: Some(exposed_ports),
        healthcheck: healthcheck(service),
        host_config: Some(HostConfig {
            port_bindings: Some(port_bindings),
            binds: Some(binds(&config.project, service)),
            network_mode: Some(network.clone()),
            ..Default::default()
        }),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                network,
                EndpointSettings {
                    aliases: Some(vec![service.name.clone()]),
                    ..Default::default()
                },
            )])),
        }),
        ..Default::default()
    }
}

fn compose_labels(config: &Config, service: &Service, hash: &str) -> HashMap<String, String> {
    HashMap::from([
        (PROJECT_LABEL.to_string(), config.project.clone()),
        (SERVICE_LABEL.to_string(), service.name.clone()),
        (ONEOFF_LABEL.to_string(), "False".to_string()),
        (NUMBER_LABEL.to_string(), "1".to_string()),
        (
            CONFIG_FILES_LABEL.to_string(),
            config.file.display().to_string(),
        ),
        (
            WORKING_DIR_LABEL.to_string(),
            config.dir().display().to_string(),
        ),
        (CONFIG_HASH_LABEL.to_string(), hash.to_string()),
    ])
}

type PortBindings = HashMap<String, Option<Vec<PortBinding>>>;

/// The exposed ports and their bindings on the engine's machine (see `publish_address`).
fn published_ports(service: &Service, remote: bool) -> (Vec<String>, PortBindings) {
    let mut port_bindings = HashMap::new();
    let mut exposed_ports = Vec::new();
    for port in &service.ports {
        let key = format!("{}/tcp", port.container_port);
        exposed_ports.push(key.clone());
        let binding = PortBinding {
            host_ip: Some(publish_address(port, remote)),
            host_port: Some(port.host_port.map(|p| p.to_string()).unwrap_or_default()),
        };
        port_bindings.insert(key, Some(vec![binding]));
    }
    (exposed_ports, port_bindings)
}

/// `volume:target[:ro]` per mount, named volumes under the project's name.
fn binds(project: &str, service: &Service) -> Vec<String> {
    service
        .volumes
        .iter()
        .map(|mount| {
            let (source, target, read_only) = match mount {
                VolumeMount::Named {
                    name,
                    target,
                    read_only,
                } => (volume_name(project, name), target, *read_only),
                VolumeMount::Bind {
                    source,
                    target,
                    read_only,
                } => (source.display().to_string(), target, *read_only),
            };
            format!("{source}:{target}{}", if read_only { ":ro" } else { "" })
        })
        .collect()
}

fn healthcheck(service: &Service) -> Option<HealthConfig> {
    let nanos = |d: Option<std::time::Duration>| d.map(|d| d.as_nanos() as i64);
    service.healthcheck.as_ref().map(|h| HealthConfig {
        test: Some(if h.disable {
            vec!["NONE".to_string()]
        } else {
            h.test.clone()
        }),
        interval: nanos(h.interval),
        timeout: nanos(h.timeout),
        retries: h.retries.map(i64::from),
        start_period: nanos(h.start_period),
        start_interval: None,
    })
}
