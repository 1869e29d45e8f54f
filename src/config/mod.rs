//! Configuration: a Compose file plus its `x-devdb:` block.
//!
//! devdb reads the services it manages from the same file `docker compose` uses, finds it and
//! its variables as Compose does (file names, `COMPOSE_FILE`, `--env-file`, `.env` in the project
//! directory), follows Compose's naming rules, and keeps its own settings in an extension block
//! Compose ignores. This module imports nothing else of devdb: everything builds on it.

pub mod adopt;
mod env;
mod interpolate;
mod locate;
pub mod prisma_config;
mod raw;
mod secret;
mod seed;
pub mod server;
mod service;
mod settings;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use env::Variables;
pub use interpolate::interpolate;
pub use locate::{locate, COMPOSE_FILE_NAMES, DEVDB_FILE};
pub use secret::{Secret, SecretMap};
pub use seed::{SeedKind, SeedStep};
pub use service::{Build, Healthcheck, PortMapping, Service, VolumeMount, DEFAULT_POSTGRES_PORT};
pub use settings::{
    parse_duration, CopySettings, FollowRule, GeneratorSettings, MaskRule, RelationSettings,
    Settings, SslMode, StageSettings, SubsetSettings,
};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no Compose file found in {} or any folder above it (looked for {}, and {DEVDB_FILE})",
        start.display(), COMPOSE_FILE_NAMES.join(", ")
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
        /// The next step, kept out of the message.
        hint: Option<String>,
    },
    #[error("{}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        message: String,
        /// The next step, kept out of the message.
        hint: Option<String>,
    },
}

