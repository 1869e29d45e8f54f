//! Project-wide operations behind `up`, `down`, `destroy`, `status`, `logs` and `url`.

use std::collections::HashMap;
use std::io::Write;

use bollard::container::LogOutput;
use bollard::models::{ContainerInspectResponse, ContainerSummary, PortSummary};
use bollard::query_parameters::{
    ListNetworksOptionsBuilder, ListVolumesOptionsBuilder, LogsOptionsBuilder,
};
use futures_util::StreamExt;
use serde::Serialize;

use super::container::ServiceState;
use super::image::ImageAction;
use super::names::{self, container_name, SERVICE_LABEL};
use super::{is_not_found, DockerError, Engine};
use crate::config::{Config, Service};

#[derive(Debug, Clone, Serialize)]
pub struct UpOutcome {
    pub service: String,
    pub container: String,
    pub state: ServiceState,
    pub image: String,
    #[serde(skip)]
    pub image_action: ImageAction,
}

impl UpOutcome {
    pub fn changed_nothing(&self) -> bool {
        self.state == ServiceState::Unchanged && self.image_action == ImageAction::Present
    }
}

/// Whether a container runs, and how it ended when it does not.
/// A published port as the engine reports it: the address on the engine's machine ("" or
/// 0.0.0.0: all interfaces) and the port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub address: String,
    pub port: u16,
}

#[derive(Debug, Clone, Copy)]
pub struct RunState {
    pub running: bool,
    pub exit_code: i64,
}

/// Where a container keeps its files: every mount's target (the service's own and the
/// anonymous volumes its image declares), the image, and one variable of its environment.
#[derive(Debug, Clone, Default)]
pub struct ContainerLayout {
    pub image: String,
    pub mount_targets: Vec<String>,
    /// The value of the variable asked for, as the container sees it (image default or override).
    pub env_value: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceStatus {
    pub service: String,
    pub container: String,
    /// `missing` when no container exists yet, else Docker's state (`running`, `exited`, ...).
    pub state: String,
    pub health: Option<String>,
    pub port: Option<u16>,
    pub image: Option<String>,
}

/// Container name → its published ports, as a listing of running containers showed them.
pub(super) type ListedPorts = HashMap<String, Vec<PortSummary>>;

impl Engine {
    /// Creates or starts the database service and what it depends on; volumes are kept.
    pub async fn start_services(
        &self,
        config: &Config,
        rebuild: bool,
    ) -> Result<Vec<UpOutcome>, DockerError> {
        let existing = self.project_containers(&config.project).await?;
        let mut outcomes = Vec::new();
        for service in startup_order(config) {
            let (image_id, image_action) = self.ensure_image(service, rebuild).await?;
            let current = find_service(&existing, &service.name);
            let state = self
                .ensure_container(config, service, &image_id, current)
                .await?;
            let container = container_name(&config.project, &service.name);
            if let (ServiceState::Unchanged, Some(summary)) = (state, current) {
                self.remember_ports(&container, summary);
            }
            outcomes.push(UpOutcome {
                service: service.name.clone(),
                container,
                state,
                image: service.image.clone().unwrap_or_default(),
                image_action,
            });
        }
        Ok(outcomes)
    }

    /// Keeps the ports a listing showed for `container`, which runs unchanged: this command
    /// changes nothing about it, so they hold for as long as the command runs.
    fn remember_ports(&self, container: &str, summary: &ContainerSummary) {
        let ports = summary.ports.clone().unwrap_or_default();
        self.listed_ports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(container.to_string(), ports);
    }

    /// The binding of `container_port` a listing showed (see `remember_ports`).
    fn listed_port(&self, container: &str, container_port: u16) -> Option<Published> {
        let listed = self.listed_ports.lock().unwrap_or_else(|e| e.into_inner());
        listed.get(container)?.iter().find_map(|p| {
            let tcp = p.typ.is_none_or(|t| t.to_string() == "tcp");
            (tcp && p.private_port == container_port).then_some(())?;
            Some(Published {
                port: p.public_port?,
                address: p.ip.clone().unwrap_or_default(),
            })
        })
    }

