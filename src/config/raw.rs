//! The Compose file as written, before interpolation. Only the keys devdb uses are modelled;
//! Compose keys devdb does not need are ignored, but `x-devdb` is strict (see `settings.rs`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::settings::Settings;
use super::ConfigError;

#[derive(Debug, Deserialize)]
pub struct RawComposeFile {
    pub name: Option<String>,
    #[serde(default)]
    pub services: BTreeMap<String, RawService>,
    #[serde(default)]
    pub volumes: BTreeMap<String, Option<serde_yaml::Value>>,
    /// Kept as YAML: it is interpolated first, then typed (see `settings_from`).
    #[serde(rename = "x-devdb")]
    pub devdb: Option<serde_yaml::Value>,
}

/// Parses the file's text; errors carry the line and column.
pub fn parse(path: &Path, text: &str) -> Result<RawComposeFile, ConfigError> {
    let tree: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| syntax(path, e))?;
    let found = match tree {
        serde_yaml::Value::Mapping(_) => None,
        serde_yaml::Value::Null => Some("nothing"),
        serde_yaml::Value::Sequence(_) => Some("a list"),
        _ => Some("a single value"),
    };
    if let Some(found) = found {
        return Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            message: format!(
                "a Compose file is a mapping of top-level keys (`services:`, `volumes:`, `x-devdb:`), \
                 but this file holds {found} at its top level"
            ),
            hint: None,
        });
    }
    serde_yaml::from_str(text).map_err(|e| syntax(path, e))
}

fn syntax(path: &Path, err: serde_yaml::Error) -> ConfigError {
    let (line, column) = err.location().map_or((0, 0), |l| (l.line(), l.column()));
    ConfigError::Syntax {
        path: path.to_path_buf(),
        line,
        column,
        message: strip_location(&err.to_string()),
        hint: None,
    }
}

/// `x-devdb.env_files` as written (they are read before anything is interpolated).
pub fn configured_env_files(path: &Path, text: &str) -> Result<Vec<String>, ConfigError> {
    let raw = parse(path, text)?;
    let Some(files) = raw.devdb.as_ref().and_then(|d| d.get("env_files")) else {
        return Ok(Vec::new());
    };
    serde_yaml::from_value(files.clone()).map_err(|e| ConfigError::Invalid {
        path: path.to_path_buf(),
        message: format!("x-devdb.env_files: {e} (a list of paths)"),
        hint: None,
    })
}

/// serde_yaml appends "at line X column Y"; the error already shows the location up front.
pub fn strip_location(message: &str) -> String {
    match message.find(" at line ") {
        Some(pos) => message[..pos].to_string(),
        None => message.to_string(),
    }
}

/// The `x-devdb` error `message` with its line and column, when typing the block as written
/// (before interpolation) fails the same way: then the error does not come from a variable.
pub fn locate_devdb_error(path: &Path, text: &str, message: &str) -> Option<ConfigError> {
    #[derive(Deserialize)]
    struct DevdbOnly {
        #[serde(rename = "x-devdb")]
        _devdb: Option<Settings>,
    }
    match serde_yaml::from_str::<DevdbOnly>(text) {
        Err(err) if strip_location(&err.to_string()).ends_with(message) => Some(syntax(path, err)),
        _ => None,
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct RawService {
    pub image: Option<String>,
    pub build: Option<RawBuild>,
    pub environment: Option<RawEnvironment>,
    #[serde(default)]
    pub ports: Vec<Scalar>,
    #[serde(default)]
    pub volumes: Vec<String>,
    pub healthcheck: Option<RawHealthcheck>,
    pub command: Option<RawCommand>,
    pub depends_on: Option<RawDependsOn>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawBuild {
    Context(String),
    Full {
        context: Option<String>,
        dockerfile: Option<String>,
        #[serde(default)]
        args: Option<RawEnvironment>,
    },
}

/// `environment:` (and build `args:`) in either of Compose's two forms.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawEnvironment {
    List(Vec<String>),
    Map(BTreeMap<String, Option<Scalar>>),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawCommand {
    Shell(String),
    Exec(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawDependsOn {
    List(Vec<String>),
    Map(BTreeMap<String, serde_yaml::Value>),
}

#[derive(Debug, Deserialize)]
pub struct RawHealthcheck {
    pub test: Option<RawCommand>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub retries: Option<u32>,
    pub start_period: Option<String>,
    #[serde(default)]
    pub disable: bool,
}

/// A YAML scalar Compose accepts where it means a string (`5432`, `true`, `"x"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    String(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
}

impl Scalar {
    pub fn into_string(self) -> String {
        match self {
            Scalar::String(s) => s,
            Scalar::Integer(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}
