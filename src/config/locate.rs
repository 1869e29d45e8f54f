//! Finding the Compose file as Compose does: `-f`/`--file`, else `COMPOSE_FILE`, else the first
//! of Compose's file names in the current folder or the nearest folder above it. devdb's own
//! layout, `compose/docker-compose.yaml`, is looked for at each level after Compose's names.
//! A directory that bears one of those names stops the walk and is reported as what it is.

use std::path::{Path, PathBuf};

use super::ConfigError;

/// Compose's default file names, in its order of preference.
pub const COMPOSE_FILE_NAMES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// devdb's convention: the Compose file in a `compose/` folder at the repository root.
pub const DEVDB_FILE: &str = "compose/docker-compose.yaml";

/// The Compose file to read. `explicit` (`--file`) wins, then `COMPOSE_FILE`, then the walk up
/// from `start`. Relative paths are taken from `start`.
pub fn locate(explicit: Option<&Path>, start: &Path) -> Result<PathBuf, ConfigError> {
    if let Some(path) = explicit {
        return Ok(start.join(path));
    }
    if let Some(list) = std::env::var_os("COMPOSE_FILE").filter(|v| !v.is_empty()) {
        let list = list.to_string_lossy().into_owned();
        let separator = std::env::var("COMPOSE_PATH_SEPARATOR").unwrap_or_else(|_| ":".into());
        let files: Vec<&str> = list
            .split(separator.as_str())
            .filter(|f| !f.is_empty())
            .collect();
        return match files.as_slice() {
            [one] => Ok(start.join(one)),
            _ => Err(ConfigError::Invalid {
                path: PathBuf::from("COMPOSE_FILE"),
                message: format!(
                    "`{list}` names {} files; devdb reads a single Compose file, so merged \
                     overrides are not supported",
                    files.len()
                ),
                hint: Some("pass the file that defines the database service with --file".into()),
            }),
        };
    }
    start
        .ancestors()
        .find_map(|dir| {
            COMPOSE_FILE_NAMES
                .iter()
                .map(|name| dir.join(name))
                .chain([dir.join(DEVDB_FILE)])
                // A directory of such a name (Docker makes one when it bind-mounts a file
                // that does not exist) is reported by `read_compose_file`, not skipped.
                .find(|candidate| candidate.exists())
        })
        .ok_or_else(|| ConfigError::NotFound {
            start: start.to_path_buf(),
        })
}

/// The file's text, with errors that say what the path is when it is not a file.
pub fn read_compose_file(path: &Path) -> Result<String, ConfigError> {
    if path.is_dir() {
        let inside: Vec<String> = COMPOSE_FILE_NAMES
            .iter()
            .map(|name| path.join(name))
            .filter(|p| p.is_file())
            .map(|p| p.display().to_string())
            .collect();
        return Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            message: "this is a directory, not a Compose file".into(),
            hint: Some(match inside.first() {
                    Some(file) => format!("pass the file itself: --file {file}"),
                    None => "pass the path of the YAML file itself with --file; if this folder \
                             was meant to be the file (Docker creates an empty folder when it \
                             bind-mounts a file that does not exist), remove it and restore the file"
                        .to_string(),
            }),
        });
    }
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "services: {}\n").unwrap();
    }

    #[test]
    fn walks_up_and_prefers_compose_names_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let deep = root.join("packages/app/src");
        std::fs::create_dir_all(&deep).unwrap();
        touch(&root.join("compose/docker-compose.yaml"));
        assert_eq!(
            locate(None, &deep).unwrap(),
            root.join("compose/docker-compose.yaml")
        );
        touch(&root.join("docker-compose.yml"));
        assert_eq!(
            locate(None, &deep).unwrap(),
            root.join("docker-compose.yml")
        );
        touch(&root.join("compose.yaml"));
        assert_eq!(locate(None, &deep).unwrap(), root.join("compose.yaml"));
        touch(&root.join("packages/app/docker-compose.yaml"));
        assert_eq!(
            locate(None, &deep).unwrap(),
            root.join("packages/app/docker-compose.yaml"),
            "the nearest folder wins"
        );
        assert_eq!(
            locate(Some(Path::new("x.yaml")), &deep).unwrap(),
            deep.join("x.yaml")
        );
    }

    #[test]
    fn a_directory_is_not_a_compose_file() {
        let dir = tempfile::tempdir().unwrap();
        touch(&dir.path().join("compose.yaml"));
        let err = read_compose_file(dir.path()).unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");
        let hint = err.hint().unwrap_or_default();
        assert!(
            hint.contains("--file") && hint.contains("compose.yaml"),
            "{hint}"
        );
    }

    #[test]
    fn a_directory_named_like_a_compose_file_stops_the_walk() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("compose.yaml")).unwrap();
        let found = locate(None, dir.path()).unwrap();
        assert_eq!(found, dir.path().join("compose.yaml"));
        let err = read_compose_file(&found).unwrap_err();
        let hint = err.hint().unwrap_or_default();
        assert!(err.to_string().contains("is a directory"), "{err}");
        assert!(
            hint.contains("remove it") && !err.to_string().contains("remove it"),
            "{hint}"
        );
    }
}
