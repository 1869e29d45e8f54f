//! Planning a table copy without touching a database: which tables a pattern names, how remote
//! and local columns pair up (by name), which wire format is safe, what the remote SELECT is.

use crate::config::CopySettings;
use crate::db::{quote_ident, quote_literal};
use crate::hint::Hint;
use std::collections::BTreeMap;

use serde::Deserialize;

/// Relations are named by the catalog layer's one qualified-name type.
pub use crate::pg::QualifiedName;

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
    pub table: QualifiedName,
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
        "{table}: local column `{column}` is NOT NULL without a default, and the remote table has no such column"
    )]
    MissingRequired { table: String, column: String },
    #[error("{table}: no column in common between the remote and the local table")]
    NoCommonColumns { table: String },
    #[error("{entry} names {name}, which is not {scope}; nothing was copied")]
    UnknownEntry {
        entry: String,
        name: String,
        scope: String,
        close: Vec<String>,
    },
    #[error("{table}: the row filter `{condition}` {message}")]
    Filter {
        table: String,
        condition: String,
        message: String,
    },
    #[error("mask rule for {table}.{column}: {message}")]
    Mask {
        table: String,
        column: String,
        message: String,
    },
}

impl PlanError {
    /// What to do about it, shown apart from the message.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            PlanError::MissingRequired { .. } => Some(Hint::suggest(
                "add a default to it in a migration, or deploy the migration that adds it on the stage",
            )),
            PlanError::UnknownEntry { close, .. } if !close.is_empty() => {
                Some(Hint::suggest(format!("did you mean {}?", close.join(", "))))
            }
            _ => None,
        }
    }
}

/// The project's key for `hmac` masks (32 random bytes).
#[derive(Clone)]
pub struct MaskKey(pub [u8; 32]);

impl std::fmt::Debug for MaskKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MaskKey(***)")
    }
}

impl MaskKey {
    /// HMAC-SHA256 (RFC 2104) in the stage's SQL, from Postgres's built-in `sha256` (11+), so
    /// clear values never leave the stage: H((K ^ opad) || H((K ^ ipad) || text)).
    fn sql(&self, column: &str) -> String {
        let pad = |byte: u8| {
            let mut block = [0u8; 64];
            block[..32].copy_from_slice(&self.0);
            block
                .iter()
                .map(|b| format!("{:02x}", b ^ byte))
                .collect::<String>()
        };
        format!(
            "encode(sha256('\\x{}'::bytea || sha256('\\x{}'::bytea || convert_to({column}::text, 'UTF8'))), 'hex')",
            pad(0x5c),
            pad(0x36)
        )
    }
}

/// What planning one table's copy takes: both sides' columns, and what the copy asks of it.
#[derive(Debug, Clone, Copy)]
pub struct TableSpec<'a> {
    pub table: &'a QualifiedName,
    pub remote: &'a [Column],
    pub local: &'a [Column],
    pub masks: &'a BTreeMap<String, MaskRule>,
    pub filter: Option<&'a str>,
    pub limit: Option<u64>,
    /// The project's key for `hmac` masks.
    pub key: Option<&'a MaskKey>,
}

