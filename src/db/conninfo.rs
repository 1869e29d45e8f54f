//! A stage's connection string, parsed once into typed settings: tokio-postgres's `Config` plus
//! the libpq TLS parameters it does not accept. The text itself is dropped after parsing, and no
//! message here ever quotes it, so a password can only reach output through a typed field that
//! is never printed (earlier string-slicing redaction disagreed with the parser on where the
//! password ends).
//!
//! Both libpq forms are accepted: `postgres://user:password@host:port/db?key=value` (split
//! exactly as tokio-postgres splits it: credentials end at the first `@`) and
//! `key=value key='quoted value'`.

use std::borrow::Cow;

use tokio_postgres::config::Host;

/// The libpq TLS parameters devdb handles itself.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TlsParams {
    pub sslmode: Option<String>,
    pub sslrootcert: Option<String>,
    pub sslcert: Option<String>,
    pub sslkey: Option<String>,
    /// Only whether one was given: devdb refuses encrypted client keys.
    pub sslpassword_given: bool,
}

/// A parsed connection string.
pub struct ConnInfo {
    pub config: tokio_postgres::Config,
    pub tls: TlsParams,
}

const TLS_KEYS: [&str; 5] = ["sslmode", "sslrootcert", "sslcert", "sslkey", "sslpassword"];

/// The key/value parameters tokio-postgres understands (besides the TLS ones above).
const KNOWN_KEYS: [&str; 17] = [
    "user",
    "password",
    "dbname",
    "options",
    "application_name",
    "sslnegotiation",
    "host",
    "hostaddr",
    "port",
    "connect_timeout",
    "tcp_user_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_retries",
    "target_session_attrs",
    "channel_binding",
];

const ENCODE_HINT: &str =
    "percent-encode `@`, `/`, `?`, `&`, `#` and spaces in a URL's password (`@` is %40), or quote \
     key/value values: password='a b'";

/// Parses a connection string. Error messages never contain any part of `text`.
pub fn parse(text: &str) -> Result<ConnInfo, String> {
    let text = text.trim();
    let (config, tls) = match url_body(text) {
        Some((prefix, body)) => parse_url(prefix, body)?,
        None => parse_key_values(text)?,
    };
    check_hosts(&config)?;
    Ok(ConnInfo { config, tls })
}

fn url_body(text: &str) -> Option<(&str, &str)> {
    ["postgres://", "postgresql://"]
        .into_iter()
        .find_map(|prefix| text.strip_prefix(prefix).map(|body| (prefix, body)))
}

fn parse_url(prefix: &str, body: &str) -> Result<(tokio_postgres::Config, TlsParams), String> {
    // tokio-postgres takes the credentials up to the first `@`; a second `@` outside the query
    // means an unencoded `@` in the password, whose tail would otherwise become the host name.
    let (credentials, rest) = match body.split_once('@') {
        Some((credentials, rest)) => (Some(credentials), rest),
        None => (None, body),
    };
    let (location, query) = match rest.split_once('?') {
        Some((location, query)) => (location, Some(query)),
        None => (rest, None),
    };
    if location.contains('@') {
        return Err(format!(
            "the URL holds more than one `@` before its parameters; {ENCODE_HINT}"
        ));
    }
    let mut tls = TlsParams::default();
    let mut kept = Vec::new();
    for (index, pair) in query.into_iter().flat_map(|q| q.split('&')).enumerate() {
        if pair.is_empty() {
            continue;
        }
        let Some((key, value)) = pair.split_once('=') else {
            return Err(format!(
                "URL parameter {} has no `=`; {ENCODE_HINT}",
                index + 1
            ));
        };
        let key = decode(key)?;
        if TLS_KEYS.contains(&key.as_ref()) {
            take_tls(&mut tls, &key, decode(value)?.into_owned());
        } else if KNOWN_KEYS.contains(&key.as_ref()) {
            kept.push(pair);
        } else {
            return Err(unknown_parameter(index + 1));
        }
    }
    let mut cleaned = prefix.to_string();
    if let Some(credentials) = credentials {
        cleaned.push_str(credentials);
        cleaned.push('@');
    }
    cleaned.push_str(location);
    if !kept.is_empty() {
        cleaned.push('?');
        cleaned.push_str(&kept.join("&"));
    }
    let config = cleaned.parse().map_err(|e| parser_error(&e))?;
    Ok((config, tls))
}

