//! One-shot job containers (the db-copy service): run on the project network, stream stderr to
//! the terminal, capture stdout, and turn a non-zero exit code into an error.

use std::collections::HashMap;

use bollard::container::LogOutput;
use bollard::models::{ContainerCreateBody, HostConfig, NetworkConnectRequest};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder,
};
use futures_util::StreamExt;

use super::names::*;
use super::{DockerError, Engine};
use crate::config::Config;

/// What a job printed and how it ended.
pub struct JobOutput {
    pub stdout: String,
    pub stderr_tail: String,
}

impl Engine {
    /// Runs `service` once with `args` and `env`; stderr lines go to our stderr as they come.
    pub async fn run_job(
        &self,
        config: &Config,
        service_name: &str,
        args: Vec<String>,
        env: Vec<String>,
        also_on: Option<&str>,
    ) -> Result<JobOutput, DockerError> {
        let service = config
            .services
            .get(service_name)
            .ok_or_else(|| DockerError::NotCreated {
                service: service_name.to_string(),
            })?;
        let (image_id, _) = self.ensure_image(service, false).await?;
        self.ensure_network(&config.project).await?;
        let name = format!(
            "{}-{service_name}-run-{}",
            config.project,
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let labels = HashMap::from([
            (PROJECT_LABEL.to_string(), config.project.clone()),
            (SERVICE_LABEL.to_string(), service_name.to_string()),
            (ONEOFF_LABEL.to_string(), "True".to_string()),
        ]);
        let network = network_name(&config.project);
        let body = ContainerCreateBody {
            image: Some(image_id),
            cmd: Some(args),
            env: Some(env),
            labels: Some(labels),
            host_config: Some(HostConfig {
                network_mode: Some(network),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        self.docker
            .create_container(Some(options), body)
            .await
            .map_err(DockerError::api(format!("creating job container {name}")))?;
        let result = match also_on {
            // A second network, for a job that must reach a container outside the project.
            Some(network) => {
                let request = NetworkConnectRequest {
                    container: name.clone(),
                    endpoint_config: None,
                };
                match self.docker.connect_network(network, request).await {
                    Ok(()) => self.follow_job(&name, service_name).await,
                    Err(e) => Err(DockerError::api(format!("connecting {name} to {network}"))(
                        e,
                    )),
                }
            }
            None => self.follow_job(&name, service_name).await,
        };
        self.remove_container(&name).await?;
        result
    }

    async fn follow_job(&self, name: &str, service: &str) -> Result<JobOutput, DockerError> {
        self.docker
            .start_container(name, None)
            .await
            .map_err(DockerError::api(format!("starting job container {name}")))?;
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .follow(true)
            .build();
        let mut logs = self.docker.logs(name, Some(options));
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        while let Some(chunk) = logs.next().await {
            match chunk.map_err(DockerError::api(format!("reading the log of {name}")))? {
                LogOutput::StdOut { message } => stdout.extend_from_slice(&message),
                LogOutput::StdErr { message } | LogOutput::Console { message } => {
                    crate::progress::passthrough(&String::from_utf8_lossy(&message));
                    stderr.extend_from_slice(&message);
                }
                LogOutput::StdIn { .. } => {}
            }
        }
        let mut wait = self.docker.wait_container(
            name,
            None::<bollard::query_parameters::WaitContainerOptions>,
        );
        let exit_code = match wait.next().await {
            Some(Ok(response)) => response.status_code,
            // bollard reports a non-zero exit as an error carrying the code.
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
            Some(Err(e)) => return Err(DockerError::api(format!("waiting for {name}"))(e)),
            None => -1,
        };
        let stderr_text = String::from_utf8_lossy(&stderr).into_owned();
        let tail: Vec<&str> = stderr_text
            .lines()
            .rev()
            .take(10)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let stderr_tail = tail
            .iter()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n");
        if exit_code != 0 {
            return Err(DockerError::JobFailed {
                service: service.to_string(),
                exit_code,
                stderr: stderr_tail,
            });
        }
        Ok(JobOutput {
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr_tail,
        })
    }

    /// The container publishing `host_port` on 127.0.0.1: where a job container can reach it
    /// directly (a network of its and its address there) and on which container port.
    pub async fn container_publishing(
        &self,
        host_port: u16,
    ) -> Result<Option<PublishedBy>, DockerError> {
        let containers = self
            .docker
            .list_containers(Some(ListContainersOptionsBuilder::default().build()))
            .await
            .map_err(DockerError::api("listing containers"))?;
        for container in containers {
            let Some(port) = container
                .ports
                .iter()
                .flatten()
                .find(|p| p.public_port == Some(host_port))
            else {
                continue;
            };
            let networks = container
                .network_settings
                .and_then(|n| n.networks)
                .unwrap_or_default();
            if let Some((network, endpoint)) = networks
                .into_iter()
                .find(|(_, e)| e.ip_address.as_deref().is_some_and(|ip| !ip.is_empty()))
            {
                return Ok(Some(PublishedBy {
                    network,
                    address: endpoint.ip_address.unwrap_or_default(),
                    container_port: port.private_port,
                }));
            }
        }
        Ok(None)
    }
}

/// A container behind a published port, as seen from other containers.
#[derive(Debug, Clone)]
pub struct PublishedBy {
    pub network: String,
    pub address: String,
    pub container_port: u16,
}
