//! Which database a command acts on: `DEV` (the local one, started if needed) or a remote stage.

use anyhow::Result;
use tokio_postgres::Client;

use crate::config::Config;
use crate::db::stage::{Stage, LOCAL_STAGE};
use crate::db::ConnectionInfo;

pub struct Target {
    pub client: Client,
    /// `DEV` or the stage's name.
    pub stage: String,
    /// Where it points, password redacted.
    pub description: String,
    pub remote: bool,
}

/// True when `stage` names a remote stage rather than the local database.
pub fn is_remote(stage: Option<&str>) -> bool {
    stage.is_some_and(|s| !s.eq_ignore_ascii_case(LOCAL_STAGE))
}

pub async fn open(config: &Config, stage: Option<&str>) -> Result<Target> {
    match stage {
        Some(name) if is_remote(Some(name)) => {
            let stage = Stage::resolve(config, name)?;
            let client = stage.connect(false).await?;
            Ok(Target {
                client,
                stage: stage.name.clone(),
                description: stage.describe(),
                remote: true,
            })
        }
        _ => {
            let local = local_database(config).await?;
            Ok(Target {
                client: local.connect().await?,
                stage: LOCAL_STAGE.to_string(),
                description: local.redacted_url(),
                remote: false,
            })
        }
    }
}

/// Brings the local database up (a no-op in milliseconds when it runs) and says how to reach it.
pub async fn local_database(config: &Config) -> Result<ConnectionInfo> {
    Ok(crate::local::database(config).await?)
}
