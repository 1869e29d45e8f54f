//! The variables a Compose file is interpolated with, gathered as Compose gathers them: the
//! process environment wins over env files; the env files are the `--env-file`s given (a later
//! one wins), else `.env` in the project directory. `.env` syntax is dotenvy's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::interpolate::interpolate_tracking;
use super::ConfigError;

#[derive(Debug, Clone, Default)]
pub struct Variables {
    values: super::SecretMap,
    /// The env files read, for hints on where to set a variable.
    pub files: Vec<PathBuf>,
    /// Where `.env` is looked up when no `--env-file` is given.
    pub default_file: PathBuf,
}

impl Variables {
    /// Reads `env_files` (or, when none is given, `project_dir/.env` and then `configured`,
    /// x-devdb.env_files), then the environment.
    pub fn gather(
        env_files: &[PathBuf],
        project_dir: &Path,
        configured: &[PathBuf],
    ) -> Result<Variables, ConfigError> {
        let default_file = project_dir.join(".env");
        let mut variables = Variables {
            default_file: default_file.clone(),
            ..Variables::default()
        };
        if env_files.is_empty() {
            if default_file.is_file() {
                variables.read_file(&default_file)?;
            }
            for file in configured {
                variables.read_file(file)?;
            }
        } else {
            for file in env_files {
                variables.read_file(file)?;
            }
        }
        // A variable whose name or value is not UTF-8 cannot appear in a YAML file: skip it.
        let environment = std::env::vars_os()
            .filter_map(|(key, value)| Some((key.into_string().ok()?, value.into_string().ok()?)));
        variables.values.extend(environment);
        Ok(variables)
    }

    /// Variables given directly (tests, and callers that already hold them).
    pub fn from_map(values: BTreeMap<String, String>) -> Variables {
        Variables {
            values: values.into(),
            ..Variables::default()
        }
    }

    fn read_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        for item in dotenvy::from_read_iter(text.as_bytes()) {
            let (key, value) = item.map_err(|error| env_file_error(path, &text, error))?;
            self.values.insert(key, value);
        }
        self.files.push(path.to_path_buf());
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Interpolates `raw`; a variable that is unset (and has no default) becomes empty and is
    /// added to `unset`.
    pub fn expand(&self, raw: &str, unset: &mut Vec<String>) -> Result<String, String> {
        let lookup = |name: &str| self.values.get(name).cloned();
        interpolate_tracking(raw, &lookup, unset)
    }

    /// Where a missing variable can be set, for error messages.
    pub fn where_to_set(&self) -> String {
        let files: Vec<String> = if self.files.is_empty() {
            vec![self.default_file.display().to_string()]
        } else {
            self.files.iter().map(|f| f.display().to_string()).collect()
        };
        format!(
            "set it in the environment or in {}, or pass the file that holds it with --env-file",
            files.join(" or ")
        )
    }
}

fn env_file_error(path: &Path, text: &str, error: dotenvy::Error) -> ConfigError {
    match error {
        dotenvy::Error::LineParse(line, index) => {
            let number = text
                .lines()
                .position(|l| l.contains(line.trim()))
                .map_or(0, |i| i + 1);
            ConfigError::Syntax {
                path: path.to_path_buf(),
                line: number,
                column: index + 1,
                message: format!("cannot parse `{}` (expected KEY=VALUE)", line.trim()),
                hint: None,
            }
        }
        other => ConfigError::Invalid {
            path: path.to_path_buf(),
            message: other.to_string(),
            hint: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Variables, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, text).unwrap();
        let mut variables = Variables::default();
        variables.read_file(&path).map(|_| variables)
    }

    #[test]
    fn parses_the_forms_compose_accepts() {
        let vars = parse(
            "# comment\nA=1\nexport B=two\nC='lit $X'\nD=\"a\\nb\"\nE=val # note\nF=\nWIN=\"C:\\\\new\"\n",
        )
        .unwrap();
        assert_eq!(vars.get("A"), Some("1"));
        assert_eq!(vars.get("B"), Some("two"));
        assert_eq!(vars.get("C"), Some("lit $X"));
        assert_eq!(vars.get("D"), Some("a\nb"));
        assert_eq!(vars.get("E"), Some("val"));
        assert_eq!(vars.get("F"), Some(""));
        assert_eq!(
            vars.get("WIN"),
            Some("C:\\new"),
            "a backslash is not a newline"
        );
    }

    #[test]
    fn names_the_bad_line() {
        match parse("A=1\nnot a definition\n").unwrap_err() {
            ConfigError::Syntax { line, message, .. } => {
                assert_eq!(line, 2, "{message}");
                assert!(message.contains("not a definition"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn later_env_files_win_and_the_environment_wins_over_all() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.env"), dir.path().join("b.env"));
        std::fs::write(&a, "DEVDB_T1=a\nDEVDB_T2=a\nPATH=nope\n").unwrap();
        std::fs::write(&b, "DEVDB_T2=b\n").unwrap();
        std::fs::write(dir.path().join(".env"), "DEVDB_T3=default\n").unwrap();
        let vars = Variables::gather(&[a, b], dir.path(), &[]).unwrap();
        assert_eq!(vars.get("DEVDB_T1"), Some("a"));
        assert_eq!(vars.get("DEVDB_T2"), Some("b"));
        assert_eq!(vars.get("DEVDB_T3"), None, "--env-file replaces .env");
        assert_ne!(vars.get("PATH"), Some("nope"));
        let default = Variables::gather(&[], dir.path(), &[]).unwrap();
        assert_eq!(default.get("DEVDB_T3"), Some("default"));
    }

    #[cfg(unix)]
    #[test]
    fn a_non_utf8_environment_variable_is_skipped() {
        use std::os::unix::ffi::OsStrExt;
        // Set in a child process so this test does not change the environment of others.
        if std::env::var_os("DEVDB_NON_UTF8_CHILD").is_some() {
            let dir = tempfile::tempdir().unwrap();
            let vars = Variables::gather(&[], dir.path(), &[]).unwrap();
            assert_eq!(vars.get("DEVDB_BAD"), None);
            return;
        }
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "config::env::tests::a_non_utf8_environment_variable_is_skipped",
            ])
            .env("DEVDB_NON_UTF8_CHILD", "1")
            .env("DEVDB_BAD", std::ffi::OsStr::from_bytes(b"\xff\xfe"))
            .status()
            .unwrap();
        assert!(status.success());
    }
}
