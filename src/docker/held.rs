//! The tunnels `devdb tunnel` holds, found again by other devdb commands. A command over a
//! remote engine's loopback mapping otherwise opens its own tunnel, and its first connection
//! waits for the engine to start a forwarder exec (tens of milliseconds idle, hundreds under
//! load); while a `devdb tunnel` for the same engine and container runs, its port (with a
//! forwarder always started ahead) is used instead.
//!
//! A held tunnel leaves a record (`PID PORT`) in a folder only its user can read, named by a
//! digest of the engine, the container and the port. A record is trusted only while its
//! process runs this same devdb binary and itself listens on that port of 127.0.0.1 (read
//! from /proc: Linux only; elsewhere, and for a stale record, each command tunnels alone),
//! so the password never goes to a port someone else took over.

use std::path::{Path, PathBuf};

/// The record of a tunnel this process holds; removed when dropped.
pub struct HeldRecord {
    path: PathBuf,
}

impl Drop for HeldRecord {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Records that this process holds a tunnel on 127.0.0.1:`local_port` to `container_port` of
/// `container` on the engine `host`. None when the folder cannot be written (nothing is
/// shared then; the tunnel works all the same).
pub fn record(
    host: &str,
    container: &str,
    container_port: u16,
    local_port: u16,
) -> Option<HeldRecord> {
    record_in(&records_dir()?, host, container, container_port, local_port)
}

fn record_in(
    dir: &Path,
    host: &str,
    container: &str,
    container_port: u16,
    local_port: u16,
) -> Option<HeldRecord> {
    create_private_dir(dir).ok()?;
    let path = dir.join(key(host, container, container_port));
    let text = format!("{} {local_port}\n", std::process::id());
    crate::atomic::write(&path, text.as_bytes(), crate::atomic::Mode::Private).ok()?;
    Some(HeldRecord { path })
}

/// The local port of a tunnel another devdb process holds to `container_port` of `container`
/// on the engine `host`, when its record can be trusted (see the file's comment).
pub fn find(host: &str, container: &str, container_port: u16) -> Option<u16> {
    find_in(&records_dir()?, host, container, container_port)
}

fn find_in(dir: &Path, host: &str, container: &str, container_port: u16) -> Option<u16> {
    let path = dir.join(key(host, container, container_port));
    let text = std::fs::read_to_string(path).ok()?;
    let mut fields = text.split_whitespace();
    let pid: u32 = fields.next()?.parse().ok()?;
    let port: u16 = fields.next()?.parse().ok()?;
    (pid != std::process::id() && listens(pid, port)).then_some(port)
}

fn key(host: &str, container: &str, container_port: u16) -> String {
    let digest =
        crate::digest::sha256_hex(format!("{host}\n{container}\n{container_port}").as_bytes());
    format!("tunnel-{}", &digest[..32])
}

/// `$XDG_RUNTIME_DIR/devdb`, else `~/.cache/devdb/tunnels`.
fn records_dir() -> Option<PathBuf> {
    let set = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(runtime) = set("XDG_RUNTIME_DIR") {
        return Some(PathBuf::from(runtime).join("devdb"));
    }
    Some(PathBuf::from(set("HOME")?).join(".cache/devdb/tunnels"))
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// True when process `pid` runs this devdb binary and holds a socket listening on
/// 127.0.0.1:`port`.
#[cfg(target_os = "linux")]
fn listens(pid: u32, port: u16) -> bool {
    let proc = PathBuf::from(format!("/proc/{pid}"));
    let same_binary = std::fs::read_link(proc.join("exe"))
        .ok()
        .zip(std::env::current_exe().ok())
        .is_some_and(|(theirs, ours)| theirs == ours);
    if !same_binary {
        return false;
    }
    let Some(inode) = listening_inode(port) else {
        return false;
    };
    let socket = format!("socket:[{inode}]");
    std::fs::read_dir(proc.join("fd")).is_ok_and(|fds| {
        fds.flatten().any(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|link| link.as_os_str() == socket.as_str())
        })
    })
}

#[cfg(not(target_os = "linux"))]
fn listens(_pid: u32, _port: u16) -> bool {
    false
}

/// The inode of the socket listening on 127.0.0.1:`port`, from /proc/net/tcp (addresses in
/// hex, the IPv4 one in the kernel's byte order; state 0A is LISTEN).
#[cfg(target_os = "linux")]
fn listening_inode(port: u16) -> Option<String> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let local = format!("0100007F:{port:04X}");
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.get(1) == Some(&local.as_str()) && fields.get(3) == Some(&"0A"))
            .then(|| fields.get(9).map(|inode| inode.to_string()))
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_found_only_while_its_listener_is_ours() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path().join("devdb");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let engine = "tcp://10.0.0.1:2376";
        let held = record_in(&dir, engine, "c-postgres-1", 5432, port).unwrap();
        // This process's own record is not "another" tunnel.
        assert_eq!(find_in(&dir, engine, "c-postgres-1", 5432), None);
        // A record naming a process that does not hold the port is not trusted.
        let path = held.path.clone();
        std::fs::write(&path, format!("1 {port}\n")).unwrap();
        assert_eq!(find_in(&dir, engine, "c-postgres-1", 5432), None);
        assert_eq!(find_in(&dir, engine, "other-postgres-1", 5432), None);
        assert!(listens(std::process::id(), port) || cfg!(not(target_os = "linux")));
        drop(listener);
        assert!(!listens(std::process::id(), port));
        drop(held);
        assert!(!path.exists());
    }
}
