//! Which database a command acts on: `DEV` (the local one, started if needed) or a remote stage.

use anyhow::Result;
use tokio_postgres::Client;

use super::Ctx;
use crate::db::stage::LOCAL_STAGE;

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

pub async fn open(ctx: &Ctx, stage: Option<&str>) -> Result<Target> {
    match stage {
        Some(name) if is_remote(Some(name)) => {
            let stage = ctx.stage(name).await?;
            let client = stage.connect(false).await?;
            Ok(Target {
                client,
                stage: stage.name.clone(),
                description: stage.describe(),
                remote: true,
            })
        }
        _ => {
            let local = ctx.local().await?;
            Ok(Target {
                client: local.connect().await?,
                stage: LOCAL_STAGE.to_string(),
                description: local.redacted_url(),
                remote: false,
            })
        }
    }
}
