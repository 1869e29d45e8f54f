//! A lock per (engine, project) held while devdb creates the project's shared resources.
//!
//! The engine does not refuse a second network of the same name, and inspect-then-create is a
//! race that two `devdb up`s on a fresh project lose often enough to matter (two networks, then
//! "network is ambiguous"). An OS file lock (`flock`) serializes them: the second up waits a few
//! milliseconds and then finds the network. The kernel drops the lock when the process dies, so a
//! killed `up` never leaves it held.

use std::fs::{File, OpenOptions};
use std::path::PathBuf;

use super::DockerError;

/// Held until dropped.
pub(super) struct ProjectLock {
    _file: File,
}

/// Waits for the lock of `project` on the engine at `host` (other projects and engines never wait).
pub(super) async fn project_lock(host: &str, project: &str) -> Result<ProjectLock, DockerError> {
    let path = lock_path(host, project);
    tokio::task::spawn_blocking(move || {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            // Another user's lock file on a shared machine: a read handle locks as well.
            .or_else(|_| File::open(&path))
            .map_err(|e| lock_error(&path, &e))?;
        file.lock().map_err(|e| lock_error(&path, &e))?;
        Ok(ProjectLock { _file: file })
    })
    .await
    .map_err(|e| DockerError::Job(format!("waiting for the project lock: {e}")))?
}

fn lock_path(host: &str, project: &str) -> PathBuf {
    let dir = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|d| d.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    let key = crate::digest::sha256_hex(format!("{host}\n{project}").as_bytes());
    dir.join(format!("devdb-{}.lock", &key[..16]))
}

fn lock_error(path: &std::path::Path, error: &std::io::Error) -> DockerError {
    DockerError::Job(format!(
        "cannot lock {} (serializes concurrent `devdb up`s): {error}; check that folder's permissions or set XDG_RUNTIME_DIR to a writable one",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_lock_per_engine_and_project() {
        let a = lock_path("unix:///var/run/docker.sock", "app");
        assert_eq!(a, lock_path("unix:///var/run/docker.sock", "app"));
        assert_ne!(a, lock_path("unix:///var/run/docker.sock", "other"));
        assert_ne!(a, lock_path("tcp://10.0.0.2:2376", "app"));
    }

    #[tokio::test]
    async fn a_second_holder_waits_for_the_first() {
        let project = format!("lock-test-{}", std::process::id());
        let first = project_lock("test://", &project).await.unwrap();
        let second = tokio::spawn(async move { project_lock("test://", &project).await });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(!second.is_finished(), "the second lock did not wait");
        drop(first);
        let waited = tokio::time::timeout(std::time::Duration::from_secs(5), second).await;
        assert!(waited.is_ok(), "the second lock was never granted");
    }
}
