//! Planning a table copy without touching a database: which tables a pattern names, how remote
//! and local columns pair up (by name), which wire format is safe, what the remote SELECT is.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A relation name, schema-qualified.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TableName {
    pub schema: String,
    pub name: String,
}

impl TableName {
    /// `schema.table` or `table` (meaning `public.table`).
    pub fn parse(text: &str) -> TableName {
        match text.split_once('.') {
            Some((schema, name)) => TableName {
                schema: schema.to_string(),
                name: name.to_string(),
            },
            None => TableName {
                schema: "public".to_string(),
                name: text.to_string(),
            },
        }
    }

    pub fn quoted(&self) -> String {
        format!("{}.{}", quote(&self.schema), quote(&self.name))
    }
}

impl std::fmt::Display for TableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

pub fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// A column as the catalog describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// `format_type(atttypid, atttypmod)`, e.g. `character varying(32)`.
    pub type_name: String,
    /// True for built-in base types and enums, whose binary COPY form does not embed
    /// database-specific type OIDs (arrays of user types and composites do).
    pub binary_portable: bool,
    pub not_null: bool,
    pub has_default: bool,
    /// Generated columns cannot be written by COPY; they compute themselves.
    pub generated: bool,
}

/// The mask rules are configuration (`x-devdb.copy.mask`), defined in `config/`.
pub use crate::config::MaskRule;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Binary,
    Text,
}

#[derive(Debug, Clone)]
pub struct TablePlan {
    pub table: TableName,
    /// Columns written locally, in the order of the SELECT.
    pub columns: Vec<String>,
    pub select: String,
    /// Every column as is, no filter or limit: the remote can `COPY table TO` directly.
    pub plain: bool,
    pub format: Format,
    /// Remote columns with no local counterpart (skipped, reported).
    pub skipped: Vec<String>,
    /// Local columns the remote lacks, left to their default.
    pub defaulted: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "{table}: local column `{column}` is NOT NULL without a default, and the remote table has no such column\n  \
         hint: add a default to it in a migration, or deploy the migration that adds it on the stage"
    )]
    MissingRequired { table: String, column: String },
    #[error("{table}: no column in common between the remote and the local table")]
    NoCommonColumns { table: String },
    #[error("mask rule for {table}.{column}: {message}")]
    Mask {
        table: String,
        column: String,
        message: String,
    },
}

/// Pairs columns by name and builds the remote SELECT with masks, limit and filter applied.
pub fn plan_table(
    table: &TableName,
    remote: &[Column],
    local: &[Column],
    masks: &BTreeMap<String, MaskRule>,
    filter: Option<&str>,
    limit: Option<u64>,
) -> Result<TablePlan, PlanError> {
    let mut columns = Vec::new();
    let mut expressions = Vec::new();
    let mut binary = true;
    for local_column in local.iter().filter(|c| !c.generated) {
        let Some(remote_column) = remote.iter().find(|r| r.name == local_column.name) else {
            continue;
        };
        let quoted = quote(&local_column.name);
        let expression = match masks.get(&local_column.name) {
            None => quoted.clone(),
            Some(MaskRule::Null) => {
                if local_column.not_null {
                    return Err(PlanError::Mask {
                        table: table.to_string(),
                        column: local_column.name.clone(),
                        message: "the local column is NOT NULL, so it cannot be masked with null"
                            .to_string(),
                    });
                }
                format!("NULL::{}", remote_column.type_name)
            }
            Some(MaskRule::Value { value }) => {
                format!("{}::{}", literal(value), remote_column.type_name)
            }
            Some(MaskRule::Hash) => {
                if !is_text_type(&remote_column.type_name) {
                    return Err(PlanError::Mask {
                        table: table.to_string(),
                        column: local_column.name.clone(),
                        message: format!(
                            "hash needs a text column, and this one is {}",
                            remote_column.type_name
                        ),
                    });
                }
                format!("md5({quoted}::text)::{}", remote_column.type_name)
            }
        };
        binary &= remote_column.type_name == local_column.type_name
            && remote_column.binary_portable
            && local_column.binary_portable;
        columns.push(local_column.name.clone());
        expressions.push(if expression == quoted {
            quoted
        } else {
            format!("{expression} AS {quoted}")
        });
    }
    if columns.is_empty() {
        return Err(PlanError::NoCommonColumns {
            table: table.to_string(),
        });
    }
    for local_column in local {
        if !local_column.generated
            && local_column.not_null
            && !local_column.has_default
            && !remote.iter().any(|r| r.name == local_column.name)
        {
            return Err(PlanError::MissingRequired {
                table: table.to_string(),
                column: local_column.name.clone(),
            });
        }
    }
    for column in masks.keys() {
        if !columns.contains(column) {
            return Err(PlanError::Mask {
                table: table.to_string(),
                column: column.clone(),
                message: "no such column is copied".to_string(),
            });
        }
    }
    let skipped = remote
        .iter()
        .filter(|r| !local.iter().any(|l| l.name == r.name && !l.generated))
        .map(|r| r.name.clone())
        .collect();
    let defaulted = local
        .iter()
        .filter(|l| !l.generated && !remote.iter().any(|r| r.name == l.name))
        .map(|l| l.name.clone())
        .collect();
    let plain = masks.is_empty() && filter.is_none() && limit.is_none();
    let mut select = format!("SELECT {} FROM {}", expressions.join(", "), table.quoted());
    if let Some(filter) = filter {
        select.push_str(&format!(" WHERE ({filter})"));
    }
    if let Some(limit) = limit {
        select.push_str(&format!(" LIMIT {limit}"));
    }
    Ok(TablePlan {
        plain,
        table: table.clone(),
        columns,
        select,
        format: if binary { Format::Binary } else { Format::Text },
        skipped,
        defaulted,
    })
}