fn parse_key_values(text: &str) -> Result<(tokio_postgres::Config, TlsParams), String> {
    let mut tls = TlsParams::default();
    let mut quoted = Vec::new();
    for (index, (key, value)) in key_values(text)?.into_iter().enumerate() {
        if TLS_KEYS.contains(&key) {
            take_tls(&mut tls, key, value);
        } else if KNOWN_KEYS.contains(&key) {
            quoted.push(format!("{key}='{}'", escape(&value)));
        } else {
            return Err(unknown_parameter(index + 1));
        }
    }
    let config = quoted.join(" ").parse().map_err(|e| parser_error(&e))?;
    Ok((config, tls))
}

/// libpq's key/value syntax: `key = value`, values unquoted (backslash escapes) or in single
/// quotes (backslash escapes), separated by white space.
fn key_values(text: &str) -> Result<Vec<(&str, String)>, String> {
    let mut pairs = Vec::new();
    let mut chars = text.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            return Ok(pairs);
        };
        let mut end = text.len();
        while let Some(&(i, c)) = chars.peek() {
            if c.is_whitespace() || c == '=' {
                end = i;
                break;
            }
            chars.next();
        }
        let key = &text[start..end];
        let position = pairs.len() + 1;
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        if chars.next().map(|(_, c)| c) != Some('=') {
            return Err(format!(
                "parameter {position} is not `key=value` (white space separates parameters); {ENCODE_HINT}"
            ));
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let quoted = chars.next_if(|(_, c)| *c == '\'').is_some();
        let mut value = String::new();
        let mut closed = !quoted;
        while let Some((_, c)) = chars.next() {
            match c {
                '\\' => value.extend(chars.next().map(|(_, c)| c)),
                '\'' if quoted => {
                    closed = true;
                    break;
                }
                c if c.is_whitespace() && !quoted => break,
                c => value.push(c),
            }
        }
        if !closed {
            return Err(format!(
                "the quoted value of parameter {position} has no closing `'`"
            ));
        }
        pairs.push((key, value));
    }
}

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\'', "\\'")
}

fn take_tls(tls: &mut TlsParams, key: &str, value: String) {
    match key {
        "sslmode" => tls.sslmode = Some(value),
        "sslrootcert" => tls.sslrootcert = Some(value),
        "sslcert" => tls.sslcert = Some(value),
        "sslkey" => tls.sslkey = Some(value),
        _ => tls.sslpassword_given = true,
    }
}

fn decode(text: &str) -> Result<Cow<'_, str>, String> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map_err(|_| "a URL parameter is not UTF-8 after percent-decoding".to_string())
}

/// The name is not quoted: with an unquoted space in a password, the "name" is part of it.
fn unknown_parameter(position: usize) -> String {
    format!(
        "parameter {position} is not a connection parameter devdb knows ({}, {}); check its \
         spelling, or {ENCODE_HINT}",
        KNOWN_KEYS.join(", "),
        TLS_KEYS.join(", ")
    )
}

/// tokio-postgres's messages at this point name options and positions, never values.
fn parser_error(error: &tokio_postgres::Error) -> String {
    format!("{}; {ENCODE_HINT}", super::describe(error))
}

/// A host name with characters no host name has is most likely the tail of a password.
fn check_hosts(config: &tokio_postgres::Config) -> Result<(), String> {
    let plausible = |name: &str| {
        name.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._:%[]".contains(c))
    };
    for host in config.get_hosts() {
        if let Host::Tcp(name) = host {
            if !plausible(name) {
                return Err(format!(
                    "a host name holds characters host names do not have; {ENCODE_HINT}"
                ));
            }
        }
    }
    Ok(())
}

