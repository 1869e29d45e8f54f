//! One function per user-visible operation, as cargo's `ops`: each takes resolved inputs and a
//! context and returns a typed report; it prints only progress (through the Shell), never its
//! result, so `commands/` decides text or JSON. This is the only floor that resolves stages and
//! opens the local database, so each happens once per command.

pub mod branch;
pub mod copy;
pub mod devloop;
pub mod init;
pub mod lint;
pub mod migrate;
pub mod services;
pub mod snapshot;
pub mod target;
pub mod workflow;

use tokio::sync::OnceCell;

use crate::config::Config;
use crate::db::stage::Stage;
use crate::db::{ConnectionInfo, DbError};
use crate::docker::{DockerError, Engine};
use crate::shell::Shell;

/// What every operation runs with: the loaded configuration, the output, and (made on first
/// use, once per process) the engine and the local database.
pub struct Ctx {
    pub config: Config,
    pub shell: Shell,
    /// `--host`: the engine to use instead of DOCKER_HOST or the Docker context.
    docker_host: Option<String>,
    engine: OnceCell<Engine>,
    local: OnceCell<ConnectionInfo>,
}

impl Ctx {
    pub fn new(config: Config, shell: Shell, docker_host: Option<String>) -> Ctx {
        Ctx {
            config,
            shell,
            docker_host,
            engine: OnceCell::new(),
            local: OnceCell::new(),
        }
    }

    pub async fn engine(&self) -> Result<&Engine, DockerError> {
        self.engine
            .get_or_try_init(|| Engine::connect(&self.shell, self.docker_host.as_deref()))
            .await
    }

    /// The local database, brought up (a no-op in milliseconds when it runs) on first use,
    /// and (branches on) the checked-out branch's.
    pub async fn local(&self) -> anyhow::Result<&ConnectionInfo> {
        let engine = self.engine().await?;
        self.local
            .get_or_try_init(|| async {
                let local = crate::local::database(engine, &self.config).await?;
                branch::follow(&self.shell, engine, &self.config, &local).await?;
                Ok(local)
            })
            .await
    }

    /// Resolves a stage (its `url_command` runs here) and prints its warnings, once.
    pub async fn stage(&self, name: &str) -> Result<Stage, DbError> {
        let stage = Stage::resolve(&self.config, name).await?;
        for warning in &stage.warnings {
            self.shell.note(warning);
        }
        Ok(stage)
    }
}
