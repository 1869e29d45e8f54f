//! One Compose service, resolved: variables interpolated, paths absolute, forms normalised.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::raw::{
    RawBuild, RawCommand, RawDependsOn, RawEnvironment, RawHealthcheck, RawService, Scalar,
};
use super::{parse_duration, ConfigError, Expander, SecretMap};

/// The port Postgres listens on unless `command:` or PGPORT say otherwise.
pub const DEFAULT_POSTGRES_PORT: u16 = 5432;

#[derive(Debug, Clone, Serialize)]
pub struct Service {
    pub name: String,
    /// The image to run; for a `build:` service, the tag devdb builds (`<project>-<service>`).
    pub image: Option<String>,
    pub build: Option<Build>,
    pub environment: SecretMap,
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
    pub args: SecretMap,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortMapping {
    /// None: Docker picks a free host port.
    pub host_port: Option<u16>,
    pub container_port: u16,
    /// The address written before the host port (`127.0.0.1` in `127.0.0.1:5432:5432`); None
    /// for all interfaces. A local engine publishes on 127.0.0.1 whatever is written; a remote
    /// one publishes what the file says (docker/container.rs, which also hashes it there).
    #[serde(skip)]
    pub host_ip: Option<String>,
    /// The entry as written in the file (before interpolation), for messages; not part of
    /// the container's configuration hash.
    #[serde(skip)]
    pub written: String,
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

impl Service {
    /// `dir` is Compose's project directory, which relative paths are taken from.
    pub(super) fn resolve(
        name: &str,
        raw: RawService,
        project: &str,
        dir: &Path,
        expander: &Expander,
    ) -> Result<Service, ConfigError> {
        let fields = Fields {
            service: name,
            dir,
            expander,
        };
        let expand = |what: &str, raw: &str| expander.expand(what, raw);
        let build = fields.build(raw.build)?;
        let image = match (raw.image, &build) {
            (Some(image), _) => Some(fields.expand("image", &image)?),
            (None, Some(_)) => Some(format!("{project}-{name}")),
            (None, None) => None,
        };
        let environment =
            resolve_environment(raw.environment, &fields.key("environment"), &expand)?;
        let ports = fields.ports(raw.ports)?;
        let volumes = fields.volumes(raw.volumes)?;
        let healthcheck = raw.healthcheck.map(|h| fields.healthcheck(h)).transpose()?;
        let command = fields.command(raw.command)?;
        let depends_on = match raw.depends_on {
            None => Vec::new(),
            Some(RawDependsOn::List(list)) => list,
            Some(RawDependsOn::Map(map)) => map.into_keys().collect(),
        };
        Ok(Service {
            name: name.to_string(),
            image,
            build,
            environment: environment.into(),
            ports,
            volumes,
            healthcheck,
            command,
            depends_on,
        })
    }

    /// The port Postgres listens on inside the container: `-p N` / `-c port=N` in `command:`,
    /// else PGPORT in `environment:` (the server reads it), else 5432.
    pub fn postgres_port(&self) -> u16 {
        let from_command = self.command.as_deref().and_then(|words| {
            let mut found = None;
            let mut words = words.iter().map(String::as_str).peekable();
            while let Some(word) = words.next() {
                let value = match word {
                    "-p" | "--port" => words.peek().copied(),
                    "-c" => words.peek().and_then(|w| w.strip_prefix("port=")),
                    _ => word
                        .strip_prefix("--port=")
                        .or_else(|| word.strip_prefix("-cport="))
                        .or_else(|| word.strip_prefix("-p").filter(|p| !p.is_empty())),
                };
                if let Some(port) = value.and_then(|v| v.trim().parse().ok()) {
                    found = Some(port); // the last one wins, as for the server
                }
            }
            found
        });
        from_command
            .or_else(|| self.environment.get("PGPORT")?.trim().parse().ok())
            .unwrap_or(DEFAULT_POSTGRES_PORT)
    }

    /// The host port published for `container_port`, when the file fixes one.
    pub fn host_port_for(&self, container_port: u16) -> Option<&PortMapping> {
        self.ports
            .iter()
            .find(|p| p.container_port == container_port)
    }
}

/// The fields of one service being resolved: each is interpolated, and a field that does not
/// read is reported under its key (`services.<name>.<key>`).
struct Fields<'a> {
    service: &'a str,
    /// Compose's project directory, which relative paths are taken from.
    dir: &'a Path,
    expander: &'a Expander<'a>,
}

impl Fields<'_> {
    fn key(&self, key: &str) -> String {
        format!("services.{}.{key}", self.service)
    }

