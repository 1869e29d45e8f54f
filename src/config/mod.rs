//! Configuration: a Compose file (`compose/docker-compose.yaml`) plus its `x-devdb:` block.
//!
//! devdb reads the services it manages from the same file `docker compose` uses, follows
//! Compose's naming rules, and keeps its own settings in an extension block Compose ignores.

mod dotenv;
mod interpolate;
mod raw;
mod service;
mod settings;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use interpolate::interpolate;
pub use service::{Build, Healthcheck, PortMapping, Service, VolumeMount};
pub use settings::{CopySettings, Settings, SslMode, StageSettings};

/// Where devdb looks for its configuration, relative to each folder walking up from the cwd.
pub const DEFAULT_FILE: &str = "compose/docker-compose.yaml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no {DEFAULT_FILE} found in {} or any folder above it\n  \
         hint: run devdb inside your project, or pass --file PATH (or set DEVDB_FILE)",
        start.display()
    )]
    NotFound { start: PathBuf },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

/// The loaded configuration: every service resolved, variables interpolated.
#[derive(Debug, Clone)]
pub struct Config {
    /// The Compose file itself.
    pub file: PathBuf,
    /// Compose's project name: `-p`/COMPOSE_PROJECT_NAME, `name:`, or the file's folder.
    pub project: String,
    pub services: BTreeMap<String, Service>,
    /// Named volumes declared at the top level (Compose prefixes them with the project name).
    pub volumes: Vec<String>,
    pub settings: Settings,
    /// Variables from the environment and the `.env` beside the file, for later interpolation.
    variables: BTreeMap<String, String>,
}

impl Config {
    /// Finds the Compose file: `explicit` when given, else walks up from `start`.
    pub fn locate(explicit: Option<&Path>, start: &Path) -> Result<PathBuf, ConfigError> {
        if let Some(path) = explicit {
            return Ok(if path.is_absolute() {
                path.to_path_buf()
            } else {
                start.join(path)
            });
        }
        start
            .ancestors()
            .map(|dir| dir.join(DEFAULT_FILE))
            .find(|candidate| candidate.is_file())
            .ok_or_else(|| ConfigError::NotFound {
                start: start.to_path_buf(),
            })
    }

