//! One-shot job containers (the db-copy job): run on the project network, stream stderr to
//! the terminal, capture stdout, and turn a non-zero exit code into an error.
//!
//! A job never carries a secret in its configuration (`docker inspect` shows env and args): a
//! password is copied into the container as a 0600 file that `PGPASSFILE` names. Jobs are
//! created with auto-remove (a killed devdb leaves nothing once the job ends), and a guard
//! removes the container on every exit path of devdb, Ctrl-C included.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

use bollard::container::LogOutput;
use bollard::models::{ContainerCreateBody, HostConfig, NetworkConnectRequest};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, ListContainersOptionsBuilder,
    RemoveContainerOptionsBuilder, UploadToContainerOptions, WaitContainerOptions,
};
use bollard::Docker;
use futures_util::StreamExt;

use super::names::*;
use super::{is_not_found, DockerError, Engine};
use crate::config::Config;

/// Where the password file goes inside the job container.
const PASSFILE_DIR: &str = "/tmp";
const PASSFILE_NAME: &str = "devdb.pgpass";

/// What a job printed and how it ended.
pub struct JobOutput {
    pub stdout: String,
    pub stderr_tail: String,
}

/// One run of a job image.
#[derive(Default)]
pub struct Job {
    pub args: Vec<String>,
    /// Environment entries (`KEY=value`); never a secret.
    pub env: Vec<String>,
    /// The server password, handed over in a 0600 `PGPASSFILE` inside the container.
    pub password: Option<String>,
    /// A second network, for a job that must reach a container outside the project.
    pub also_on: Option<String>,
}

/// Jobs running in this process; Ctrl-C during one is handled by the job itself.
static JOBS_RUNNING: AtomicUsize = AtomicUsize::new(0);
static DEFAULT_CTRL_C: Once = Once::new();

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
        let job = Job {
            args,
            env,
            password: None,
            also_on: also_on.map(str::to_string),
        };
        let image_id = self.job_service_image(config, service_name).await?;
        self.run_job_image(config, service_name, &image_id, job)
            .await
    }

    /// The image of the job service `service_name` of the file (built or pulled when missing).
    pub async fn job_service_image(
        &self,
        config: &Config,
        service_name: &str,
    ) -> Result<String, DockerError> {
        let service =
            config
                .services
                .get(service_name)
                .ok_or_else(|| DockerError::UnknownService {
                    service: service_name.to_string(),
                    file: config.file.display().to_string(),
                })?;
        Ok(self.ensure_image(service, false).await?.0)
    }

    /// Runs `image_id` once as the project's job `job_name`.
    pub async fn run_job_image(
        &self,
        config: &Config,
        job_name: &str,
        image_id: &str,
        job: Job,
    ) -> Result<JobOutput, DockerError> {
        self.ensure_network(&config.project).await?;
        let name = format!(
            "{}-{job_name}-run-{}",
            config.project,
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let labels = HashMap::from([
            (PROJECT_LABEL.to_string(), config.project.clone()),
            (SERVICE_LABEL.to_string(), job_name.to_string()),
            (ONEOFF_LABEL.to_string(), "True".to_string()),
        ]);
        let mut env = job.env;
        if job.password.is_some() {
            env.push(format!("PGPASSFILE={PASSFILE_DIR}/{PASSFILE_NAME}"));
        }
        let body = ContainerCreateBody {
            image: Some(image_id.to_string()),
            cmd: Some(job.args),
            env: Some(env),
            labels: Some(labels),
            host_config: Some(HostConfig {
                network_mode: Some(network_name(&config.project)),
                auto_remove: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        self.docker
            .create_container(Some(options), body)
            .await
            .map_err(DockerError::api(format!("creating job container {name}")))?;
        let guard = JobGuard {
            docker: self.docker.clone(),
            name: Some(name.clone()),
        };
        JOBS_RUNNING.fetch_add(1, Ordering::SeqCst);
        let result = tokio::select! {
            result = self.prepare_and_follow(&name, job_name, job.password.as_deref(), job.also_on.as_deref()) => result,
            _ = tokio::signal::ctrl_c() => Err(DockerError::Interrupted { job: job_name.to_string() }),
        };
        JOBS_RUNNING.fetch_sub(1, Ordering::SeqCst);
        exit_on_later_ctrl_c();
        guard.remove().await;
        result
    }

    async fn prepare_and_follow(
        &self,
        name: &str,
        job_name: &str,
        password: Option<&str>,
        also_on: Option<&str>,
    ) -> Result<JobOutput, DockerError> {
        if let Some(password) = password {
            let archive = passfile_archive(password)
                .map_err(|e| DockerError::Job(format!("preparing the password file: {e}")))?;
            let options = UploadToContainerOptions {
                path: PASSFILE_DIR.to_string(),
                ..Default::default()
            };
            self.docker
                .upload_to_container(name, Some(options), bollard::body_full(archive.into()))
                .await
                .map_err(DockerError::api(format!(
                    "copying the password file into {name}"
                )))?;
        }
        if let Some(network) = also_on {
            let request = NetworkConnectRequest {
                container: name.to_string(),
                endpoint_config: None,
            };
            self.docker
                .connect_network(network, request)
                .await
                .map_err(DockerError::api(format!("connecting {name} to {network}")))?;
        }
        self.follow_job(name, job_name).await
    }

    /// Starts the job and reads its output to the end. The exit-code wait and the output are
    /// both attached before the start, because an auto-removed container is gone right after.
    async fn follow_job(&self, name: &str, job_name: &str) -> Result<JobOutput, DockerError> {
        let docker = self.docker.clone();
        let waited_name = name.to_string();
        let exit = tokio::spawn(async move {
            let options = WaitContainerOptions {
                condition: "next-exit".to_string(),
            };
            docker
                .wait_container(&waited_name, Some(options))
                .next()
                .await
        });
        let attach = AttachContainerOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .stream(true)
            .logs(true)
            .build();
        let mut output = self
            .docker
            .attach_container(name, Some(attach))
            .await
            .map_err(DockerError::api(format!("attaching to {name}")))?
            .output;
        self.docker
            .start_container(name, None)
            .await
            .map_err(DockerError::api(format!("starting job container {name}")))?;
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        while let Some(chunk) = output.next().await {
            match chunk.map_err(DockerError::api(format!("reading the output of {name}")))? {
                LogOutput::StdOut { message } => stdout.extend_from_slice(&message),
                LogOutput::StdErr { message } | LogOutput::Console { message } => {
                    self.shell.passthrough(&String::from_utf8_lossy(&message));
                    stderr.extend_from_slice(&message);
                }
                LogOutput::StdIn { .. } => {}
            }
        }
        let exit_code = match exit.await {
            Ok(Some(Ok(response))) => response.status_code,
            // bollard reports a non-zero exit as an error carrying the code.
            Ok(Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. }))) => code,
            Ok(Some(Err(e))) => return Err(DockerError::api(format!("waiting for {name}"))(e)),
            Ok(None) | Err(_) => -1,
        };
        let stderr_tail = last_lines(&String::from_utf8_lossy(&stderr), 10);
        if exit_code != 0 {
            return Err(DockerError::JobFailed {
                service: job_name.to_string(),
                exit_code,
                stderr: stderr_tail,
            });
        }
        Ok(JobOutput {
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr_tail,
        })
    }

    /// The container publishing `host_port` on the client's 127.0.0.1: where a job container
    /// can reach it directly (a network of its and its address there) and on which container
    /// port. Only a local engine's containers are the client's 127.0.0.1: on a remote engine
    /// that address is the client's machine, which no job there reaches, and a container of
    /// the engine publishing the same port would be somebody else's. `what` names the service
    /// there (`stage X`), `ways_out` what the user can do instead, for that error.
    pub async fn container_publishing(
        &self,
        host_port: u16,
        what: &str,
        ways_out: &str,
    ) -> Result<Option<PublishedBy>, DockerError> {
        if self.endpoint.is_remote() {
            return Err(DockerError::ClientLoopback {
                what: what.to_string(),
                port: host_port,
                host: self.endpoint.host.clone(),
                ways_out: ways_out.to_string(),
            });
        }
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

/// Removes the job container when dropped, whatever ended the job (an error, a panic, a
/// cancelled future); `remove` does it without blocking on the normal path.
struct JobGuard {
    docker: Docker,
    /// None once removed.
    name: Option<String>,
}

impl JobGuard {
    async fn remove(mut self) {
        if let Some(name) = self.name.take() {
            remove_job(&self.docker, &name).await;
        }
    }
}

impl Drop for JobGuard {
    fn drop(&mut self) {
        let Some(name) = self.name.take() else {
            return;
        };
        let docker = self.docker.clone();
        // Drop may run inside the runtime: remove from a thread with its own runtime.
        let cleanup = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                runtime.block_on(remove_job(&docker, &name));
            }
        });
        let _ = cleanup.join();
    }
}

