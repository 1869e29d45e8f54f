//! Compose's naming and labelling conventions, so `docker compose` and devdb see the same things.

use std::collections::HashMap;

pub const PROJECT_LABEL: &str = "com.docker.compose.project";
pub const SERVICE_LABEL: &str = "com.docker.compose.service";
pub const ONEOFF_LABEL: &str = "com.docker.compose.oneoff";
pub const NUMBER_LABEL: &str = "com.docker.compose.container-number";
pub const CONFIG_FILES_LABEL: &str = "com.docker.compose.project.config_files";
pub const WORKING_DIR_LABEL: &str = "com.docker.compose.project.working_dir";
pub const NETWORK_LABEL: &str = "com.docker.compose.network";
pub const VOLUME_LABEL: &str = "com.docker.compose.volume";
/// devdb's own hash of a service's configuration; a change means the container is recreated.
pub const CONFIG_HASH_LABEL: &str = "dev.devdb.config-hash";

pub fn container_name(project: &str, service: &str) -> String {
    format!("{project}-{service}-1")
}

pub fn network_name(project: &str) -> String {
    format!("{project}_default")
}

pub fn volume_name(project: &str, volume: &str) -> String {
    format!("{project}_{volume}")
}

pub fn project_filter(project: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([(
        "label".to_string(),
        vec![format!("{PROJECT_LABEL}={project}")],
    )])
}

/// The user whose projects these are when the engine is shared (remote), for the project
/// name (see config::LoadOptions::owner); None on the local engine. USER, else LOGNAME, else
/// the uid. `host_flag` is `--host`, as for the connection.
pub fn shared_engine_owner(host_flag: Option<&str>) -> Option<String> {
    let endpoint = super::resolve_endpoint(host_flag).ok()?;
    if !endpoint.is_remote() {
        return None;
    }
    let user = ["USER", "LOGNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| format!("uid{}", rustix::process::getuid().as_raw()));
    Some(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_names() {
        assert_eq!(container_name("shop", "postgres"), "shop-postgres-1");
        assert_eq!(network_name("shop"), "shop_default");
        assert_eq!(volume_name("shop", "pgdata"), "shop_pgdata");
    }
}