    /// Reads and resolves the file. `project_override` is `-p` (COMPOSE_PROJECT_NAME is read here).
    pub fn load(path: &Path, project_override: Option<&str>) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let variables = load_variables(&dir)?;
        Self::from_text(path, &text, variables, project_override)
    }

    fn from_text(
        path: &Path,
        text: &str,
        variables: BTreeMap<String, String>,
        project_override: Option<&str>,
    ) -> Result<Config, ConfigError> {
        let raw: raw::RawComposeFile = serde_yaml::from_str(text).map_err(|err| {
            let (line, column) = err.location().map_or((0, 0), |l| (l.line(), l.column()));
            ConfigError::Syntax {
                path: path.to_path_buf(),
                line,
                column,
                message: strip_location(&err.to_string()),
            }
        })?;
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let lookup = |name: &str| variables.get(name).cloned();
        let expand = |what: &str, value: &str| {
            interpolate(value, &lookup).map_err(|why| invalid(format!("{what}: {why}")))
        };

        let dir = path.parent().unwrap_or(Path::new("."));
        let folder_name = dir
            .canonicalize()
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "devdb".to_string());
        let project_source = match (
            project_override,
            variables.get("COMPOSE_PROJECT_NAME"),
            &raw.name,
        ) {
            (Some(name), _, _) => name.to_string(),
            (None, Some(name), _) if !name.is_empty() => name.clone(),
            (None, _, Some(name)) => expand("name", name)?,
            _ => folder_name,
        };
        let project = normalize_project_name(&project_source);
        if project.is_empty() {
            return Err(invalid(format!(
                "project name `{project_source}` has no usable characters (a-z, 0-9, _ and -)"
            )));
        }

        let mut services = BTreeMap::new();
        for (name, raw_service) in raw.services {
            let service = Service::resolve(&name, raw_service, &project, path, &expand)?;
            services.insert(name, service);
        }
        let volumes = raw.volumes.into_keys().collect();
        let settings = raw.devdb;
        let config = Config {
            file: path.to_path_buf(),
            project,
            services,
            volumes,
            settings,
            variables,
        };
        config.validate().map_err(invalid)?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        let db = self.database_service_checked()?;
        if db.image.is_none() {
            return Err(format!("service `{}` needs `image:` or `build:`", db.name));
        }
        for service in self.services.values() {
            for mount in &service.volumes {
                if let VolumeMount::Named { name, .. } = mount {
                    if !self.volumes.contains(name) {
                        return Err(format!(
                            "service `{}` mounts volume `{name}`, which is not declared under the top-level `volumes:`",
                            service.name
                        ));
                    }
                }
            }
            for dependency in &service.depends_on {
                if !self.services.contains_key(dependency) {
                    return Err(format!(
                        "service `{}` depends on `{dependency}`, which is not defined",
                        service.name
                    ));
                }
            }
        }
        if let Some(timeout) = &self.settings.ready_timeout {
            parse_duration(timeout).map_err(|why| format!("x-devdb.ready_timeout: {why}"))?;
        }
        for (stage, settings) in &self.settings.stages {
            if settings.url_env.is_some() == settings.url_command.is_some() {
                return Err(format!(
                    "x-devdb.stages.{stage}: set exactly one of `url_env` or `url_command`"
                ));
            }
        }
        Ok(())
    }

    fn database_service_checked(&self) -> Result<&Service, String> {
        self.services.get(&self.settings.service).ok_or_else(|| {
            let known: Vec<&str> = self.services.keys().map(String::as_str).collect();
            format!(
                "no service `{}` (the database service, set by x-devdb.service); services defined: {}",
                self.settings.service,
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            )
        })
    }

    /// The service running the local Postgres (validated at load time).
    pub fn database_service(&self) -> &Service {
        &self.services[&self.settings.service]
    }

    /// The folder holding the Compose file.
    pub fn dir(&self) -> &Path {
        self.file.parent().unwrap_or(Path::new("."))
    }

    /// The project's root: the folder above `compose/`, or the Compose file's folder.
    pub fn root(&self) -> &Path {
        let dir = self.dir();
        match (dir.file_name(), dir.parent()) {
            (Some(name), Some(parent)) if name == "compose" => parent,
            _ => dir,
        }
    }

    pub fn migrations_dir(&self) -> PathBuf {
        match &self.settings.migrations {
            Some(path) => clean_path(&self.dir().join(path)),
            None => self.root().join("migrations"),
        }
    }

    pub fn ready_timeout(&self) -> Duration {
        self.settings
            .ready_timeout
            .as_deref()
            .and_then(|t| parse_duration(t).ok())
            .unwrap_or(Duration::from_secs(60))
    }

    /// A variable from the environment or the `.env` file beside the Compose file.
    pub fn variable(&self, name: &str) -> Option<&str> {
        self.variables.get(name).map(String::as_str)
    }

    /// The database user, password and name the local service is configured with.
    pub fn credentials(&self) -> Credentials {
        let env = &self.database_service().environment;
        let user = env
            .get("POSTGRES_USER")
            .cloned()
            .unwrap_or_else(|| "postgres".to_string());
        let password = env.get("POSTGRES_PASSWORD").cloned().unwrap_or_default();
        let database = self
            .settings
            .database
            .clone()
            .or_else(|| env.get("POSTGRES_DB").cloned())
            .unwrap_or_else(|| user.clone());
        Credentials {
            user,
            password,
            database,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: String,
    pub password: String,
    pub database: String,
}

/// Environment variables take precedence over `.env`, as in Compose.
fn load_variables(dir: &Path) -> Result<BTreeMap<String, String>, ConfigError> {
    let env_file = dir.join(".env");
    let mut variables = match std::fs::read_to_string(&env_file) {
        Ok(text) => dotenv::parse(&text).map_err(|(line, message)| ConfigError::Syntax {
            path: env_file.clone(),
            line,
            column: 1,
            message,
        })?,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(source) => {
            return Err(ConfigError::Read {
                path: env_file,
                source,
            })
        }
    };
    variables.extend(std::env::vars());
    Ok(variables)
}

/// Folds `.` and `..` out of a path without touching the filesystem, so messages show
/// `/repo/migrations/...` rather than `/repo/compose/../migrations/...`.
pub fn clean_path(path: &Path) -> PathBuf {
    let mut cleaned = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir if cleaned.file_name().is_some() => {
                cleaned.pop();
            }
            other => cleaned.push(other),
        }
    }
    cleaned
}

/// Compose's rule: lowercase, keep `[a-z0-9_-]`, must start with a letter or digit.
pub fn normalize_project_name(name: &str) -> String {
    let lowered: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    lowered.trim_start_matches(['_', '-']).to_string()
}

