//! The optional `post-checkout` hook: git runs it after every checkout, so the database follows
//! the branch even before the next devdb command. An existing hook is never overwritten: it is
//! refused, or (`--chain`) devdb's lines are appended to it.

use std::path::Path;

use super::BranchError;

/// Marks devdb's lines in a hook, so installing twice changes nothing.
pub const MARK: &str = "# devdb: a database per git branch";

/// Lines run on a branch checkout (git passes 1 as the third argument), failing quietly:
/// a hook's failure must not make the checkout look failed.
fn lines() -> String {
    format!(
        "{MARK}\nif [ \"$3\" = 1 ] && command -v devdb >/dev/null 2>&1; then devdb branch status --quiet >/dev/null || true; fi\n"
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Installed {
    Written,
    Chained,
    AlreadyThere,
}

/// Installs the hook at `path` (chaining onto an existing one only when `chain`).
pub fn install(path: &Path, chain: bool) -> Result<Installed, BranchError> {
    let io = |action: &'static str| {
        move |error| BranchError::Io {
            action,
            path: path.display().to_string(),
            error,
        }
    };
    let outcome = match std::fs::read_to_string(path) {
        Ok(text) if text.contains(MARK) => return Ok(Installed::AlreadyThere),
        Ok(_) if !chain => {
            return Err(BranchError::HookExists {
                path: path.display().to_string(),
            })
        }
        Ok(text) => {
            let sep = if text.ends_with('\n') { "" } else { "\n" };
            std::fs::write(path, format!("{text}{sep}{}", lines()))
                .map_err(io("writing the hook"))?;
            Installed::Chained
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(io("creating the hooks folder"))?;
            }
            std::fs::write(path, format!("#!/bin/sh\n{}", lines()))
                .map_err(io("writing the hook"))?;
            Installed::Written
        }
        Err(e) => return Err(io("reading the hook")(e)),
    };
    make_executable(path).map_err(io("making the hook executable"))?;
    Ok(outcome)
}

fn make_executable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut permissions = std::fs::metadata(path)?.permissions();
    permissions.set_mode(permissions.mode() | 0o755);
    std::fs::set_permissions(path, permissions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_existing_hook_is_refused_or_chained_never_clobbered() {
        let dir = std::env::temp_dir().join(format!("devdb-hook-{}", uuid::Uuid::new_v4()));
        let path = dir.join("hooks/post-checkout");
        assert_eq!(install(&path, false).unwrap(), Installed::Written);
        assert_eq!(install(&path, false).unwrap(), Installed::AlreadyThere);
        std::fs::write(&path, "#!/bin/sh\necho mine").unwrap();
        assert!(matches!(
            install(&path, false),
            Err(BranchError::HookExists { .. })
        ));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "#!/bin/sh\necho mine"
        );
        assert_eq!(install(&path, true).unwrap(), Installed::Chained);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("#!/bin/sh\necho mine\n") && text.contains(MARK),
            "{text}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