    /// The host address and port bound to `container_port`; None when the container does not
    /// exist.
    pub async fn published_port(
        &self,
        container: &str,
        container_port: u16,
    ) -> Result<Option<Published>, DockerError> {
        if let Some(published) = self.listed_port(container, container_port) {
            return Ok(Some(published));
        }
        let inspect = match self.docker.inspect_container(container, None).await {
            Ok(inspect) => inspect,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => {
                return Err(DockerError::api(format!(
                    "inspecting container {container}"
                ))(e))
            }
        };
        Ok(inspect
            .network_settings
            .and_then(|n| n.ports)
            .and_then(|ports| {
                ports
                    .get(&format!("{container_port}/tcp"))
                    .cloned()
                    .flatten()
            })
            .and_then(|bindings| {
                bindings.into_iter().find_map(|b| {
                    Some(Published {
                        port: b.host_port?.parse().ok()?,
                        address: b.host_ip.unwrap_or_default(),
                    })
                })
            }))
    }

    async fn inspect(&self, container: &str) -> Result<ContainerInspectResponse, DockerError> {
        self.docker
            .inspect_container(container, None)
            .await
            .map_err(DockerError::api(format!(
                "inspecting container {container}"
            )))
    }

    /// The first host port the container publishes (for `status`).
    async fn first_published_port(&self, container: &str) -> Result<Option<u16>, DockerError> {
        Ok(self
            .inspect(container)
            .await?
            .network_settings
            .and_then(|n| n.ports)
            .into_iter()
            .flat_map(|ports| ports.into_values())
            .flatten()
            .flatten()
            .find_map(|b| b.host_port?.parse().ok()))
    }

    /// Whether the container runs, and its exit code when it stopped.
    pub async fn container_run_state(&self, container: &str) -> Result<RunState, DockerError> {
        let state = self.inspect(container).await?.state.unwrap_or_default();
        Ok(RunState {
            running: state.running == Some(true),
            exit_code: state.exit_code.unwrap_or(-1),
        })
    }

    /// The container's mounts, image and the value of `env_name` (only that one variable is
    /// read out: the environment holds passwords).
    pub async fn container_layout(
        &self,
        container: &str,
        env_name: &str,
    ) -> Result<ContainerLayout, DockerError> {
        let inspect = self.inspect(container).await?;
        let config = inspect.config.unwrap_or_default();
        let prefix = format!("{env_name}=");
        Ok(ContainerLayout {
            image: config.image.unwrap_or_default(),
            mount_targets: inspect
                .mounts
                .unwrap_or_default()
                .into_iter()
                .filter_map(|m| m.destination)
                .collect(),
            env_value: config
                .env
                .unwrap_or_default()
                .iter()
                .rev()
                .find_map(|entry| entry.strip_prefix(&prefix).map(str::to_string)),
        })
    }

    /// The last lines of a container's log, indented, for error messages.
    pub async fn log_tail(&self, container: &str, lines: usize) -> String {
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(&lines.to_string())
            .build();
        let mut stream = self.docker.logs(container, Some(options));
        let mut text = String::new();
        while let Some(Ok(chunk)) = stream.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        }
        if text.trim().is_empty() {
            return "    (the container logged nothing)".to_string();
        }
        text.lines()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Stops the project's containers; volumes and containers stay.
    pub async fn down(&self, config: &Config) -> Result<Vec<String>, DockerError> {
        let mut stopped = Vec::new();
        for container in self.project_containers(&config.project).await? {
            let name = summary_name(&container);
            if container.state.map(|s| s.to_string()).as_deref() == Some("running") {
                self.stop_container(&name).await?;
                stopped.push(name);
            }
        }
        Ok(stopped)
    }

    /// Removes the project's containers, networks and volumes (found by the project label).
    pub async fn destroy(&self, config: &Config) -> Result<Vec<String>, DockerError> {
        let project = &config.project;
        let mut removed = Vec::new();
        for container in self.project_containers(project).await? {
            let name = summary_name(&container);
            self.remove_container(&name).await?;
            removed.push(format!("container {name}"));
        }
        let filter = names::project_filter(project);
        let networks = self
            .docker
            .list_networks(Some(
                ListNetworksOptionsBuilder::default()
                    .filters(&filter)
                    .build(),
            ))
            .await
            .map_err(DockerError::api("listing networks"))?;
        for network in networks {
            let Some(name) = network.name else { continue };
            // By id: two networks of one name (a past race) are both removed.
            let id = network.id.unwrap_or_else(|| name.clone());
            match self.docker.remove_network(&id).await {
                Ok(()) => removed.push(format!("network {name}")),
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(DockerError::api(format!("removing network {name}"))(e)),
            }
        }
        let volumes = self
            .docker
            .list_volumes(Some(
                ListVolumesOptionsBuilder::default()
                    .filters(&filter)
                    .build(),
            ))
            .await
            .map_err(DockerError::api("listing volumes"))?;
        for volume in volumes.volumes.unwrap_or_default() {
            let name = volume.name;
            match self
                .docker
                .remove_volume(
                    &name,
                    None::<bollard::query_parameters::RemoveVolumeOptions>,
                )
                .await
            {
                Ok(()) => removed.push(format!("volume {name}")),
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(DockerError::api(format!("removing volume {name}"))(e)),
            }
        }
        Ok(removed)
    }

