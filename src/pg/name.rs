//! One qualified name for every relation devdb talks about. Names users write (`users`,
//! `"MixedCase"`, `"my.schema"."t"`, `billing.orders.id`, globs such as `aws_ec2_*`) are read
//! with Postgres's own scanner (pg_query), so a dot inside quotes is part of the name; names are
//! written back with postgres_protocol's identifier escaping. Unlike SQL, an unquoted name is
//! taken as written, not folded to lower case: on a command line or in `x-devdb` people write
//! the names they see (`devdb copy User Order` for Prisma's PascalCase tables), and that
//! worked before the scanner read them.

use postgres_protocol::escape::escape_identifier;

/// A relation name, schema-qualified. The schema is empty only for a name a statement wrote
/// without one ([`QualifiedName::from_parts`]), which leaves it to the search path: lint resolves
/// such a name in any schema that holds it. Names users give devdb ([`QualifiedName::parse`]) and
/// names read from the catalog always have one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QualifiedName {
    pub schema: String,
    pub name: String,
}

impl QualifiedName {
    pub fn new(schema: &str, name: &str) -> QualifiedName {
        QualifiedName {
            schema: schema.to_string(),
            name: name.to_string(),
        }
    }

    /// `schema.table` or `table` (meaning `public.table`). Text Postgres's scanner cannot read
    /// (an unterminated quote) is kept whole as the table's name, so it matches nothing and
    /// the caller's "no such table" names it as written.
    pub fn parse(text: &str) -> QualifiedName {
        match name_parts(text).as_deref() {
            Ok([name]) => QualifiedName::new("public", name),
            Ok([schema, name]) => QualifiedName::new(schema, name),
            _ => QualifiedName::new("public", text.trim()),
        }
    }

    /// A name as a parse tree lists its parts (`name`, `schema.name`, or with a leading
    /// database part, which is ignored). A lone name keeps no schema.
    pub fn from_parts(parts: &[String]) -> Option<QualifiedName> {
        match parts {
            [] => None,
            [name] => Some(QualifiedName::new("", name)),
            [.., schema, name] => Some(QualifiedName::new(schema, name)),
        }
    }

    /// The schema, unless the name was written without one.
    pub fn written_schema(&self) -> Option<&str> {
        (!self.schema.is_empty()).then_some(self.schema.as_str())
    }

    /// `"schema"."name"` (or `"name"` when written without a schema), safe to paste into SQL.
    pub fn quoted(&self) -> String {
        match self.written_schema() {
            Some(schema) => format!(
                "{}.{}",
                escape_identifier(schema),
                escape_identifier(&self.name)
            ),
            None => escape_identifier(&self.name),
        }
    }
}

impl std::fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.written_schema() {
            Some(schema) => write!(f, "{schema}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// A column of a relation, as a user writes it: `table.column`, `schema.table.column`, any part
/// quoted. Returns the relation part (as written, for [`QualifiedName::parse`] or glob
/// matching) and the column's name.
pub fn split_column(text: &str) -> Option<(String, String)> {
    let parts = name_parts(text).ok()?;
    let (column, relation) = parts.split_last()?;
    if relation.is_empty() || relation.len() > 2 {
        return None;
    }
    let relation: Vec<String> = relation.iter().map(|p| quote_part(p)).collect();
    Some((relation.join("."), column.clone()))
}

/// A name part written back so that [`name_parts`] reads it unchanged: glob characters and
/// plain names as they are, anything else quoted.
fn quote_part(part: &str) -> String {
    let plain = part
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '*' || c == '?');
    if plain && !part.is_empty() {
        part.to_string()
    } else {
        escape_identifier(part)
    }
}

/// The dot-separated parts of a (possibly quoted, possibly glob) name, as Postgres's scanner
/// reads them: a quoted part unquoted (`""` is a quote), an unquoted one as written.
/// Tokens of one part must touch (`aws_ec2_*` is one part, `my table` is an error).
pub fn name_parts(text: &str) -> Result<Vec<String>, String> {
    let scanned =
        pg_query::scan(text).map_err(|e| format!("`{text}` is not a name Postgres reads: {e}"))?;
    let mut parts = vec![String::new()];
    let mut previous_end: Option<i32> = None;
    for token in &scanned.tokens {
        let source = &text[token.start as usize..token.end as usize];
        if token.token == pg_query::protobuf::Token::Ascii46 as i32 {
            parts.push(String::new());
            previous_end = None;
            continue;
        }
        if source.contains('.') && !source.starts_with('"') {
            // `..` (one token) or a number such as `1.5`: not a name.
            return Err(format!("`{text}` has an empty or numeric name part"));
        }
        if previous_end.is_some_and(|end| end != token.start) {
            return Err(format!(
                "`{text}`: a name part cannot hold a space unless it is quoted"
            ));
        }
        let part = parts.last_mut().expect("one part at least");
        match source.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
            Some(quoted) => part.push_str(&quoted.replace("\"\"", "\"")),
            None => part.push_str(source),
        }
        previous_end = Some(token.end);
    }
    if parts.iter().any(String::is_empty) {
        return Err(format!("`{text}` has an empty name part"));
    }
    Ok(parts)
}