    /// The field `key`'s value `raw`, interpolated.
    fn expand(&self, key: &str, raw: &str) -> Result<String, ConfigError> {
        self.expander.expand(&self.key(key), raw)
    }

    fn invalid(&self, key: &str, raw: &str, message: String) -> ConfigError {
        self.expander.invalid(&self.key(key), raw, message)
    }

    fn build(&self, raw: Option<RawBuild>) -> Result<Option<Build>, ConfigError> {
        let expand = |what: &str, raw: &str| self.expander.expand(what, raw);
        Ok(match raw {
            None => None,
            Some(RawBuild::Context(context)) => Some(Build {
                context: super::clean_path(&self.dir.join(self.expand("build", &context)?)),
                dockerfile: "Dockerfile".to_string(),
                args: SecretMap::default(),
            }),
            Some(RawBuild::Full {
                context,
                dockerfile,
                args,
            }) => Some(Build {
                context: super::clean_path(
                    &self
                        .dir
                        .join(self.expand("build.context", context.as_deref().unwrap_or("."))?),
                ),
                dockerfile: match dockerfile {
                    Some(d) => self.expand("build.dockerfile", &d)?,
                    None => "Dockerfile".to_string(),
                },
                args: resolve_environment(args, &self.key("build.args"), &expand)?.into(),
            }),
        })
    }

    fn ports(&self, raw: Vec<Scalar>) -> Result<Vec<PortMapping>, ConfigError> {
        let mut ports = Vec::new();
        for port in raw {
            let written = port.into_string();
            let text = self.expand("ports", &written)?;
            let mut mapping =
                parse_port(&text).map_err(|why| self.invalid("ports", &written, why))?;
            mapping.written = written;
            ports.push(mapping);
        }
        Ok(ports)
    }

    fn volumes(&self, raw: Vec<String>) -> Result<Vec<VolumeMount>, ConfigError> {
        let mut volumes = Vec::new();
        for volume in raw {
            let text = self.expand("volumes", &volume)?;
            volumes.push(
                parse_volume(&text, self.dir)
                    .map_err(|why| self.invalid("volumes", &volume, why))?,
            );
        }
        Ok(volumes)
    }

    fn healthcheck(&self, h: RawHealthcheck) -> Result<Healthcheck, ConfigError> {
        let duration =
            |key: &str, value: Option<String>| -> Result<Option<Duration>, ConfigError> {
                value
                    .map(|v| {
                        let key = format!("healthcheck.{key}");
                        let text = self.expand(&key, &v)?;
                        parse_duration(&text).map_err(|why| self.invalid(&key, &v, why))
                    })
                    .transpose()
            };
        let test = match h.test {
            None => Vec::new(),
            Some(RawCommand::Shell(s)) => vec![
                "CMD-SHELL".to_string(),
                self.expand("healthcheck.test", &s)?,
            ],
            Some(RawCommand::Exec(parts)) => parts
                .iter()
                .map(|p| self.expand("healthcheck.test", p))
                .collect::<Result<_, _>>()?,
        };
        Ok(Healthcheck {
            test,
            interval: duration("interval", h.interval)?,
            timeout: duration("timeout", h.timeout)?,
            retries: h.retries,
            start_period: duration("start_period", h.start_period)?,
            disable: h.disable,
        })
    }