impl TablePlan {
    /// What the remote `COPY ... TO STDOUT` reads. A plain table COPY skips the executor's
    /// per-row projection; Postgres allows it only for ordinary (not partitioned) tables.
    pub fn copy_source(&self, remote_partitioned: bool) -> String {
        if self.plain && !remote_partitioned {
            let columns: Vec<String> = self.columns.iter().map(|c| quote(c)).collect();
            format!("{} ({})", self.table.quoted(), columns.join(", "))
        } else {
            format!("({})", self.select)
        }
    }
}

fn is_text_type(type_name: &str) -> bool {
    type_name == "text"
        || type_name.starts_with("character varying")
        || type_name.starts_with("character(")
        || type_name == "citext"
}

fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Shell-style glob (`*`, `?`) match.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    fn matches(p: &[char], t: &[char]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some('*'), _) => matches(&p[1..], t) || (!t.is_empty() && matches(p, &t[1..])),
            (Some('?'), Some(_)) => matches(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => matches(&p[1..], &t[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    matches(&p, &t)
}

/// Expands table arguments (names or globs, optionally schema-qualified) against the remote
/// catalog. Unknown names are returned with their closest matches.
pub fn expand(
    requested: &[String],
    available: &[TableName],
) -> Result<Vec<TableName>, Vec<(String, Vec<String>)>> {
    let mut chosen: Vec<TableName> = Vec::new();
    let mut unknown = Vec::new();
    for request in requested {
        let wanted = TableName::parse(request);
        let found: Vec<&TableName> = available
            .iter()
            .filter(|t| glob_match(&wanted.schema, &t.schema) && glob_match(&wanted.name, &t.name))
            .collect();
        if found.is_empty() {
            let mut close: Vec<(usize, String)> = available
                .iter()
                .map(|t| (distance(&wanted.name, &t.name), t.to_string()))
                .filter(|(d, name)| *d <= 3 || name.contains(&wanted.name))
                .collect();
            close.sort();
            unknown.push((
                request.clone(),
                close.into_iter().take(3).map(|(_, n)| n).collect(),
            ));
        }
        for table in found {
            if !chosen.contains(table) {
                chosen.push(table.clone());
            }
        }
    }
    if unknown.is_empty() {
        Ok(chosen)
    } else {
        Err(unknown)
    }
}

/// Levenshtein distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(current + 1);
            previous = current;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, type_name: &str) -> Column {
        Column {
            name: name.into(),
            type_name: type_name.into(),
            binary_portable: true,
            not_null: false,
            has_default: false,
            generated: false,
        }
    }

    fn users() -> TableName {
        TableName::parse("users")
    }

    #[test]
    fn columns_pair_by_name_whatever_their_order() {
        let remote = [
            col("email", "text"),
            col("id", "bigint"),
            col("legacy_flag", "boolean"),
        ];
        let local = [
            col("id", "bigint"),
            col("email", "text"),
            col("nickname", "text"),
        ];
        let plan = plan_table(&users(), &remote, &local, &BTreeMap::new(), None, None).unwrap();
        assert_eq!(plan.columns, ["id", "email"]);
        assert_eq!(plan.select, r#"SELECT "id", "email" FROM "public"."users""#);
        assert_eq!(plan.format, Format::Binary);
        assert_eq!(plan.skipped, ["legacy_flag"]);
        assert_eq!(
            plan.copy_source(false),
            r#""public"."users" ("id", "email")"#
        );
        assert_eq!(
            plan.copy_source(true),
            r#"(SELECT "id", "email" FROM "public"."users")"#
        );
        assert_eq!(plan.defaulted, ["nickname"]);
    }

    #[test]
    fn differing_or_non_portable_types_use_text() {
        let remote = [col("id", "integer")];
        let local = [col("id", "bigint")];
        assert_eq!(
            plan_table(&users(), &remote, &local, &BTreeMap::new(), None, None)
                .unwrap()
                .format,
            Format::Text
        );
        let mut composite = col("amount", "money_amount");
        composite.binary_portable = false;
        let plan = plan_table(
            &users(),
            &[composite.clone()],
            &[composite],
            &BTreeMap::new(),
            None,
            None,
        )
        .unwrap();
        assert_eq!(plan.format, Format::Text);
    }

    #[test]
    fn required_local_column_missing_remotely_is_an_error() {
        let mut required = col("tenant_id", "bigint");
        required.not_null = true;
        let err = plan_table(
            &users(),
            &[col("id", "bigint")],
            &[col("id", "bigint"), required.clone()],
            &BTreeMap::new(),
            None,
            None,
        )
        .unwrap_err();
        assert_eq!(
            err,
            PlanError::MissingRequired {
                table: "public.users".into(),
                column: "tenant_id".into()
            }
        );
        required.has_default = true;
        assert!(plan_table(
            &users(),
            &[col("id", "bigint")],
            &[col("id", "bigint"), required],
            &BTreeMap::new(),
            None,
            None
        )
        .is_ok());
    }

    #[test]
    fn generated_local_columns_are_not_written() {
        let mut generated = col("search", "tsvector");
        generated.generated = true;
        let plan = plan_table(
            &users(),
            &[col("id", "bigint"), col("search", "tsvector")],
            &[col("id", "bigint"), generated],
            &BTreeMap::new(),
            None,
            None,
        )
        .unwrap();
        assert_eq!(plan.columns, ["id"]);
    }

    #[test]
    fn masks_filters_and_limits_shape_the_select() {
        let remote = [
            col("id", "bigint"),
            col("email", "text"),
            col("name", "text"),
            col("city", "text"),
        ];
        let masks = BTreeMap::from([
            ("email".to_string(), MaskRule::Hash),
            ("name".to_string(), MaskRule::Null),
            (
                "city".to_string(),
                MaskRule::Value {
                    value: "O'Town".into(),
                },
            ),
        ]);
        let plan =
            plan_table(&users(), &remote, &remote, &masks, Some("id < 10"), Some(5)).unwrap();
        assert_eq!(
            plan.select,
            r#"SELECT "id", md5("email"::text)::text AS "email", NULL::text AS "name", 'O''Town'::text AS "city" FROM "public"."users" WHERE (id < 10) LIMIT 5"#
        );
        assert!(
            plan.copy_source(false).starts_with("(SELECT"),
            "masked copies go through the SELECT"
        );
        let bad = BTreeMap::from([("id".to_string(), MaskRule::Hash)]);
        assert!(matches!(
            plan_table(&users(), &remote, &remote, &bad, None, None),
            Err(PlanError::Mask { .. })
        ));
        let unknown = BTreeMap::from([("nope".to_string(), MaskRule::Null)]);
        assert!(matches!(
            plan_table(&users(), &remote, &remote, &unknown, None, None),
            Err(PlanError::Mask { .. })
        ));
    }

    #[test]
    fn mask_rules_parse_from_yaml() {
        let rules: BTreeMap<String, MaskRule> =
            serde_yaml::from_str("a: null\nb: hash\nc: { value: x }\n").unwrap();
        assert_eq!(rules.get("a"), Some(&MaskRule::Null));
        assert_eq!(rules.get("b"), Some(&MaskRule::Hash));
        assert!(serde_yaml::from_str::<BTreeMap<String, MaskRule>>("a: scramble\n").is_err());
        assert_eq!(rules.get("c"), Some(&MaskRule::Value { value: "x".into() }));
    }

    #[test]
    fn patterns_expand_and_unknown_names_get_suggestions() {
        let available: Vec<TableName> = [
            "aws_ec2_instances",
            "aws_ec2_volumes",
            "aws_s3_buckets",
            "users",
            "reporting.daily_sales",
        ]
        .iter()
        .map(|t| TableName::parse(t))
        .collect();
        let tables = expand(
            &["aws_ec2_*".into(), "reporting.*".into(), "users".into()],
            &available,
        )
        .unwrap();
        let names: Vec<String> = tables.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [
                "public.aws_ec2_instances",
                "public.aws_ec2_volumes",
                "reporting.daily_sales",
                "public.users"
            ]
        );
        let unknown = expand(&["usres".into(), "users".into()], &available).unwrap_err();
        assert_eq!(
            unknown,
            [("usres".to_string(), vec!["public.users".to_string()])]
        );
    }

    #[test]
    fn globs() {
        assert!(glob_match("aws_*", "aws_x"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "abbc"));
        assert!(glob_match("*", ""));
    }
}