/// True when every host is this machine (loopback address, `localhost` or a Unix socket).
pub fn all_hosts_local(config: &tokio_postgres::Config) -> bool {
    let hosts = config.get_hosts();
    !hosts.is_empty()
        && hosts.iter().all(|host| match host {
            Host::Unix(_) => true,
            Host::Tcp(name) => {
                name == "localhost"
                    || name
                        .trim_matches(['[', ']'])
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
        })
}

/// `user@host:port/database`, built from the parsed fields (no password exists in them).
pub fn describe(config: &tokio_postgres::Config) -> String {
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let name = match host {
                Host::Tcp(name) => name.clone(),
                Host::Unix(path) => path.display().to_string(),
            };
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            format!("{name}:{port}")
        })
        .collect();
    let user = config.get_user().unwrap_or("(default user)");
    let database = config.get_dbname().unwrap_or(user);
    format!("{user}@{}/{database}", hosts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NASTY: [&str; 6] = ["pa/ss", "p?ss", "p@ss", "a b c", "it's", "q\"uo\\te"];

    fn url_encode(text: &str) -> String {
        percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
    }

    #[test]
    fn passwords_parse_the_same_in_both_forms() {
        for password in NASTY {
            let url = format!(
                "postgres://app:{}@db.example:6543/app?sslmode=verify-ca&sslrootcert=%2Fca.pem",
                url_encode(password)
            );
            let parsed = parse(&url).unwrap();
            assert_eq!(parsed.config.get_password(), Some(password.as_bytes()));
            assert_eq!(parsed.tls.sslmode.as_deref(), Some("verify-ca"));
            assert_eq!(parsed.tls.sslrootcert.as_deref(), Some("/ca.pem"));
            assert_eq!(describe(&parsed.config), "app@db.example:6543/app");

            let key_values = format!(
                "host=db.example user=app password='{}' dbname=app sslmode=require",
                escape(password)
            );
            let parsed = parse(&key_values).unwrap();
            assert_eq!(parsed.config.get_password(), Some(password.as_bytes()));
            assert_eq!(parsed.tls.sslmode.as_deref(), Some("require"));
            assert!(!describe(&parsed.config).contains(password));
        }
    }

    #[test]
    fn unencoded_slash_and_question_mark_stay_in_the_password() {
        // The old redaction ended the password at `/`; tokio-postgres ends it at `@`.
        let parsed = parse("postgres://app:pa/ss@db/app").unwrap();
        assert_eq!(parsed.config.get_password(), Some(&b"pa/ss"[..]));
        assert_eq!(describe(&parsed.config), "app@db:5432/app");
    }

    #[test]
    fn malformed_strings_are_refused_without_quoting_them() {
        for (text, fragment) in [
            ("postgres://app:p@zq9x@db/app", "zq9x"),
            ("host=db password=a zq9x=c", "zq9x"),
            ("host=db password=secretx zq9x", "zq9x"),
            ("host=db password='zq9x", "zq9x"),
            ("postgres://app:secretx@db/app?password=a&zq9x=1", "zq9x"),
            ("postgres://app:zq9x@db:notaport/app", "zq9x"),
        ] {
            let error = match parse(text) {
                Ok(_) => panic!("{text} must be refused"),
                Err(error) => error,
            };
            assert!(!error.contains(fragment), "{error}");
            assert!(!error.contains("secretx"), "{error}");
        }
    }

    #[test]
    fn loopback_detection() {
        let local = |text: &str| all_hosts_local(&parse(text).unwrap().config);
        assert!(local("postgres://u@127.0.0.1:5432/d"));
        assert!(local("postgres://u@localhost/d"));
        assert!(local("postgres://u@[::1]:5432/d"));
        assert!(!local("postgres://u@db.example/d"));
        assert!(!local("postgres://u@127.0.0.1,db.example/d"));
    }
}