    fn command(&self, raw: Option<RawCommand>) -> Result<Option<Vec<String>>, ConfigError> {
        Ok(match raw {
            None => None,
            Some(RawCommand::Shell(written)) => {
                let s = self.expand("command", &written)?;
                Some(split_command(&s).map_err(|why| self.invalid("command", &written, why))?)
            }
            Some(RawCommand::Exec(parts)) => Some(
                parts
                    .iter()
                    .map(|p| self.expand("command", p))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }
}

fn resolve_environment(
    raw: Option<RawEnvironment>,
    what: &str,
    expand: &dyn Fn(&str, &str) -> Result<String, ConfigError>,
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

/// `[IP:][HOST:]CONTAINER[/PROTO]` (an IPv6 address in brackets). devdb publishes on 127.0.0.1
/// whatever IP is written, so the database is never reachable from other machines.
pub fn parse_port(text: &str) -> Result<PortMapping, String> {
    let (spec, protocol) = text.split_once('/').unwrap_or((text, "tcp"));
    if protocol != "tcp" {
        return Err(format!(
            "`{text}`: only tcp ports can be published for Postgres"
        ));
    }
    let mut host_ip = None;
    let ports = match spec.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once("]:") {
            Some((ip, rest)) => {
                host_ip = Some(ip.to_string());
                rest
            }
            None => return Err(format!("`{text}`: an IPv6 address needs `[ADDRESS]:`")),
        },
        None => spec,
    };
    let parts: Vec<&str> = ports.split(':').collect();
    let number = |s: &str| {
        s.parse::<u16>().map_err(|_| {
            format!("`{text}` is not a port mapping like \"5432:5432\" (`{s}` is not a port)")
        })
    };
    let with_ip = ports.len() != spec.len();
    let (host, container) = match (parts.as_slice(), with_ip) {
        ([container], false) => ("", *container),
        ([host, container], _) => (*host, *container),
        ([ip, host, container], false) => {
            host_ip = Some(ip.to_string());
            (*host, *container)
        }
        _ => {
            return Err(format!(
                "`{text}` has too many parts; a port mapping is [IP:][HOST:]CONTAINER, e.g. \"127.0.0.1:5432:5432\""
            ))
        }
    };
    Ok(PortMapping {
        host_port: if host.is_empty() {
            None
        } else {
            Some(number(host)?)
        },
        container_port: number(container)?,
        host_ip: host_ip.filter(|ip| !ip.is_empty()),
        written: text.to_string(),
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

/// Splits a string command as a POSIX shell would split words (quotes, backslashes), as Compose
/// does; shell-words does that splitting, without any expansion.
pub fn split_command(text: &str) -> Result<Vec<String>, String> {
    shell_words::split(text).map_err(|e| format!("{e} in `{text}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_forms() {
        let p = |s| {
            let m = parse_port(s).unwrap();
            (m.host_port, m.container_port)
        };
        assert_eq!(p("5432"), (None, 5432));
        assert_eq!(p("6000:5432"), (Some(6000), 5432));
        assert_eq!(p("127.0.0.1:6000:5432/tcp"), (Some(6000), 5432));
        assert_eq!(p("127.0.0.1::5432"), (None, 5432));
        assert_eq!(p("[::1]:6000:5432"), (Some(6000), 5432));
        assert!(parse_port("abc:5432").unwrap_err().contains("abc"));
        assert!(parse_port("5432/udp").is_err());
        let four = parse_port("127.0.0.1:56002:56003:5432").unwrap_err();
        assert!(four.contains("too many parts"), "{four}");
    }

    fn service_with(command: &[&str], pgport: Option<&str>) -> Service {
        Service {
            name: "postgres".into(),
            image: Some("postgres:16".into()),
            build: None,
            environment: pgport
                .map(|p| BTreeMap::from([("PGPORT".to_string(), p.to_string())]))
                .unwrap_or_default()
                .into(),
            ports: Vec::new(),
            volumes: Vec::new(),
            healthcheck: None,
            command: (!command.is_empty()).then(|| command.iter().map(|w| w.to_string()).collect()),
            depends_on: Vec::new(),
        }
    }

    #[test]
    fn postgres_port_comes_from_command_then_pgport() {
        assert_eq!(service_with(&[], None).postgres_port(), 5432);
        assert_eq!(service_with(&[], Some("6001")).postgres_port(), 6001);
        assert_eq!(
            service_with(&["postgres", "-p", "6002"], Some("6001")).postgres_port(),
            6002
        );
        assert_eq!(
            service_with(&["postgres", "-c", "port=6003"], None).postgres_port(),
            6003
        );
        assert_eq!(
            service_with(&["postgres", "-p6004"], None).postgres_port(),
            6004
        );
        assert_eq!(
            service_with(&["postgres", "--port=6005"], None).postgres_port(),
            6005
        );
        assert_eq!(
            service_with(&["postgres", "-c", "wal_level=minimal"], None).postgres_port(),
            5432
        );
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