/// Force-removes a job container; already gone (auto-removed) or being removed is fine.
async fn remove_job(docker: &Docker, name: &str) {
    let options = RemoveContainerOptionsBuilder::default()
        .force(true)
        .v(true)
        .build();
    let _ = match docker.remove_container(name, Some(options)).await {
        Err(e) if is_not_found(&e) => Ok(()),
        other => other,
    };
}

/// Once a job has taken over Ctrl-C (tokio keeps its handler installed for the life of the
/// process), Ctrl-C outside a job ends the process as it did before, with the usual code.
fn exit_on_later_ctrl_c() {
    DEFAULT_CTRL_C.call_once(|| {
        tokio::spawn(async {
            loop {
                if tokio::signal::ctrl_c().await.is_err() {
                    return;
                }
                if JOBS_RUNNING.load(Ordering::SeqCst) == 0 {
                    std::process::exit(130);
                }
            }
        });
    });
}

/// A tar holding `devdb.pgpass` (mode 0600, owned by root) that matches any server.
fn passfile_archive(password: &str) -> std::io::Result<Vec<u8>> {
    let escaped = password.replace('\\', "\\\\").replace(':', "\\:");
    let content = format!("*:*:*:*:{escaped}\n");
    let mut header = tar::Header::new_gnu();
    header.set_path(PASSFILE_NAME)?;
    header.set_size(content.len() as u64);
    header.set_mode(0o600);
    header.set_uid(0);
    header.set_gid(0);
    header.set_cksum();
    let mut builder = tar::Builder::new(Vec::new());
    builder.append(&header, content.as_bytes())?;
    builder.into_inner()
}

fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..]
        .iter()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A container behind a published port, as seen from other containers.
#[derive(Debug, Clone)]
pub struct PublishedBy {
    pub network: String,
    pub address: String,
    pub container_port: u16,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_file_escapes_separators_and_is_private() {
        let archive = passfile_archive(r"a:b\c").unwrap();
        let mut reader = tar::Archive::new(archive.as_slice());
        let mut entry = reader.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(entry.header().mode().unwrap(), 0o600);
        let mut content = String::new();
        std::io::Read::read_to_string(&mut entry, &mut content).unwrap();
        assert_eq!(content, "*:*:*:*:a\\:b\\\\c\n");
    }
}