/// Pairs columns by name and builds the remote SELECT with masks, limit and filter applied.
pub fn plan_table(spec: &TableSpec) -> Result<TablePlan, PlanError> {
    let (table, remote, local) = (spec.table, spec.remote, spec.local);
    let mut columns = Vec::new();
    let mut expressions = Vec::new();
    let mut binary = true;
    for local_column in local.iter().filter(|c| !c.generated) {
        let Some(remote_column) = remote.iter().find(|r| r.name == local_column.name) else {
            continue;
        };
        let quoted = quote_ident(&local_column.name);
        let expression = match spec.masks.get(&local_column.name) {
            None => quoted.clone(),
            Some(rule) => masked(spec, rule, local_column, remote_column, &quoted)?,
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
    check_columns(spec, &columns)?;
    let plain = spec.masks.is_empty() && spec.filter.is_none() && spec.limit.is_none();
    let mut select = format!("SELECT {} FROM {}", expressions.join(", "), table.quoted());
    if let Some(filter) = spec.filter {
        let condition = single_condition(filter).map_err(|message| PlanError::Filter {
            table: table.to_string(),
            condition: filter.to_string(),
            message,
        })?;
        select.push_str(&format!(" WHERE ({condition})"));
    }
    if let Some(limit) = spec.limit {
        select.push_str(&format!(" LIMIT {limit}"));
    }
    Ok(TablePlan {
        plain,
        table: table.clone(),
        columns,
        select,
        format: if binary { Format::Binary } else { Format::Text },
        skipped: remote
            .iter()
            .filter(|r| !local.iter().any(|l| l.name == r.name && !l.generated))
            .map(|r| r.name.clone())
            .collect(),
        defaulted: local
            .iter()
            .filter(|l| !l.generated && !remote.iter().any(|r| r.name == l.name))
            .map(|l| l.name.clone())
            .collect(),
    })
}

/// The SELECT expression of a masked column, or why the mask cannot apply to it.
fn masked(
    spec: &TableSpec,
    rule: &MaskRule,
    local_column: &Column,
    remote_column: &Column,
    quoted: &str,
) -> Result<String, PlanError> {
    let refuse = |message: String| PlanError::Mask {
        table: spec.table.to_string(),
        column: local_column.name.clone(),
        message,
    };
    let type_name = &remote_column.type_name;
    match rule {
        MaskRule::Null if local_column.not_null => Err(refuse(
            "the local column is NOT NULL, so it cannot be masked with null".to_string(),
        )),
        MaskRule::Null => Ok(format!("NULL::{type_name}")),
        MaskRule::Value { value } => Ok(format!("{}::{type_name}", quote_literal(value))),
        MaskRule::Hmac if !is_text_type(type_name) => Err(refuse(format!(
            "hmac needs a text column, and this one is {type_name}"
        ))),
        MaskRule::Hmac => match spec.key {
            Some(key) => Ok(format!("{}::{type_name}", key.sql(quoted))),
            None => Err(refuse("hmac needs the project's mask key".to_string())),
        },
    }
}

/// Refuses a plan that would fail or lose data: no column in common, a required local column
/// the stage cannot fill, a mask naming a column that is not copied.
fn check_columns(spec: &TableSpec, columns: &[String]) -> Result<(), PlanError> {
    let table = spec.table.to_string();
    if columns.is_empty() {
        return Err(PlanError::NoCommonColumns { table });
    }
    if let Some(required) = spec.local.iter().find(|l| {
        !l.generated
            && l.not_null
            && !l.has_default
            && !spec.remote.iter().any(|r| r.name == l.name)
    }) {
        return Err(PlanError::MissingRequired {
            table,
            column: required.name.clone(),
        });
    }
    if let Some(column) = spec.masks.keys().find(|c| !columns.contains(c)) {
        return Err(PlanError::Mask {
            table,
            column: column.clone(),
            message: "no such column is copied".to_string(),
        });
    }
    Ok(())
}

impl TablePlan {
    /// What the remote `COPY ... TO STDOUT` reads. A plain table COPY skips the executor's
    /// per-row projection; Postgres allows it only for ordinary (not partitioned) tables.
    pub fn copy_source(&self, remote_partitioned: bool) -> String {
        if self.plain && !remote_partitioned {
            let columns: Vec<String> = self.columns.iter().map(|c| quote_ident(c)).collect();
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

/// A row filter as Postgres's parser reads it: one boolean expression, nothing else (no second
/// statement, no `) UNION SELECT (`, no comment swallowing what devdb appends). Returns the
/// expression as Postgres's deparser prints it, so what runs is exactly what was checked.
pub fn single_condition(condition: &str) -> Result<String, String> {
    const PREFIX: &str = "SELECT WHERE ";
    let query = format!("{PREFIX}{condition}");
    let parsed = pg_query::parse(&query, 0).map_err(|e| format!("is not valid SQL: {e}"))?;
    let [statement] = parsed.protobuf.stmts.as_slice() else {
        return Err("must be one condition, not several statements".to_string());
    };
    let simple = match statement.stmt.as_ref().and_then(|s| s.node.as_ref()) {
        Some(pg_query::NodeEnum::SelectStmt(select)) => {
            select.target_list.is_empty()
                && select.from_clause.is_empty()
                && select.where_clause.is_some()
                && select.group_clause.is_empty()
                && select.having_clause.is_none()
                && select.window_clause.is_empty()
                && select.sort_clause.is_empty()
                && select.limit_count.is_none()
                && select.limit_offset.is_none()
                && select.locking_clause.is_empty()
                && select.with_clause.is_none()
                && select.larg.is_none()
                && select.into_clause.is_none()
        }
        _ => false,
    };
    if !simple {
        return Err(
            "must be a single boolean expression (like `created_at > now() - interval '30 days'`)"
                .to_string(),
        );
    }
    let deparsed = parsed
        .protobuf
        .deparse(Default::default())
        .map_err(|e| format!("cannot be printed back by Postgres's deparser: {e}"))?;
    deparsed
        .strip_prefix(PREFIX)
        .map(str::to_string)
        .ok_or_else(|| "must be a single boolean expression".to_string())
}

/// Whether a `mask` / `where` / `limit` entry's table part (a name, a glob, SQL-quoted parts)
/// covers `table`.
pub fn entry_matches(entry_table: &str, table: &QualifiedName) -> bool {
    let wanted = QualifiedName::parse(entry_table);
    glob_match(&wanted.schema, &table.schema) && glob_match(&wanted.name, &table.name)
}

/// Masks configured for `table`: keys are `table.column` or `schema.table.column`, any part
/// quoted (a dot inside quotes belongs to the name).
pub fn masks_for(copy: &CopySettings, table: &QualifiedName) -> BTreeMap<String, MaskRule> {
    copy.mask
        .iter()
        .filter_map(|(key, rule)| {
            let (table_part, column) = crate::pg::name::split_column(key)?;
            entry_matches(&table_part, table).then(|| (column, rule.clone()))
        })
        .collect()
}

/// The value of the first entry whose table part covers `table`.
pub fn lookup<'a, T>(map: &'a BTreeMap<String, T>, table: &QualifiedName) -> Option<&'a T> {
    map.iter()
        .find(|(key, _)| entry_matches(key, table))
        .map(|(_, value)| value)
}

/// Every `--where` must cover a copied table, every configured mask, limit and where a table of
/// the stage: a typo must not let rows through unmasked or unfiltered.
pub fn check_entries(
    copy: &CopySettings,
    cli_where: &[String],
    copied: &[QualifiedName],
    on_stage: &[QualifiedName],
) -> Result<(), PlanError> {
    let cli = cli_where
        .iter()
        .filter_map(|w| w.split_once(':'))
        .map(|(table, _)| ("--where".to_string(), table.trim().to_string()));
    let masks = copy.mask.keys().filter_map(|key| {
        let (table, _) = crate::pg::name::split_column(key)?;
        Some((format!("x-devdb.copy.mask `{key}`"), table))
    });
    let limits = copy
        .limit
        .keys()
        .map(|key| (format!("x-devdb.copy.limit `{key}`"), key.clone()));
    let filters = copy
        .filter
        .keys()
        .map(|key| (format!("x-devdb.copy.where `{key}`"), key.clone()));
    for (entry, table, candidates, scope) in cli.map(|(e, t)| (e, t, copied, "being copied")).chain(
        masks
            .chain(limits)
            .chain(filters)
            .map(|(e, t)| (e, t, on_stage, "a table of the stage")),
    ) {
        if !candidates.iter().any(|c| entry_matches(&table, c)) {
            let wanted = QualifiedName::parse(&table);
            return Err(PlanError::UnknownEntry {
                entry,
                name: wanted.to_string(),
                scope: scope.to_string(),
                close: closest(&wanted.name, candidates),
            });
        }
    }
    // A mask key without a table part (`email: hash`) names no table at all.
    if let Some(key) = copy
        .mask
        .keys()
        .find(|k| crate::pg::name::split_column(k).is_none())
    {
        return Err(PlanError::UnknownEntry {
            entry: format!("x-devdb.copy.mask `{key}`"),
            name: "no table (write `table.column`)".to_string(),
            scope: "a table of the stage".to_string(),
            close: Vec::new(),
        });
    }
    Ok(())
}

fn closest(name: &str, candidates: &[QualifiedName]) -> Vec<String> {
    let mut close: Vec<(usize, String)> = candidates
        .iter()
        .map(|t| (distance(name, &t.name), t.to_string()))
        .filter(|(d, n)| *d <= 3 || n.contains(name))
        .collect();
    close.sort();
    close.into_iter().take(3).map(|(_, n)| n).collect()
}

/// Expands table arguments (names or globs, optionally schema-qualified) against the remote
/// catalog. Unknown names are returned with their closest matches.
pub fn expand(
    requested: &[String],
    available: &[QualifiedName],
) -> Result<Vec<QualifiedName>, Vec<(String, Vec<String>)>> {
    let mut chosen: Vec<QualifiedName> = Vec::new();
    let mut unknown = Vec::new();
    for request in requested {
        let wanted = QualifiedName::parse(request);
        let found: Vec<&QualifiedName> = available
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

    fn users() -> QualifiedName {
        QualifiedName::parse("users")
    }

    static USERS: std::sync::LazyLock<QualifiedName> = std::sync::LazyLock::new(users);

    /// The users table's plan with no filter, limit or key.
    fn spec<'a>(
        remote: &'a [Column],
        local: &'a [Column],
        masks: &'a BTreeMap<String, MaskRule>,
    ) -> TableSpec<'a> {
        TableSpec {
            table: &USERS,
            remote,
            local,
            masks,
            filter: None,
            limit: None,
            key: None,
        }
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
        let plan = plan_table(&spec(&remote, &local, &BTreeMap::new())).unwrap();
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
            plan_table(&spec(&remote, &local, &BTreeMap::new()))
                .unwrap()
                .format,
            Format::Text
        );
        let mut composite = col("amount", "money_amount");
        composite.binary_portable = false;
        let plan = plan_table(&spec(&[composite.clone()], &[composite], &BTreeMap::new())).unwrap();
        assert_eq!(plan.format, Format::Text);
    }

    #[test]
    fn required_local_column_missing_remotely_is_an_error() {
        let mut required = col("tenant_id", "bigint");
        required.not_null = true;
        let err = plan_table(&spec(
            &[col("id", "bigint")],
            &[col("id", "bigint"), required.clone()],
            &BTreeMap::new(),
        ))
        .unwrap_err();
        assert_eq!(
            err,
            PlanError::MissingRequired {
                table: "public.users".into(),
                column: "tenant_id".into()
            }
        );
        required.has_default = true;
        assert!(plan_table(&spec(
            &[col("id", "bigint")],
            &[col("id", "bigint"), required],
            &BTreeMap::new()
        ))
        .is_ok());
    }

    #[test]
    fn generated_local_columns_are_not_written() {
        let mut generated = col("search", "tsvector");
        generated.generated = true;
        let plan = plan_table(&spec(
            &[col("id", "bigint"), col("search", "tsvector")],
            &[col("id", "bigint"), generated],
            &BTreeMap::new(),
        ))
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
            ("email".to_string(), MaskRule::Hmac),
            ("name".to_string(), MaskRule::Null),
            (
                "city".to_string(),
                MaskRule::Value {
                    value: "O'Town".into(),
                },
            ),
        ]);
        let key = MaskKey([1; 32]);
        let plan = plan_table(&TableSpec {
            filter: Some("id < 10"),
            limit: Some(5),
            key: Some(&key),
            ..spec(&remote, &remote, &masks)
        })
        .unwrap();
        assert_eq!(
            plan.select,
            format!(
                r#"SELECT "id", {}::text AS "email", NULL::text AS "name", 'O''Town'::text AS "city" FROM "public"."users" WHERE (id < 10) LIMIT 5"#,
                key.sql(r#""email""#)
            )
        );
        assert!(!plan.select.contains("md5"));
        assert!(
            matches!(
                plan_table(&spec(&remote, &remote, &masks)),
                Err(PlanError::Mask { message, .. }) if message.contains("mask key")
            ),
            "no keyless hash"
        );
        assert!(
            plan.copy_source(false).starts_with("(SELECT"),
            "masked copies go through the SELECT"
        );
        let bad = BTreeMap::from([("id".to_string(), MaskRule::Hmac)]);
        assert!(matches!(
            plan_table(&TableSpec {
                key: Some(&key),
                ..spec(&remote, &remote, &bad)
            }),
            Err(PlanError::Mask { .. })
        ));
        let unknown = BTreeMap::from([("nope".to_string(), MaskRule::Null)]);
        assert!(matches!(
            plan_table(&spec(&remote, &remote, &unknown)),
            Err(PlanError::Mask { .. })
        ));
    }

    #[test]
    fn mask_rules_parse_from_yaml() {
        let rules: BTreeMap<String, MaskRule> =
            serde_yaml::from_str("a: null\nb: hash\nc: { value: x }\n").unwrap();
        assert_eq!(rules.get("a"), Some(&MaskRule::Null));
        assert_eq!(
            rules.get("b"),
            Some(&MaskRule::Hmac),
            "hash is the keyed HMAC"
        );
        assert!(serde_yaml::from_str::<BTreeMap<String, MaskRule>>("a: scramble\n").is_err());
        assert_eq!(rules.get("c"), Some(&MaskRule::Value { value: "x".into() }));
    }

    #[test]
    fn patterns_expand_and_unknown_names_get_suggestions() {
        let available: Vec<QualifiedName> = [
            "aws_ec2_instances",
            "aws_ec2_volumes",
            "aws_s3_buckets",
            "users",
            "reporting.daily_sales",
        ]
        .iter()
        .map(|t| QualifiedName::parse(t))
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

    #[test]
    fn row_filters_are_one_boolean_expression() {
        assert_eq!(
            single_condition("created_at > now() - interval '30 days'").unwrap(),
            "created_at > now() - '30 days'::interval"
        );
        assert_eq!(single_condition("id < 10 -- a comment").unwrap(), "id < 10");
        for bad in [
            "true; DELETE FROM users",
            "true) UNION SELECT * FROM secrets WHERE (true",
            "true ORDER BY 1",
            "true LIMIT 1",
            "id <",
            "",
        ] {
            assert!(single_condition(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn entries_must_name_a_copied_or_stage_table() {
        let users = QualifiedName::parse("users");
        let mixed = QualifiedName::parse("\"MixedCase\"");
        assert_eq!(mixed.name, "MixedCase");
        assert_eq!(QualifiedName::parse("\"a.b\".\"c\"\"d\"").schema, "a.b");
        assert_eq!(QualifiedName::parse("\"a.b\".\"c\"\"d\"").name, "c\"d");
        let stage = [users.clone(), mixed.clone(), QualifiedName::parse("orders")];
        let copied = [users.clone(), mixed.clone()];
        let mut copy = crate::config::CopySettings::default();
        let check = |copy: &crate::config::CopySettings, cli: &[&str]| {
            let cli: Vec<String> = cli.iter().map(|s| s.to_string()).collect();
            check_entries(copy, &cli, &copied, &stage)
        };
        assert!(check(&copy, &["users:id > 1", "\"MixedCase\":true", "u*:true"]).is_ok());
        match check(&copy, &["user:id > 1"]) {
            Err(PlanError::UnknownEntry { close, .. }) => assert_eq!(close, ["public.users"]),
            other => panic!("{other:?}"),
        }
        // orders is on the stage but not copied: a --where for it is a mistake.
        assert!(check(&copy, &["orders:true"]).is_err());
        copy.mask.insert("usres.email".into(), MaskRule::Hmac);
        let error = check(&copy, &[]).unwrap_err();
        let hint = error.hint().map(|h| h.text).unwrap_or_default();
        assert!(
            error.to_string().contains("`usres.email`") && hint == "did you mean public.users?",
            "{error} / {hint}"
        );
        copy.mask.clear();
        copy.mask.insert("orders.email".into(), MaskRule::Hmac);
        copy.mask.insert("u*.email".into(), MaskRule::Hmac);
        assert!(
            check(&copy, &[]).is_ok(),
            "configured entries may name any stage table"
        );
        copy.limit.insert("nope_*".into(), 5);
        assert!(
            check(&copy, &[]).is_err(),
            "a glob matching nothing is an error"
        );
    }

    #[test]
    fn mask_and_limit_keys_with_quoted_dots_name_their_table() {
        let weird = QualifiedName::new("we.ird", "t.1");
        let mut copy = CopySettings::default();
        copy.mask
            .insert("\"we.ird\".\"t.1\".\"e.mail\"".into(), MaskRule::Hmac);
        copy.mask
            .insert("\"we.ird\".other.email".into(), MaskRule::Null);
        copy.limit.insert("\"we.ird\".\"t.1\"".into(), 7);
        assert_eq!(
            masks_for(&copy, &weird),
            BTreeMap::from([("e.mail".to_string(), MaskRule::Hmac)])
        );
        assert_eq!(lookup(&copy.limit, &weird), Some(&7));
        assert_eq!(lookup(&copy.limit, &QualifiedName::new("we", "ird")), None);
        let stage = [weird.clone(), QualifiedName::new("we.ird", "other")];
        assert!(check_entries(&copy, &[], &stage, &stage).is_ok());
    }
}
