//! The one way devdb replaces a file: written to a temporary file in the same folder, then renamed
//! over the old one, so a reader (a concurrent deploy, `docker compose`, another devdb) sees the
//! old file or the new one whole, never an empty or half-written one. At the ground floor, so the
//! Compose file `init` rewrites, the migration lock and a held tunnel's record share it.

use std::io::{self, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

/// Who may read the new file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// As the file it replaces; a new file is a project file (0644, as `fs::write` makes it).
    KeepOr0644,
    /// Its owner only (0600): records that name ports and processes of this user.
    Private,
}

/// Replaces `path` with `bytes` in one rename.
pub fn write(path: &Path, bytes: &[u8], mode: Mode) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(bytes)?;
    let permissions = match mode {
        Mode::Private => std::fs::Permissions::from_mode(0o600),
        Mode::KeepOr0644 => match std::fs::metadata(path) {
            Ok(meta) => meta.permissions(),
            Err(_) => std::fs::Permissions::from_mode(0o644),
        },
    };
    file.as_file().set_permissions(permissions)?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode_of(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_file_is_0644_and_a_replaced_one_keeps_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("compose.yaml");
        write(&path, b"one", Mode::KeepOr0644).unwrap();
        assert_eq!(mode_of(&path), 0o644);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write(&path, b"two", Mode::KeepOr0644).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        assert_eq!(mode_of(&path), 0o640);
    }

    #[test]
    fn a_private_file_is_its_owners_and_no_temporary_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("record");
        write(&path, b"1 2\n", Mode::Private).unwrap();
        assert_eq!(mode_of(&path), 0o600);
        let entries = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(entries, 1);
    }
}