    /// One row per service in the file, whether or not its container exists.
    pub async fn status(&self, config: &Config) -> Result<Vec<ServiceStatus>, DockerError> {
        let containers = self.project_containers(&config.project).await?;
        let mut rows = Vec::new();
        for service in config.services.values() {
            let container = container_name(&config.project, &service.name);
            let mut row = ServiceStatus {
                service: service.name.clone(),
                container: container.clone(),
                state: "missing".to_string(),
                health: None,
                port: None,
                image: service.image.clone(),
            };
            if let Some(summary) = find_service(&containers, &service.name) {
                let name = summary_name(summary);
                let inspect = self.inspect(&name).await?;
                let state = inspect.state.unwrap_or_default();
                row.container = name;
                row.state = state
                    .status
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "unknown".to_string());
                row.health = state.health.and_then(|h| h.status).map(|s| s.to_string());
                row.image = inspect.config.and_then(|c| c.image).or(row.image);
                if state.running == Some(true) {
                    row.port = self.first_published_port(&row.container).await?;
                }
            }
            rows.push(row);
        }
        Ok(rows)
    }

    /// Streams a service's log to `out` (stdout and stderr interleaved as the engine sends them).
    pub async fn logs(
        &self,
        config: &Config,
        service: &str,
        follow: bool,
        tail: Option<usize>,
        out: &mut (dyn Write + Send),
    ) -> Result<(), DockerError> {
        let name = container_name(&config.project, service);
        let mut options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .follow(follow);
        if let Some(lines) = tail {
            options = options.tail(&lines.to_string());
        }
        let mut stream = self.docker.logs(&name, Some(options.build()));
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(
                    LogOutput::StdOut { message }
                    | LogOutput::StdErr { message }
                    | LogOutput::Console { message },
                ) => {
                    // A closed pipe (`devdb logs | head`) ends the stream quietly.
                    if out.write_all(&message).and_then(|_| out.flush()).is_err() {
                        return Ok(());
                    }
                }
                Ok(LogOutput::StdIn { .. }) => {}
                Err(e) if is_not_found(&e) => {
                    return Err(DockerError::NotCreated {
                        service: service.to_string(),
                    })
                }
                Err(e) => return Err(DockerError::api(format!("reading logs of {name}"))(e)),
            }
        }
        Ok(())
    }
}

/// The database service and what it depends on, dependencies first. The copy service is a
/// one-shot job and is never started by `up`.
fn startup_order(config: &Config) -> Vec<&Service> {
    fn visit<'a>(
        config: &'a Config,
        name: &str,
        seen: &mut Vec<String>,
        out: &mut Vec<&'a Service>,
    ) {
        if seen.iter().any(|s| s == name) {
            return;
        }
        seen.push(name.to_string());
        if let Some(service) = config.services.get(name) {
            for dependency in &service.depends_on {
                visit(config, dependency, seen, out);
            }
            out.push(service);
        }
    }
    let mut order = Vec::new();
    visit(
        config,
        &config.settings.service,
        &mut Vec::new(),
        &mut order,
    );
    order
}

fn find_service<'a>(
    containers: &'a [ContainerSummary],
    service: &str,
) -> Option<&'a ContainerSummary> {
    containers.iter().find(|c| {
        c.labels
            .as_ref()
            .and_then(|l| l.get(SERVICE_LABEL))
            .is_some_and(|s| s == service)
    })
}

fn summary_name(container: &ContainerSummary) -> String {
    container
        .names
        .as_ref()
        .and_then(|n| n.first())
        .map(|n| n.trim_start_matches('/').to_string())
        .or_else(|| container.id.clone())
        .unwrap_or_default()
}
