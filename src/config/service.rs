//! One Compose service, resolved: variables interpolated, paths absolute, forms normalised.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::raw::{RawBuild, RawCommand, RawDependsOn, RawEnvironment, RawService};
use super::{parse_duration, ConfigError};

#[derive(Debug, Clone, Serialize)]
pub struct Service {
    pub name: String,
    /// The image to run; for a `build:` service, the tag devdb builds (`<project>-<service>`).
    pub image: Option<String>,
    pub build: Option<Build>,
    pub environment: BTreeMap<String, String>,
    pub ports: Vec<PortMapping>,
    pub volumes: Vec<VolumeMount>,
    pub healthcheck: Option<Healthcheck>,
    pub command: Option<Vec<String>>,
    pub depends_on: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Build {
    pub context: PathBuf,
    pub dockerfile: String,
    pub args: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortMapping {
    /// None: Docker picks a free host port.
    pub host_port: Option<u16>,
    pub container_port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum VolumeMount {
    Named {
        name: String,
        target: String,
        read_only: bool,
    },
    Bind {
        source: PathBuf,
        target: String,
        read_only: bool,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Healthcheck {
    pub test: Vec<String>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub retries: Option<u32>,
    pub start_period: Option<Duration>,
    pub disable: bool,
}

type Expand<'a> = dyn Fn(&str, &str) -> Result<String, ConfigError> + 'a;

impl Service {
    pub(super) fn resolve(
        name: &str,
        raw: RawService,
        project: &str,
        file: &Path,
        expand: &Expand,
    ) -> Result<Service, ConfigError> {
        let dir = file.parent().unwrap_or(Path::new("."));
        let field = |key: &str| format!("services.{name}.{key}");
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            path: file.to_path_buf(),
            message: format!("{}: {message}", field(key)),
        };

        let build = match raw.build {
            None => None,
            Some(RawBuild::Context(context)) => Some(Build {
                context: super::clean_path(&dir.join(expand(&field("build"), &context)?)),
                dockerfile: "Dockerfile".to_string(),
                args: BTreeMap::new(),
            }),
            Some(RawBuild::Full {
                context,
                dockerfile,
                args,
            }) => Some(Build {
                context: super::clean_path(&dir.join(expand(
                    &field("build.context"),
                    context.as_deref().unwrap_or("."),
                )?)),
                dockerfile: match dockerfile {
                    Some(d) => expand(&field("build.dockerfile"), &d)?,
                    None => "Dockerfile".to_string(),
                },
                args: resolve_environment(args, &field("build.args"), expand)?,
            }),
        };
        let image = match (raw.image, &build) {
            (Some(image), _) => Some(expand(&field("image"), &image)?),
            (None, Some(_)) => Some(format!("{project}-{name}")),
            (None, None) => None,
        };
        let environment = resolve_environment(raw.environment, &field("environment"), expand)?;

        let mut ports = Vec::new();
        for port in raw.ports {
            let text = expand(&field("ports"), &port.into_string())?;
            ports.push(parse_port(&text).map_err(|why| invalid("ports", why))?);
        }
        let mut volumes = Vec::new();
        for volume in raw.volumes {
            let text = expand(&field("volumes"), &volume)?;
            volumes.push(parse_volume(&text, dir).map_err(|why| invalid("volumes", why))?);
        }
        let healthcheck = match raw.healthcheck {
            None => None,
            Some(h) => {
                let duration =
                    |key: &str, value: Option<String>| -> Result<Option<Duration>, ConfigError> {
                        value
                            .map(|v| {
                                parse_duration(&v)
                                    .map_err(|why| invalid(&format!("healthcheck.{key}"), why))
                            })
                            .transpose()
                    };
                let test = match h.test {
                    None => Vec::new(),
                    Some(RawCommand::Shell(s)) => vec![
                        "CMD-SHELL".to_string(),
                        expand(&field("healthcheck.test"), &s)?,
                    ],
                    Some(RawCommand::Exec(parts)) => parts
                        .iter()
                        .map(|p| expand(&field("healthcheck.test"), p))
                        .collect::<Result<_, _>>()?,
                };
                Some(Healthcheck {
                    test,
                    interval: duration("interval", h.interval)?,
                    timeout: duration("timeout", h.timeout)?,
                    retries: h.retries,
                    start_period: duration("start_period", h.start_period)?,
                    disable: h.disable,
                })
            }
        };
        let command = match raw.command {
            None => None,
            Some(RawCommand::Shell(s)) => {
                let s = expand(&field("command"), &s)?;
                Some(split_command(&s).map_err(|why| invalid("command", why))?)
            }
            Some(RawCommand::Exec(parts)) => Some(
                parts
                    .iter()
                    .map(|p| expand(&field("command"), p))
                    .collect::<Result<_, _>>()?,
            ),
        };
        let depends_on = match raw.depends_on {
            None => Vec::new(),
            Some(RawDependsOn::List(list)) => list,
            Some(RawDependsOn::Map(map)) => map.into_keys().collect(),
        };
        Ok(Service {
            name: name.to_string(),
            image,
            build,
            environment,
            ports,
            volumes,
            healthcheck,
            command,
            depends_on,
        })
    }

    /// The host port published for `container_port`, when the file fixes one.
    pub fn host_port_for(&self, container_port: u16) -> Option<&PortMapping> {
        self.ports
            .iter()
            .find(|p| p.container_port == container_port)
    }
}

fn resolve_environment(
    raw: Option<RawEnvironment>,
    what: &str,
    expand: &Expand,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut environment = BTreeMap::new();
    match raw {
        None => {}
        Some(RawEnvironment::List(items)) => {
            for item in items {
                let item = expand(what, &item)?;
                let (key, value) = item.split_once('=').unwrap_or((&item, ""));
                environment.insert(key.to_string(), value.to_string());
            }
        }
        Some(RawEnvironment::Map(map)) => {
            for (key, value) in map {
                let value = value.map(|v| v.into_string()).unwrap_or_default();
                environment.insert(key, expand(what, &value)?);
            }
        }
    }
    Ok(environment)
}

/// `[IP:][HOST:]CONTAINER[/PROTO]`. devdb publishes on 127.0.0.1 whatever IP is written, so the
/// database is never reachable from other machines.
pub fn parse_port(text: &str) -> Result<PortMapping, String> {
    let (spec, protocol) = text.split_once('/').unwrap_or((text, "tcp"));
    if protocol != "tcp" {
        return Err(format!(
            "`{text}`: only tcp ports can be published for Postgres"
        ));
    }
    let parts: Vec<&str> = spec.rsplitn(3, ':').collect();
    let number = |s: &str| {
        s.parse::<u16>().map_err(|_| {
            format!("`{text}` is not a port mapping like \"5432:5432\" (`{s}` is not a port)")
        })
    };
    let (host_port, container_port) = match parts.as_slice() {
        [container] => (None, number(container)?),
        [container, "", ..] => (None, number(container)?),
        [container, host, ..] => (Some(number(host)?), number(container)?),
        [] => return Err(format!("`{text}` is empty")),
    };
    Ok(PortMapping {
        host_port,
        container_port,
    })
}

/// Short volume syntax: `NAME:/path[:ro]` (named volume) or `./dir:/path[:ro]` (bind mount).
pub fn parse_volume(text: &str, dir: &Path) -> Result<VolumeMount, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, read_only) = match parts.as_slice() {
        [source, target] => (*source, *target, false),
        [source, target, mode] => (*source, *target, mode.split(',').any(|m| m == "ro")),
        _ => {
            return Err(format!(
                "`{text}`: use SOURCE:TARGET[:ro] (anonymous volumes are not supported)"
            ))
        }
    };
    if !target.starts_with('/') {
        return Err(format!(
            "`{text}`: the target `{target}` must be an absolute path"
        ));
    }
    let target = target.to_string();
    if source.starts_with('.') || source.starts_with('/') || source.starts_with('~') {
        let source = match source.strip_prefix("~/") {
            Some(rest) => PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(rest),
            None => super::clean_path(&dir.join(source)),
        };
        Ok(VolumeMount::Bind {
            source,
            target,
            read_only,
        })
    } else {
        Ok(VolumeMount::Named {
            name: source.to_string(),
            target,
            read_only,
        })
    }
}

/// Splits a string command as a POSIX shell would split words (quotes, backslashes), as Compose does.
pub fn split_command(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => current.push(ch),
                        None => return Err(format!("unclosed ' in `{text}`")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch @ ('"' | '\\' | '$' | '`')) => current.push(ch),
                            Some(ch) => {
                                current.push('\\');
                                current.push(ch);
                            }
                            None => return Err(format!("unclosed \" in `{text}`")),
                        },
                        Some(ch) => current.push(ch),
                        None => return Err(format!("unclosed \" in `{text}`")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(ch) = chars.next() {
                    current.push(ch);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                current.push(c);
            }
        }
    }
    if in_word {
        words.push(current);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_forms() {
        let p = |s| parse_port(s).unwrap();
        assert_eq!(
            p("5432"),
            PortMapping {
                host_port: None,
                container_port: 5432
            }
        );
        assert_eq!(
            p("6000:5432"),
            PortMapping {
                host_port: Some(6000),
                container_port: 5432
            }
        );
        assert_eq!(
            p("127.0.0.1:6000:5432/tcp"),
            PortMapping {
                host_port: Some(6000),
                container_port: 5432
            }
        );
        assert_eq!(
            p("127.0.0.1::5432"),
            PortMapping {
                host_port: None,
                container_port: 5432
            }
        );
        assert!(parse_port("abc:5432").unwrap_err().contains("abc"));
        assert!(parse_port("5432/udp").is_err());
    }

    #[test]
    fn volume_forms() {
        let dir = Path::new("/repo/compose");
        assert_eq!(
            parse_volume("pgdata:/var/lib/postgresql/data", dir).unwrap(),
            VolumeMount::Named {
                name: "pgdata".into(),
                target: "/var/lib/postgresql/data".into(),
                read_only: false
            }
        );
        assert_eq!(
            parse_volume("./init:/docker-entrypoint-initdb.d:ro", dir).unwrap(),
            VolumeMount::Bind {
                source: PathBuf::from("/repo/compose/./init"),
                target: "/docker-entrypoint-initdb.d".into(),
                read_only: true
            }
        );
        assert!(parse_volume("/data", dir).is_err());
        assert!(parse_volume("x:relative", dir).is_err());
    }

    #[test]
    fn command_splitting() {
        assert_eq!(
            split_command(r#"postgres -c 'log_statement=all' -c "shared_buffers=256MB" a\ b"#)
                .unwrap(),
            vec![
                "postgres",
                "-c",
                "log_statement=all",
                "-c",
                "shared_buffers=256MB",
                "a b"
            ]
        );
        assert_eq!(split_command("x ''").unwrap(), vec!["x", ""]);
        assert!(split_command("echo 'oops").is_err());
    }
}
