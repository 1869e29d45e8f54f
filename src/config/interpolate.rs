//! Compose-style variable interpolation: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
//! `${VAR:?message}`, `${VAR?message}`, `${VAR:+alternative}`, `${VAR+alternative}`, and `$$` for
//! a literal dollar sign. Defaults may themselves contain variables, as in Compose. A variable
//! that is unset and has no default becomes an empty string, and its name is reported so the
//! caller can warn as Compose does.

/// Replaces variables in `input` using `lookup`. The error is a sentence naming the variable.
pub fn interpolate(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    interpolate_tracking(input, lookup, &mut Vec::new())
}

/// As [`interpolate`], adding to `unset` each variable replaced by an empty string because it
/// is not set (not those with a default or an alternative).
pub fn interpolate_tracking(
    input: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body_and_tail) = after.strip_prefix('{') {
            let end = matching_brace(body_and_tail)
                .ok_or_else(|| format!("unclosed `${{` in \"{input}\""))?;
            out.push_str(&expand(&body_and_tail[..end], lookup, unset)?);
            rest = &body_and_tail[end + 1..];
        } else {
            let name_len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if name_len == 0 {
                out.push('$');
            } else {
                out.push_str(&value_or_empty(&after[..name_len], lookup, unset));
            }
            rest = &after[name_len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Index of the `}` closing a `${`, skipping nested `${...}` in defaults.
fn matching_brace(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

fn value_or_empty(
    name: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
) -> String {
    lookup(name).unwrap_or_else(|| {
        if !unset.iter().any(|u| u == name) {
            unset.push(name.to_string());
        }
        String::new()
    })
}

fn expand(
    body: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
) -> Result<String, String> {
    let name_len = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(body.len());
    let (name, op) = body.split_at(name_len);
    if name.is_empty() {
        return Err(format!("invalid variable reference `${{{body}}}`"));
    }
    let value = lookup(name);
    let set = value.is_some();
    let non_empty = value.as_deref().is_some_and(|v| !v.is_empty());
    let (operator, argument) =
        split_operator(op).ok_or_else(|| format!("invalid variable reference `${{{body}}}`"))?;
    let use_argument = match operator {
        "" => return Ok(value_or_empty(name, lookup, unset)),
        ":-" => !non_empty,
        "-" => !set,
        ":+" => non_empty,
        "+" => set,
        ":?" | "?" => {
            let missing = if operator == ":?" { !non_empty } else { !set };
            if missing {
                let why = interpolate_tracking(argument, lookup, unset)?;
                let why = if why.is_empty() {
                    "required variable is missing".to_string()
                } else {
                    why
                };
                return Err(format!("variable {name} is not set: {why}"));
            }
            return Ok(value.unwrap_or_default());
        }
        _ => unreachable!("split_operator returns only known operators"),
    };
    if use_argument {
        interpolate_tracking(argument, lookup, unset)
    } else if operator.ends_with('+') {
        Ok(String::new())
    } else {
        Ok(value.unwrap_or_default())
    }
}

fn split_operator(op: &str) -> Option<(&str, &str)> {
    if op.is_empty() {
        return Some(("", ""));
    }
    for candidate in [":-", ":?", ":+", "-", "?", "+"] {
        if let Some(argument) = op.strip_prefix(candidate) {
            return Some((candidate, argument));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "USER" => Some("alice".into()),
            "EMPTY" => Some(String::new()),
            "PORT" => Some("6543".into()),
            _ => None,
        }
    }

    fn run(input: &str) -> Result<String, String> {
        interpolate(input, &env)
    }

    #[test]
    fn plain_and_braced_variables() {
        assert_eq!(run("$USER-${USER}").unwrap(), "alice-alice");
        assert_eq!(run("x${MISSING}y").unwrap(), "xy");
        assert_eq!(run("no variables").unwrap(), "no variables");
    }

    #[test]
    fn defaults_follow_compose_rules() {
        assert_eq!(run("${MISSING:-5432}").unwrap(), "5432");
        assert_eq!(run("${EMPTY:-5432}").unwrap(), "5432");
        assert_eq!(run("${EMPTY-5432}").unwrap(), "");
        assert_eq!(run("${PORT:-5432}").unwrap(), "6543");
        assert_eq!(run("${MISSING:-${PORT}}").unwrap(), "6543");
        assert_eq!(run("${USER:+set}|${MISSING:+set}").unwrap(), "set|");
    }

    #[test]
    fn required_variables_fail_with_their_message() {
        let err = run("${MISSING:?set MISSING in .env}").unwrap_err();
        assert!(
            err.contains("MISSING") && err.contains("set MISSING in .env"),
            "{err}"
        );
        assert!(run("${EMPTY?x}").is_ok());
        assert!(run("${EMPTY:?x}").is_err());
    }

    #[test]
    fn unset_variables_without_default_are_reported() {
        let mut unset = Vec::new();
        let out = interpolate_tracking(
            "127.0.0.1:${DB_PORT}:$OTHER ${NODEF:-x} ${USER} ${DB_PORT}",
            &env,
            &mut unset,
        )
        .unwrap();
        assert_eq!(out, "127.0.0.1:: x alice ");
        assert_eq!(unset, ["DB_PORT", "OTHER"]);
    }

    #[test]
    fn dollar_escapes_and_malformed_references() {
        assert_eq!(run("pa$$word").unwrap(), "pa$word");
        assert_eq!(run("cost: 5$").unwrap(), "cost: 5$");
        assert!(run("${USER").unwrap_err().contains("unclosed"));
        assert!(run("${USER%x}").unwrap_err().contains("invalid"));
    }
}