/// `table(col, ...)` or `schema.table(col, ...)`, as a `REFERENCES` clause names columns, read
/// by Postgres's parser (so quoting and case folding are Postgres's own).
pub fn parse_table_columns(text: &str) -> Result<(QualifiedName, Vec<String>), String> {
    use pg_query::NodeEnum;
    let usage = || {
        format!(
            "`{text}` is not `table(column, ...)` (quote names Postgres reserves, like \"user\")"
        )
    };
    let parsed = pg_query::parse(&format!("SELECT {text}"), 0).map_err(|_| usage())?;
    let [statement] = parsed.protobuf.stmts.as_slice() else {
        return Err(usage());
    };
    let Some(NodeEnum::SelectStmt(select)) = statement.stmt.as_ref().and_then(|s| s.node.as_ref())
    else {
        return Err(usage());
    };
    let [target] = select.target_list.as_slice() else {
        return Err(usage());
    };
    let Some(NodeEnum::ResTarget(target)) = target.node.as_ref() else {
        return Err(usage());
    };
    let Some(NodeEnum::FuncCall(call)) = target.val.as_ref().and_then(|v| v.node.as_ref()) else {
        return Err(usage());
    };
    let strings = |nodes: &[pg_query::protobuf::Node]| -> Option<Vec<String>> {
        nodes
            .iter()
            .map(|n| match n.node.as_ref() {
                Some(NodeEnum::String(s)) => Some(s.sval.clone()),
                _ => None,
            })
            .collect()
    };
    let table = match strings(&call.funcname).as_deref() {
        Some([name]) => QualifiedName::new("public", name),
        Some([schema, name]) => QualifiedName::new(schema, name),
        _ => return Err(usage()),
    };
    let columns: Option<Vec<String>> = call
        .args
        .iter()
        .map(|arg| match arg.node.as_ref() {
            Some(NodeEnum::ColumnRef(column)) => match strings(&column.fields).as_deref() {
                Some([name]) => Some(name.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    match columns {
        Some(columns) if !columns.is_empty() && target.name.is_empty() => Ok((table, columns)),
        _ => Err(usage()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_read_by_postgres_s_scanner_and_taken_as_written() {
        assert_eq!(
            QualifiedName::parse("users"),
            QualifiedName::new("public", "users")
        );
        assert_eq!(
            QualifiedName::parse("User"),
            QualifiedName::new("public", "User"),
            "as written, not folded: Prisma's tables are PascalCase"
        );
        assert_eq!(
            QualifiedName::parse("\"MixedCase\""),
            QualifiedName::new("public", "MixedCase")
        );
        assert_eq!(
            QualifiedName::parse("\"a.b\".\"c\"\"d\""),
            QualifiedName::new("a.b", "c\"d")
        );
        assert_eq!(
            QualifiedName::parse("billing.order"),
            QualifiedName::new("billing", "order"),
            "a keyword is a name part too"
        );
        assert_eq!(QualifiedName::parse("aws_ec2_*").name, "aws_ec2_*");
        assert_eq!(QualifiedName::parse("reporting.*").schema, "reporting");
        assert_eq!(QualifiedName::parse("\"open").name, "\"open");
        assert_eq!(
            QualifiedName::new("a.b", "c\"d").quoted(),
            r#""a.b"."c""d""#
        );
        assert!(name_parts("my table").is_err());
        let written = |parts: &[&str]| {
            let parts: Vec<String> = parts.iter().map(|p| p.to_string()).collect();
            QualifiedName::from_parts(&parts)
        };
        let alone = written(&["users"]).unwrap();
        assert_eq!(
            (alone.written_schema(), alone.to_string()),
            (None, "users".to_string())
        );
        assert_eq!(alone.quoted(), "\"users\"");
        let qualified = written(&["db", "app", "users"]).unwrap();
        assert_eq!(
            qualified,
            QualifiedName::new("app", "users"),
            "the database part is ignored"
        );
        assert_eq!(qualified.to_string(), "app.users");
        assert_eq!(written(&[]), None);
        assert!(name_parts("a..b").is_err());
    }

    #[test]
    fn a_column_key_splits_at_its_last_unquoted_dot() {
        assert_eq!(
            split_column("users.email"),
            Some(("users".to_string(), "email".to_string()))
        );
        assert_eq!(
            split_column("\"we.ird\".\"t.1\".\"e.mail\""),
            Some(("\"we.ird\".\"t.1\"".to_string(), "e.mail".to_string()))
        );
        let (relation, _) = split_column("\"we.ird\".\"t.1\".x").unwrap();
        assert_eq!(
            QualifiedName::parse(&relation),
            QualifiedName::new("we.ird", "t.1")
        );
        assert_eq!(
            split_column("u*.email"),
            Some(("u*".to_string(), "email".to_string()))
        );
        assert_eq!(split_column("email"), None, "no table part");
    }

    #[test]
    fn table_and_columns_read_as_a_references_clause() {
        assert_eq!(
            parse_table_columns("events(_cq_parent_id)").unwrap(),
            (
                QualifiedName::new("public", "events"),
                vec!["_cq_parent_id".to_string()]
            )
        );
        assert_eq!(
            parse_table_columns("Billing.\"Order Lines\"(order_id, \"Region\")").unwrap(),
            (
                QualifiedName::new("billing", "Order Lines"),
                vec!["order_id".to_string(), "Region".to_string()]
            )
        );
        for bad in [
            "events",
            "events()",
            "events(a.b)",
            "events(1)",
            "user(id)",
            "a(x); drop table a",
        ] {
            assert!(parse_table_columns(bad).is_err(), "{bad}");
        }
        assert_eq!(split_column("a.b.c.d"), None);
    }
}
