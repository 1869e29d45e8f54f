//! Reads the `.env` file beside the Compose file, as Compose does: `KEY=VALUE` lines, optional
//! `export `, `#` comments, single quotes (literal) and double quotes (with `\n` escapes).

use std::collections::BTreeMap;

/// Parses `.env` text; `Err((line, message))` points at the first line that is not a definition.
pub fn parse(text: &str) -> Result<BTreeMap<String, String>, (usize, String)> {
    let mut vars = BTreeMap::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            return Err((index + 1, format!("expected KEY=VALUE, found `{line}`")));
        };
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err((index + 1, format!("`{key}` is not a valid variable name")));
        }
        vars.insert(key.to_string(), unquote(value.trim()));
    }
    Ok(vars)
}

fn unquote(value: &str) -> String {
    if let Some(inner) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        return inner.to_string();
    }
    if let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        return inner.replace("\\n", "\n").replace("\\\"", "\"");
    }
    // An unquoted value ends at ` #`, which starts a comment.
    match value.find(" #") {
        Some(pos) => value[..pos].trim_end().to_string(),
        None => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_compose_accepts() {
        let vars =
            parse("# comment\nA=1\nexport B = two \nC='lit $X'\nD=\"a\\nb\"\nE=val # note\nF=\n")
                .unwrap();
        assert_eq!(vars["A"], "1");
        assert_eq!(vars["B"], "two");
        assert_eq!(vars["C"], "lit $X");
        assert_eq!(vars["D"], "a\nb");
        assert_eq!(vars["E"], "val");
        assert_eq!(vars["F"], "");
    }

    #[test]
    fn names_the_bad_line() {
        assert_eq!(parse("A=1\nnot a definition\n").unwrap_err().0, 2);
        assert_eq!(parse("BAD-NAME=1").unwrap_err().0, 1);
    }
}
