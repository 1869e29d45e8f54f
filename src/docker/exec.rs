//! A command run inside a running container (`docker exec` through the API), its output
//! captured. devdb uses it where a tool must be the server's own version, such as pg_dump of
//! the local database: the container's pg_dump is exactly its server's. Like a job, an exec
//! never carries a secret in its command or environment (`docker inspect` shows both).

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures_util::StreamExt;

use super::{DockerError, Engine};

/// What the command printed and how it ended.
pub struct ExecOutput {
    pub stdout: String,
    pub stderr: String,
    pub exit_code: i64,
}

impl Engine {
    /// Runs `cmd` in `container` as `user` and waits for it; a non-zero exit is not an error
    /// here (the caller knows what the tool's codes mean).
    pub async fn exec_capture(
        &self,
        container: &str,
        user: &str,
        cmd: &[&str],
    ) -> Result<ExecOutput, DockerError> {
        let action = || format!("running `{}` in container {container}", cmd.join(" "));
        let options = CreateExecOptions {
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(false),
            user: Some(user),
            cmd: Some(cmd.to_vec()),
            ..Default::default()
        };
        let exec = self
            .docker
            .create_exec(container, options)
            .await
            .map_err(DockerError::api(action()))?;
        let start = StartExecOptions {
            detach: false,
            tty: false,
            output_capacity: None,
        };
        let started = self.docker.start_exec(&exec.id, Some(start)).await;
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        if let StartExecResults::Attached { mut output, .. } =
            started.map_err(DockerError::api(action()))?
        {
            while let Some(chunk) = output.next().await {
                match chunk.map_err(DockerError::api(action()))? {
                    LogOutput::StdOut { message } => stdout.extend_from_slice(&message),
                    LogOutput::StdErr { message } => stderr.extend_from_slice(&message),
                    _ => {}
                }
            }
        }
        let inspected = self
            .docker
            .inspect_exec(&exec.id)
            .await
            .map_err(DockerError::api(action()))?;
        Ok(ExecOutput {
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            exit_code: inspected.exit_code.unwrap_or(-1),
        })
    }
}