/// serde_yaml appends "at line X column Y"; the error already shows the location up front.
fn strip_location(message: &str) -> String {
    match message.find(" at line ") {
        Some(pos) => message[..pos].to_string(),
        None => message.to_string(),
    }
}

/// Compose durations: `90s`, `1m30s`, `500ms`, `2h`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        return Ok(Duration::from_secs_f64(seconds.max(0.0)));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let unit_len = rest[digits..]
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len() - digits);
        let (number, unit) = (&rest[..digits], &rest[digits..digits + unit_len]);
        let value: f64 = number
            .parse()
            .map_err(|_| format!("`{text}` is not a duration like 30s or 1m30s"))?;
        let unit_seconds = match unit {
            "us" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(format!("`{text}` is not a duration like 30s or 1m30s")),
        };
        total += Duration::from_secs_f64(value * unit_seconds);
        rest = &rest[digits + unit_len..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        let vars = BTreeMap::from([("PGPORT_OVERRIDE".to_string(), "6000".to_string())]);
        Config::from_text(
            Path::new("/repo/compose/docker-compose.yaml"),
            text,
            vars,
            None,
        )
    }

    const MINIMAL: &str = "name: shop\nservices:\n  postgres:\n    image: postgres:16\n";

    #[test]
    fn minimal_file_uses_defaults() {
        let config = load(MINIMAL).unwrap();
        assert_eq!(config.project, "shop");
        assert_eq!(
            config.database_service().image.as_deref(),
            Some("postgres:16")
        );
        assert_eq!(config.credentials().user, "postgres");
        assert_eq!(config.root(), Path::new("/repo"));
        assert_eq!(config.migrations_dir(), Path::new("/repo/migrations"));
        assert_eq!(config.ready_timeout(), Duration::from_secs(60));
    }

    #[test]
    fn unknown_devdb_key_names_line_and_column() {
        let err = load(&format!("{MINIMAL}x-devdb:\n  servce: postgres\n")).unwrap_err();
        match err {
            ConfigError::Syntax {
                line,
                column,
                message,
                ..
            } => {
                assert_eq!((line, column), (6, 3), "{message}");
                assert!(message.contains("servce"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn unknown_compose_keys_are_ignored() {
        let text = "name: shop\nservices:\n  postgres:\n    image: postgres:16\n    restart: always\n    deploy: {}\nx-other: 1\n";
        assert!(load(text).is_ok());
    }

    #[test]
    fn broken_yaml_points_at_the_line() {
        let err = load("services:\n  postgres:\n    image: [unclosed\n").unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Syntax { line: 4, .. } | ConfigError::Syntax { line: 3, .. }
            ),
            "{err}"
        );
    }

    #[test]
    fn missing_database_service_lists_what_exists() {
        let err = load("services:\n  db:\n    image: postgres:16\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no service `postgres`") && err.contains("db"),
            "{err}"
        );
    }

    #[test]
    fn undeclared_named_volume_is_an_error() {
        let text = "services:\n  postgres:\n    image: postgres:16\n    volumes: [\"data:/var/lib/postgresql/data\"]\n";
        assert!(load(text).unwrap_err().to_string().contains("not declared"));
    }

    #[test]
    fn stage_needs_exactly_one_url_source() {
        let text = format!("{MINIMAL}x-devdb:\n  stages:\n    CODE: {{ sslmode: require }}\n");
        assert!(load(&text).unwrap_err().to_string().contains("url_env"));
        let text = format!("{MINIMAL}x-devdb:\n  stages:\n    CODE: {{ url_env: CODE_URL, sslmode: verify-full }}\n");
        assert_eq!(
            load(&text).unwrap().settings.stages["CODE"].sslmode,
            Some(SslMode::VerifyFull)
        );
    }

    #[test]
    fn project_names_are_normalised_like_compose() {
        assert_eq!(normalize_project_name("My App.v2"), "myappv2");
        assert_eq!(normalize_project_name("_x-1"), "x-1");
    }

    #[test]
    fn paths_are_cleaned() {
        assert_eq!(
            clean_path(Path::new("/repo/compose/../migrations")),
            Path::new("/repo/migrations")
        );
        assert_eq!(
            clean_path(Path::new("/repo/./a/b/../c")),
            Path::new("/repo/a/c")
        );
        assert_eq!(clean_path(Path::new("../x")), Path::new("../x"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("5").unwrap(), Duration::from_secs(5));
        assert!(parse_duration("soon").is_err());
    }
}
