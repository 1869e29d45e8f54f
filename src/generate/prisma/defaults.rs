//! Column defaults as Prisma 7.8 introspects them: `autoincrement()` for identities and
//! sequences, `now()`, literals for the scalar families it understands (strings, numbers,
//! booleans, JSON, bytes as base64, enum values, arrays of those), and `dbgenerated("...")` with
//! the expression `pg_get_expr` prints for everything else (including generated columns).

use base64::Engine;

use super::types::{ColumnType, Family};
use crate::generate::introspect::ColumnInfo;

/// The argument of `@default(...)`, or None when the column has no default.
pub fn default_value(
    column: &ColumnInfo,
    column_type: &ColumnType,
    enum_value: &dyn Fn(&str, &str) -> Option<String>,
) -> Option<String> {
    if matches!(column.identity.as_str(), "a" | "d") {
        return Some("autoincrement()".to_string());
    }
    let expression = column.default.as_deref()?;
    if expression.starts_with("nextval(")
        && matches!(column_type.family, Family::Int | Family::BigInt)
    {
        return Some("autoincrement()".to_string());
    }
    let literal = if column_type.list {
        array(expression, &column_type.family, enum_value)
    } else {
        scalar(expression, &column_type.family, enum_value)
    };
    Some(literal.unwrap_or_else(|| format!("dbgenerated({})", quote(expression))))
}

fn scalar(
    expression: &str,
    family: &Family,
    enum_value: &dyn Fn(&str, &str) -> Option<String>,
) -> Option<String> {
    match family {
        Family::DateTime => {
            matches!(expression, "now()" | "CURRENT_TIMESTAMP").then(|| "now()".to_string())
        }
        Family::Int | Family::BigInt | Family::Float | Family::Decimal => {
            let text = cast_literal(expression).unwrap_or_else(|| expression.to_string());
            is_number(&text).then_some(text)
        }
        Family::Boolean => match cast_literal(expression).as_deref().unwrap_or(expression) {
            "true" | "t" => Some("true".to_string()),
            "false" | "f" => Some("false".to_string()),
            _ => None,
        },
        Family::String | Family::Json => cast_literal(expression).map(|text| quote(&text)),
        Family::Bytes => {
            let text = cast_literal(expression)?;
            let bytes = decode_hex(text.strip_prefix("\\x")?)?;
            Some(quote(
                &base64::engine::general_purpose::STANDARD.encode(bytes),
            ))
        }
        Family::Enum(name) => {
            let text = cast_literal(expression)?;
            enum_value(name, &text)
        }
        Family::Unsupported(_) => None,
    }
}

fn array(
    expression: &str,
    family: &Family,
    enum_value: &dyn Fn(&str, &str) -> Option<String>,
) -> Option<String> {
    let elements: Vec<String> = if let Some(rest) = expression.strip_prefix("ARRAY[") {
        let inner = bracketed(rest)?;
        if inner.is_empty() {
            Vec::new()
        } else {
            split_top_level(inner)
                .into_iter()
                .map(|element| cast_literal(&element).unwrap_or(element))
                .collect()
        }
    } else {
        array_literal(&cast_literal(expression)?)?
    };
    let rendered: Option<Vec<String>> = elements
        .iter()
        .map(|element| match family {
            Family::Int | Family::BigInt | Family::Float | Family::Decimal => {
                is_number(element).then(|| element.clone())
            }
            Family::Boolean => match element.as_str() {
                "t" | "true" => Some("true".to_string()),
                "f" | "false" => Some("false".to_string()),
                _ => None,
            },
            Family::String | Family::Json => Some(quote(element)),
            Family::Enum(name) => enum_value(name, element),
            _ => None,
        })
        .collect();
    Some(format!("[{}]", rendered?.join(", ")))
}

/// The text before the `]` that closes an `ARRAY[`, when only a cast follows it.
fn bracketed(rest: &str) -> Option<&str> {
    let mut depth = 1;
    let mut in_string = false;
    for (index, c) in rest.char_indices() {
        match c {
            '\'' => in_string = !in_string,
            '[' if !in_string => depth += 1,
            ']' if !in_string => {
                depth -= 1;
                if depth == 0 {
                    let tail = &rest[index + 1..];
                    return (tail.is_empty() || tail.starts_with("::")).then(|| &rest[..index]);
                }
            }
            _ => {}
        }
    }
    None
}

/// `'text'::type` (the type may be anything) → `text`, with `''` unescaped.
fn cast_literal(expression: &str) -> Option<String> {
    let rest = expression.strip_prefix('\'')?;
    let mut value = String::new();
    let mut chars = rest.char_indices().peekable();
    while let Some((index, c)) = chars.next() {
        if c == '\'' {
            if chars.peek().is_some_and(|(_, n)| *n == '\'') {
                chars.next();
                value.push('\'');
                continue;
            }
            let tail = &rest[index + 1..];
            return (tail.is_empty() || is_cast(tail)).then_some(value);
        }
        value.push(c);
    }
    None
}

/// `::type name` and nothing else (no operator, no second operand).
fn is_cast(tail: &str) -> bool {
    tail.strip_prefix("::").is_some_and(|type_name| {
        let mut quoted = false;
        !type_name.is_empty()
            && type_name.chars().all(|c| {
                if c == '"' {
                    quoted = !quoted;
                }
                quoted || c.is_alphanumeric() || " _\".()[],".contains(c)
            })
    })
}

/// Elements of a Postgres array literal `{a,"b c",NULL}` (one dimension).
fn array_literal(text: &str) -> Option<Vec<String>> {
    let inner = text.strip_prefix('{')?.strip_suffix('}')?;
    if inner.is_empty() {
        return Some(Vec::new());
    }
    let mut elements = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' if quoted => current.push(chars.next()?),
            ',' if !quoted => elements.push(std::mem::take(&mut current)),
            '{' | '}' if !quoted => return None,
            c => current.push(c),
        }
    }
    elements.push(current);
    Some(elements)
}

/// Splits `a, 'b, c'::text, d` at top-level commas.
fn split_top_level(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut in_string = false;
    let mut depth = 0;
    for c in text.chars() {
        match c {
            '\'' => in_string = !in_string,
            '(' | '[' if !in_string => depth += 1,
            ')' | ']' if !in_string => depth -= 1,
            ',' if !in_string && depth == 0 => {
                parts.push(current.trim().to_string());
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current.trim().to_string());
    parts
}

fn is_number(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.chars().filter(|c| *c == '.').count() <= 1
        && !digits.starts_with('.')
        && !digits.ends_with('.')
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A PSL string literal.
pub fn quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals() {
        assert_eq!(bracketed("]::text[]"), Some(""));
        assert_eq!(bracketed("'a]'::text]"), Some("'a]'::text"));
        assert_eq!(bracketed("1] || x"), None);
        assert_eq!(cast_literal("'it''s'::text").as_deref(), Some("it's"));
        assert_eq!(cast_literal("'a'::text || 'b'::text"), None);
        assert_eq!(cast_literal("'x'::\"order-status\"").as_deref(), Some("x"));
        assert_eq!(
            array_literal("{1,\"a,b\",c}"),
            Some(vec!["1".into(), "a,b".into(), "c".into()])
        );
        assert_eq!(
            split_top_level("'a'::text, 'b, c'::text"),
            ["'a'::text", "'b, c'::text"]
        );
        assert!(is_number("-1") && is_number("1.50") && !is_number("1e5") && !is_number("x"));
        assert_eq!(decode_hex("00ff"), Some(vec![0, 255]));
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }
}
