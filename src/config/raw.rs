//! The Compose file as written, before interpolation. Only the keys devdb uses are modelled;
//! Compose keys devdb does not need are ignored, but `x-devdb` is strict (see `settings.rs`).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::settings::Settings;

#[derive(Debug, Deserialize)]
pub struct RawComposeFile {
    pub name: Option<String>,
    #[serde(default)]
    pub services: BTreeMap<String, RawService>,
    #[serde(default)]
    pub volumes: BTreeMap<String, Option<serde_yaml::Value>>,
    #[serde(rename = "x-devdb", default)]
    pub devdb: Settings,
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