impl ConfigError {
    /// What to do about it, shown apart from the message.
    pub fn hint(&self) -> Option<String> {
        match self {
            ConfigError::Invalid { hint, .. } | ConfigError::Syntax { hint, .. } => hint.clone(),
            ConfigError::NotFound { .. } => Some(
                "run `devdb init` to add devdb to this repository, run devdb inside your project, \
                 or pass --file PATH (or set COMPOSE_FILE or DEVDB_FILE)"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// How the command line chose the configuration (Compose's `-f`, `-p`, `--env-file`,
/// `--project-directory`).
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    pub project_name: Option<String>,
    /// Env files, later ones winning; none means `.env` in the project directory.
    pub env_files: Vec<PathBuf>,
    /// The folder relative paths of services resolve against; default: the file's folder.
    pub project_directory: Option<PathBuf>,
    /// The user, when the engine is shared (remote): a project name that neither `-p` nor
    /// COMPOSE_PROJECT_NAME chose gets `-<user>` appended, so the developers of one repository
    /// on one engine never share containers, volumes or networks.
    pub owner: Option<String>,
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
    /// Compose's warnings (unset variables), for the caller to print.
    pub warnings: Vec<String>,
    /// Variables from the environment and the env files, for later interpolation.
    variables: Variables,
    /// Why devdb cannot reach the local database service from the host (it publishes no
    /// usable port), kept for the commands that use it: stage-only work does not.
    local_port_problem: Option<Problem>,
    options: LoadOptions,
}

impl Config {
    /// Finds the Compose file: `explicit` when given, else as Compose does (see `locate`).
    pub fn locate(explicit: Option<&Path>, start: &Path) -> Result<PathBuf, ConfigError> {
        locate(explicit, start)
    }

    /// Reads and resolves the file. `project_override` is `-p` (COMPOSE_PROJECT_NAME is read here).
    pub fn load(path: &Path, project_override: Option<&str>) -> Result<Config, ConfigError> {
        let options = LoadOptions {
            project_name: project_override.map(str::to_string),
            ..LoadOptions::default()
        };
        Self::load_with(path, &options)
    }

    /// Reads and resolves the file with Compose's command-line choices.
    pub fn load_with(path: &Path, options: &LoadOptions) -> Result<Config, ConfigError> {
        let text = locate::read_compose_file(path)?;
        let project_dir = options
            .project_directory
            .clone()
            .unwrap_or_else(|| path.parent().unwrap_or(Path::new(".")).to_path_buf());
        let file_dir = path.parent().unwrap_or(Path::new("."));
        let configured: Vec<PathBuf> = raw::configured_env_files(path, &text)?
            .iter()
            .map(|file| clean_path(&file_dir.join(file)))
            .collect();
        let variables = Variables::gather(&options.env_files, &project_dir, &configured)?;
        let mut config = Self::from_text(
            path,
            &text,
            variables,
            options.project_name.as_deref(),
            options.owner.as_deref(),
        )?;
        config.options = options.clone();
        Ok(config)
    }

    /// The global arguments that make another devdb process load this same configuration.
    pub fn cli_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec!["--file".into(), self.file.clone().into()];
        args.extend(["--project-name".into(), self.project.clone().into()]);
        for file in &self.options.env_files {
            args.extend(["--env-file".into(), absolute(file).into()]);
        }
        if let Some(dir) = &self.options.project_directory {
            args.extend(["--project-directory".into(), absolute(dir).into()]);
        }
        args
    }

    fn from_text(
        path: &Path,
        text: &str,
        variables: Variables,
        project_override: Option<&str>,
        owner: Option<&str>,
    ) -> Result<Config, ConfigError> {
        let raw = raw::parse(path, text)?;
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
            hint: None,
        };
        let expander = Expander {
            variables: &variables,
            file: path,
            unset: RefCell::new(Vec::new()),
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
            (None, Some(name), _) if !name.is_empty() => name.to_string(),
            (None, _, Some(name)) => owned(expander.expand("name", name)?, owner),
            _ => owned(folder_name, owner),
        };
        let project = normalize_project_name(&project_source);
        if project.is_empty() {
            return Err(invalid(format!(
                "project name `{project_source}` has no usable characters (a-z, 0-9, _ and -)"
            )));
        }

        let mut services = BTreeMap::new();
        for (name, raw_service) in raw.services {
            let service = Service::resolve(&name, raw_service, &project, dir, &expander)?;
            services.insert(name, service);
        }
        let volumes = raw.volumes.into_keys().collect();
        let settings = match raw.devdb {
            Some(block) => settings_from(path, text, block, &expander)?,
            None => Settings::default(),
        };
        if let Some(db) = services.get_mut(&settings.service) {
            settings
                .server
                .apply(db)
                .map_err(|(message, hint)| ConfigError::Invalid {
                    path: path.to_path_buf(),
                    message,
                    hint: Some(hint),
                })?;
        }
        let warnings = expander
            .unset
            .borrow()
            .iter()
            .map(|name| {
                format!("The \"{name}\" variable is not set. Defaulting to a blank string.")
            })
            .collect();
        let local_port_problem = services
            .get(&settings.service)
            .and_then(|db| check_database_port(db, &expander).err());
        let config = Config {
            local_port_problem,
            file: path.to_path_buf(),
            project,
            services,
            volumes,
            settings,
            warnings,
            variables: variables.clone(),
            options: LoadOptions::default(),
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
        for (index, step) in self.settings.seed.iter().enumerate() {
            step.kind()
                .map_err(|why| format!("x-devdb.seed[{}]: {why}", index + 1))?;
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

    /// Fails, saying which entry to write, when the database service publishes no port Postgres
    /// listens on: checked by the commands that reach the local database, not at load time,
    /// so `--stage` work runs on Compose files that keep the database on the project network.
    pub fn check_local_port(&self) -> Result<(), ConfigError> {
        match &self.local_port_problem {
            None => Ok(()),
            Some(problem) => Err(ConfigError::Invalid {
                path: self.file.clone(),
                message: problem.message.clone(),
                hint: Some(problem.hint.clone()),
            }),
        }
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
        self.settings.ready_timeout
    }

    /// The base image of devdb's built-in db-copy job for a PostgreSQL `major` server:
    /// x-devdb.copy_image (`{major}` replaced), else DEVDB_POSTGRES_IMAGE_<major>, else the
    /// official `postgres:<major>`.
    pub fn copy_base_image(&self, major: u32) -> String {
        self.chosen_copy_image(major)
            .unwrap_or_else(|| format!("postgres:{major}"))
    }

    /// The db-copy base image the user chose for PostgreSQL `major` (x-devdb.copy_image or
    /// DEVDB_POSTGRES_IMAGE_<major>), if any.
    pub fn chosen_copy_image(&self, major: u32) -> Option<String> {
        match &self.settings.copy_image {
            Some(template) => Some(template.replace("{major}", &major.to_string())),
            None => self
                .variable(&format!("DEVDB_POSTGRES_IMAGE_{major}"))
                .filter(|image| !image.is_empty())
                .map(str::to_string),
        }
    }

    /// A variable from the environment or the env files.
    pub fn variable(&self, name: &str) -> Option<&str> {
        self.variables.get(name)
    }

    /// The database user, password and name the local service is configured with.
    pub fn credentials(&self) -> Credentials {
        let env = &self.database_service().environment;
        let user = env
            .get("POSTGRES_USER")
            .cloned()
            .unwrap_or_else(|| "postgres".to_string());
        let password = Secret::new(env.get("POSTGRES_PASSWORD").cloned().unwrap_or_default());
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
    pub password: Secret,
    pub database: String,
}

/// Interpolates values as Compose does and remembers which variables were unset, so errors in
/// values built from them can name them and say where to set them.
pub(crate) struct Expander<'a> {
    variables: &'a Variables,
    file: &'a Path,
    unset: RefCell<Vec<String>>,
}

impl Expander<'_> {
    /// `raw` interpolated; `what` (e.g. `services.postgres.ports`) names it in errors.
    pub(crate) fn expand(&self, what: &str, raw: &str) -> Result<String, ConfigError> {
        let mut unset = Vec::new();
        let value = self
            .variables
            .expand(raw, &mut unset)
            .map_err(|why| self.invalid(what, raw, why))?;
        let mut seen = self.unset.borrow_mut();
        for name in unset {
            if !seen.contains(&name) {
                seen.push(name);
            }
        }
        Ok(value)
    }

    /// An error about the value written as `raw`, naming any unset variable it was built from.
    pub(crate) fn invalid(&self, what: &str, raw: &str, message: String) -> ConfigError {
        let (unset, hint) = self.unset_parts(raw).unzip();
        ConfigError::Invalid {
            path: self.file.to_path_buf(),
            message: format!("{what}: {message}{}", unset.unwrap_or_default()),
            hint,
        }
    }

    /// The sentence naming the unset variables `raw` uses, and where to set them (a hint).
    fn unset_parts(&self, raw: &str) -> Option<(String, String)> {
        let mut unset = Vec::new();
        let _ = self.variables.expand(raw, &mut unset);
        if unset.is_empty() {
            return None;
        }
        let names: Vec<String> = unset.iter().map(|n| format!("${{{n}}}")).collect();
        let sentence = format!(
            "\n  `{raw}` uses {} which {} not set, so it became an empty string",
            names.join(", "),
            if unset.len() == 1 { "is" } else { "are" },
        );
        Some((sentence, self.variables.where_to_set()))
    }
}

/// The `x-devdb` block, interpolated as Compose interpolates extension fields, then typed.
fn settings_from(
    path: &Path,
    text: &str,
    mut block: serde_yaml::Value,
    expander: &Expander,
) -> Result<Settings, ConfigError> {
    let mut raw_strings = Vec::new();
    interpolate_value(&mut block, "x-devdb", expander, &mut raw_strings)?;
    serde_yaml::from_value(block).map_err(|err| {
        let message = raw::strip_location(&err.to_string());
        // Errors that do not depend on variables (an unknown key, a wrong type) are located
        // in the file as written; others name the value and its variables.
        if let Some(located) = raw::locate_devdb_error(path, text, &message) {
            return located;
        }
        let (notes, places): (Vec<String>, Vec<String>) = raw_strings
            .iter()
            .filter_map(|r| expander.unset_parts(r))
            .unzip();
        ConfigError::Invalid {
            path: path.to_path_buf(),
            message: format!("x-devdb: {message}{}", notes.concat()),
            hint: places.into_iter().next(),
        }
    })
}

/// Interpolates every string in `value`; `raw_strings` collects those that contained a `$`.
fn interpolate_value(
    value: &mut serde_yaml::Value,
    what: &str,
    expander: &Expander,
    raw_strings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    match value {
        serde_yaml::Value::String(text) if text.contains('$') => {
            raw_strings.push(text.clone());
            *text = expander.expand(what, text)?;
        }
        serde_yaml::Value::Sequence(items) => {
            for item in items {
                interpolate_value(item, what, expander, raw_strings)?;
            }
        }
        serde_yaml::Value::Mapping(map) => {
            for (key, item) in map.iter_mut() {
                let key = key.as_str().unwrap_or("?");
                interpolate_value(item, &format!("{what}.{key}"), expander, raw_strings)?;
            }
        }
        serde_yaml::Value::Tagged(tagged) => {
            interpolate_value(&mut tagged.value, what, expander, raw_strings)?
        }
        _ => {}
    }
    Ok(())
}

/// The database service must publish the port Postgres listens on inside the container.
/// A check's finding: what is wrong, and the next step.
#[derive(Debug, Clone)]
struct Problem {
    message: String,
    hint: String,
}

fn check_database_port(db: &Service, expander: &Expander) -> Result<(), Problem> {
    let port = db.postgres_port();
    if db.host_port_for(port).is_some() {
        return Ok(());
    }
    let why = if port == DEFAULT_POSTGRES_PORT {
        format!("Postgres listens on {port} inside the container (its default)")
    } else {
        format!("Postgres listens on {port} inside the container (set by `command:` or PGPORT)")
    };
    match db.ports.first() {
        None => Err(Problem {
            message: format!(
                "services.{}.ports: the database service publishes no port, so devdb cannot \
                 reach it; {why}",
                db.name
            ),
            hint: format!(
                "add `ports: [\"127.0.0.1:{port}:{port}\"]` to service `{}`",
                db.name
            ),
        }),
        Some(first) => {
            let suggestion = match first.written.rsplit_once(':') {
                Some((host, _)) => format!("{host}:{port}"),
                None => port.to_string(),
            };
            let (unset, where_to_set) = match expander.unset_parts(&first.written) {
                Some((sentence, place)) => (sentence, format!("; {place}")),
                None => (String::new(), String::new()),
            };
            Err(Problem {
                message: format!(
                    "services.{}.ports: `{}` publishes container port {}, but {why}{unset}",
                    db.name, first.written, first.container_port,
                ),
                hint: format!(
                    "write the entry as \"{suggestion}\" (HOST:CONTAINER, the container side \
                     being {port}){where_to_set}"
                ),
            })
        }
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
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
/// `name-owner` on a shared engine, else `name`.
fn owned(name: String, owner: Option<&str>) -> String {
    match owner {
        Some(owner) if !owner.is_empty() => format!("{name}-{owner}"),
        _ => name,
    }
}

pub fn normalize_project_name(name: &str) -> String {
    let lowered: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    lowered.trim_start_matches(['_', '-']).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        let vars = BTreeMap::from([("PGPORT_OVERRIDE".to_string(), "6000".to_string())]);
        Config::from_text(
            Path::new("/repo/compose/docker-compose.yaml"),
            text,
            Variables::from_map(vars),
            None,
            None,
        )
    }

    #[test]
    fn a_shared_engine_appends_the_owner_unless_the_name_was_chosen() {
        let path = Path::new("/repo/compose/docker-compose.yaml");
        let text = "name: shop\nservices:\n  postgres:\n    image: postgres:16\n";
        let with = |vars: BTreeMap<String, String>, flag: Option<&str>| {
            Config::from_text(path, text, Variables::from_map(vars), flag, Some("ann"))
                .unwrap()
                .project
        };
        assert_eq!(with(BTreeMap::new(), None), "shop-ann");
        assert_eq!(with(BTreeMap::new(), Some("mine")), "mine");
        let chosen = BTreeMap::from([("COMPOSE_PROJECT_NAME".to_string(), "ci".to_string())]);
        assert_eq!(with(chosen, None), "ci");
    }

    const MINIMAL: &str =
        "name: shop\nservices:\n  postgres:\n    image: postgres:16\n    ports: [\"5432\"]\n";

    #[test]
    fn server_fast_adds_its_settings_to_the_local_command_only_when_asked() {
        assert_eq!(load(MINIMAL).unwrap().database_service().command, None);
        let fast = load(&format!("{MINIMAL}x-devdb:\n  server: fast\n")).unwrap();
        let command = fast.database_service().command.clone().unwrap();
        assert_eq!(command[0], "postgres");
        assert!(command.windows(2).any(|w| w == ["-c", "wal_level=minimal"]));
        assert!(command.windows(2).any(|w| w == ["-c", "fsync=off"]));
        let custom = "name: shop\nservices:\n  postgres:\n    image: postgres:16\n    command: postgres -c log_statement=all\n    ports: [\"5432\"]\nx-devdb:\n  server: fast\n";
        let command = load(custom)
            .unwrap()
            .database_service()
            .command
            .clone()
            .unwrap();
        assert_eq!(&command[..3], ["postgres", "-c", "log_statement=all"]);
        assert!(command.contains(&"max_wal_senders=0".to_string()));
        let wrapper = custom.replace("command: postgres", "command: /start.sh");
        let err = load(&wrapper).unwrap_err().to_string();
        assert!(
            err.contains("services.postgres.command starts with `/start.sh`"),
            "{err}"
        );
        let typo = load(&format!("{MINIMAL}x-devdb:\n  server: fastest\n")).unwrap_err();
        assert!(typo.to_string().contains("fastest"), "{typo}");
    }

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
                assert_eq!((line, column), (7, 3), "{message}");
                assert!(message.contains("servce"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn unknown_compose_keys_are_ignored() {
        let text = "name: shop\nservices:\n  postgres:\n    image: postgres:16\n    ports: [\"5432\"]\n    restart: always\n    deploy: {}\nx-other: 1\n";
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
        let text = "services:\n  postgres:\n    image: postgres:16\n    ports: [\"5432\"]\n    volumes: [\"data:/var/lib/postgresql/data\"]\n";
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
    fn ready_timeout_is_typed_at_load_time() {
        let with = |value: &str| load(&format!("{MINIMAL}x-devdb:\n  ready_timeout: {value}\n"));
        assert_eq!(with("90").unwrap().ready_timeout(), Duration::from_secs(90));
        assert_eq!(
            with("1m30s").unwrap().ready_timeout(),
            Duration::from_secs(90)
        );
        for bad in ["1e30s", "inf", "soon"] {
            let err = with(bad).unwrap_err().to_string();
            assert!(err.contains("ready_timeout") && err.contains(bad), "{err}");
        }
    }

    #[test]
    fn the_devdb_block_is_interpolated() {
        let text = format!(
            "{MINIMAL}x-devdb:\n  database: ${{DB_NAME:-fallback}}\n  ready_timeout: ${{PGPORT_OVERRIDE}}ms\n"
        );
        let config = load(&text).unwrap();
        assert_eq!(config.settings.database.as_deref(), Some("fallback"));
        assert_eq!(config.ready_timeout(), Duration::from_millis(6000));
        let err = load(&format!(
            "{MINIMAL}x-devdb:\n  ready_timeout: ${{NOT_SET}}\n"
        ))
        .unwrap_err();
        let hint = err.hint().unwrap_or_default();
        assert!(err.to_string().contains("${NOT_SET}"), "{err}");
        assert!(hint.contains("--env-file"), "{hint}");
    }

    #[test]
    fn an_unset_variable_warns_and_errors_built_from_it_name_it() {
        let text = "services:\n  postgres:\n    image: postgres:16\n    ports: [\"127.0.0.1:${DB_PORT}:5432\"]\n    environment: { POSTGRES_PASSWORD: \"${PW}\" }\n";
        let config = load(text).unwrap();
        assert_eq!(config.database_service().ports[0].host_port, None);
        for name in ["DB_PORT", "PW"] {
            let warning =
                format!("The \"{name}\" variable is not set. Defaulting to a blank string.");
            assert!(config.warnings.contains(&warning), "{:?}", config.warnings);
        }
        assert_eq!(config.warnings.len(), 2);
        let text = "services:\n  postgres:\n    image: postgres:16\n    ports: [\"${DB_PORT}:${DB_PORT}\"]\n";
        let err = load(text).unwrap_err().to_string();
        assert!(
            err.contains("services.postgres.ports")
                && err.contains("${DB_PORT}")
                && err.contains("not set"),
            "{err}"
        );
    }

    #[test]
    fn the_database_port_must_be_published_for_postgres() {
        // The message, then the hint the error carries apart.
        let local_port = |text: &str| {
            load(text)
                .unwrap()
                .check_local_port()
                .map_err(|e| format!("{e}\n  hint: {}", e.hint().unwrap_or_default()))
        };
        let text = "services:\n  postgres:\n    image: postgres:16\n    ports: [\"55499:55499\"]\n";
        let err = local_port(text).unwrap_err();
        assert!(
            err.contains("`55499:55499` publishes container port 55499")
                && err.contains("\"55499:5432\""),
            "{err}"
        );
        let text = "services:\n  postgres:\n    image: postgres:16\n    command: postgres -p 55499\n    ports: [\"55499:55499\"]\n";
        assert_eq!(
            load(text).unwrap().database_service().postgres_port(),
            55499
        );
        assert!(local_port(text).is_ok());
        // Loading succeeds (stage-only commands need no local port); reaching it fails.
        let text = "services:\n  postgres:\n    image: postgres:16\n";
        let err = local_port(text).unwrap_err();
        assert!(
            err.contains("publishes no port") && err.contains("ports:"),
            "{err}"
        );
    }

    #[test]
    fn the_copy_job_base_image_per_major() {
        let config = load(MINIMAL).unwrap();
        assert_eq!(config.copy_base_image(17), "postgres:17");
        let vars = BTreeMap::from([(
            "DEVDB_POSTGRES_IMAGE_17".to_string(),
            "local/pg:17".to_string(),
        )]);
        let path = Path::new("/repo/compose.yaml");
        let config =
            Config::from_text(path, MINIMAL, Variables::from_map(vars.clone()), None, None)
                .unwrap();
        assert_eq!(config.copy_base_image(17), "local/pg:17");
        assert_eq!(config.copy_base_image(15), "postgres:15");
        let text =
            format!("{MINIMAL}x-devdb:\n  copy_image: mirror.local/postgres:{{major}}-alpine\n");
        let config = Config::from_text(path, &text, Variables::from_map(vars), None, None).unwrap();
        assert_eq!(
            config.copy_base_image(17),
            "mirror.local/postgres:17-alpine"
        );
    }

    #[test]
    fn a_list_at_the_root_is_explained() {
        let err = load("- services\n- volumes\n").unwrap_err().to_string();
        assert!(err.contains("holds a list at its top level"), "{err}");
        assert!(!err.contains("RawComposeFile"), "{err}");
    }
}
