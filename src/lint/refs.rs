//! What a statement refers to (relations, functions, types) and which columns it names, found by
//! walking Postgres's own parse tree, including SQL function bodies and PL/pgSQL bodies (their
//! embedded queries, through pg_query's PL/pgSQL parser). No string search on SQL text.

use std::collections::BTreeSet;

use pg_query::protobuf::Node;
use serde_json::Value;

use crate::pg::QualifiedName;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Relation,
    Function,
    Type,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Relation => "relation",
            Kind::Function => "function",
            Kind::Type => "type",
        }
    }
}

/// One reference, with the byte offset of its token in the text that was parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub kind: Kind,
    pub name: QualifiedName,
    pub location: usize,
}

/// Everything a piece of SQL uses.
#[derive(Debug, Clone, Default)]
pub struct Uses {
    pub references: Vec<Reference>,
    /// Column names it mentions (the last part of each column reference).
    pub columns: BTreeSet<String>,
    /// It selects `*` somewhere (so it uses every column of what it reads).
    pub star: bool,
    /// Names of its common table expressions (not relations).
    ctes: BTreeSet<String>,
}

impl Uses {
    pub fn relations(&self) -> BTreeSet<String> {
        self.references
            .iter()
            .filter(|r| r.kind == Kind::Relation)
            .map(|r| r.name.name.clone())
            .collect()
    }

    fn merge(&mut self, other: Uses, offset: usize) {
        self.references
            .extend(other.references.into_iter().map(|mut r| {
                r.location += offset;
                r
            }));
        self.columns.extend(other.columns);
        self.star |= other.star;
    }
}

/// Pseudo-types of column definitions that are not types in pg_type.
const SERIALS: [&str; 6] = [
    "serial",
    "bigserial",
    "smallserial",
    "serial2",
    "serial4",
    "serial8",
];

/// The uses of one parsed node (a statement or part of one).
pub fn uses_of(node: &Node) -> Uses {
    let value = serde_json::to_value(node).unwrap_or(Value::Null);
    let mut uses = Uses::default();
    collect_ctes(&value, &mut uses.ctes);
    walk(&value, &mut uses);
    let ctes = std::mem::take(&mut uses.ctes);
    uses.references.retain(|r| {
        !(r.kind == Kind::Relation
            && r.name.written_schema().is_none()
            && ctes.contains(&r.name.name))
    });
    uses
}

fn collect_ctes(value: &Value, ctes: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(cte)) = map.get("CommonTableExpr") {
                if let Some(Value::String(name)) = cte.get("ctename") {
                    ctes.insert(name.clone());
                }
            }
            map.values().for_each(|v| collect_ctes(v, ctes));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_ctes(v, ctes)),
        _ => {}
    }
}

/// Nodes are recognised by their fields, not their tag: a field typed as a message (such as
/// `CreateStmt.relation` or `ColumnDef.type_name`) serializes without the tag.
fn walk(value: &Value, uses: &mut Uses) {
    match value {
        Value::Object(map) => {
            let has = |key: &str| map.contains_key(key);
            if has("relname") && has("relpersistence") {
                push(uses, Kind::Relation, range_var(value), value);
            } else if has("funcname") && has("agg_order") {
                push(uses, Kind::Function, strings(map.get("funcname")), value);
            } else if has("names") && has("typmods") && has("pct_type") {
                type_name(value, uses);
            } else if has("fields") && has("location") && map.len() == 2 {
                column_ref(value, uses);
            }
            map.values().for_each(|inner| walk(inner, uses));
        }
        Value::Array(items) => items.iter().for_each(|v| walk(v, uses)),
        _ => {}
    }
}

fn push(uses: &mut Uses, kind: Kind, parts: Vec<String>, node: &Value) {
    if let Some(name) = QualifiedName::from_parts(&parts) {
        uses.references.push(Reference {
            kind,
            name,
            location: location(node),
        });
    }
}

fn type_name(node: &Value, uses: &mut Uses) {
    if node.get("pct_type").and_then(Value::as_bool) == Some(true) {
        return;
    }
    let parts = strings(node.get("names"));
    if parts.len() == 1 && SERIALS.contains(&parts[0].as_str()) {
        return;
    }
    push(uses, Kind::Type, parts, node);
}

fn column_ref(node: &Value, uses: &mut Uses) {
    let Some(Value::Array(fields)) = node.get("fields") else {
        return;
    };
    match fields.last().and_then(|f| f.get("node")) {
        Some(Value::Object(last)) if last.contains_key("AStar") => uses.star = true,
        Some(last) => {
            if let Some(name) = last
                .get("String")
                .and_then(|s| s.get("sval"))
                .and_then(Value::as_str)
            {
                uses.columns.insert(name.to_string());
            }
        }
        None => {}
    }
}

fn range_var(node: &Value) -> Vec<String> {
    let field = |key: &str| node.get(key).and_then(Value::as_str).unwrap_or_default();
    let mut parts = Vec::new();
    if !field("schemaname").is_empty() {
        parts.push(field("schemaname").to_string());
    }
    parts.push(field("relname").to_string());
    parts
}

/// The `sval`s of a list of String nodes.
pub fn strings(list: Option<&Value>) -> Vec<String> {
    let Some(Value::Array(items)) = list else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            item.get("node")?
                .get("String")?
                .get("sval")?
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

fn location(node: &Value) -> usize {
    node.get("location")
        .and_then(Value::as_i64)
        .unwrap_or(0)
        .max(0) as usize
}

/// The String nodes of a typed list, as plain strings.
pub fn node_strings(nodes: &[Node]) -> Vec<String> {
    nodes
        .iter()
        .filter_map(|n| match &n.node {
            Some(pg_query::NodeEnum::String(s)) => Some(s.sval.clone()),
            _ => None,
        })
        .collect()
}

/// The column a `CHECK (column IS NOT NULL)` constraint proves non-null (what lets
/// `SET NOT NULL` skip its full-table scan on Postgres 12+).
pub fn not_null_check_column(constraint: &pg_query::protobuf::Constraint) -> Option<String> {
    use pg_query::protobuf::{ConstrType, NullTestType};
    if constraint.contype != ConstrType::ConstrCheck as i32 {
        return None;
    }
    let pg_query::NodeEnum::NullTest(test) = constraint.raw_expr.as_deref()?.node.as_ref()? else {
        return None;
    };
    if test.nulltesttype != NullTestType::IsNotNull as i32 {
        return None;
    }
    let pg_query::NodeEnum::ColumnRef(column) = test.arg.as_deref()?.node.as_ref()? else {
        return None;
    };
    match node_strings(&column.fields).as_slice() {
        [name] => Some(name.clone()),
        _ => None,
    }
}

/// What a function's body uses: a SQL body is parsed as SQL, a PL/pgSQL body with pg_query's
/// PL/pgSQL parser (each embedded query then as SQL). Locations are offsets in `statement`.
/// Other languages (C, plv8, ...) are opaque: no uses.
pub fn body_uses(statement: &str, function: &pg_query::protobuf::CreateFunctionStmt) -> Uses {
    let mut uses = Uses::default();
    if function.sql_body.is_some() {
        // BEGIN ATOMIC ... END: part of the statement's own tree (see `uses_of`).
        return uses;
    }
    let mut language = String::from("sql");
    let mut source = None;
    for option in &function.options {
        let Some(pg_query::NodeEnum::DefElem(def)) = &option.node else {
            continue;
        };
        let arg = def.arg.as_deref();
        match (def.defname.as_str(), arg.and_then(|a| a.node.as_ref())) {
            ("language", Some(pg_query::NodeEnum::String(s))) => language = s.sval.clone(),
            ("as", Some(pg_query::NodeEnum::List(list))) => {
                source = node_strings(&list.items).into_iter().next()
            }
            _ => {}
        }
    }
    let Some(source) = source else {
        return uses;
    };
    let base = statement.find(&source).unwrap_or(0);
    match language.as_str() {
        "sql" => {
            if let Ok(parsed) = pg_query::parse(&source, 0) {
                for raw in &parsed.protobuf.stmts {
                    if let Some(stmt) = &raw.stmt {
                        uses.merge(uses_of(stmt), base);
                    }
                }
            }
        }
        "plpgsql" => {
            let mut queries = Vec::new();
            if let Ok(tree) = pg_query::parse_plpgsql(&plpgsql_input(statement, function, &source))
            {
                collect_queries(&tree, 1, &mut queries);
            }
            for (query, lineno) in queries {
                let inner = query_uses(&query);
                for mut reference in inner.references {
                    // PL/pgSQL numbers lines from the body's start; the query may span lines.
                    let line = lineno - 1
                        + query[..reference.location.min(query.len())]
                            .matches('\n')
                            .count();
                    reference.location = base + offset_of_line(&source, line);
                    uses.references.push(reference);
                }
                uses.columns.extend(inner.columns);
                uses.star |= inner.star;
            }
        }
        _ => {}
    }
    uses
}

/// Every embedded query string of a PL/pgSQL parse tree (`PLpgSQL_expr.query`), with the
/// line (within the body) of the statement holding it.
fn collect_queries(value: &Value, lineno: usize, out: &mut Vec<(String, usize)>) {
    match value {
        Value::Object(map) => {
            let lineno = map
                .get("lineno")
                .and_then(Value::as_u64)
                .map_or(lineno, |l| l.max(1) as usize);
            if let Some(Value::Object(expr)) = map.get("PLpgSQL_expr") {
                if let Some(Value::String(query)) = expr.get("query") {
                    out.push((query.clone(), lineno));
                }
            }
            map.values().for_each(|v| collect_queries(v, lineno, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_queries(v, lineno, out)),
        _ => {}
    }
}

/// What to hand pg_query's PL/pgSQL parser. A trigger function is given as a plain one with
/// `new` and `old` declared: libpg_query writes invalid JSON for trigger functions' implicit
/// variables. The declarations go on the body's first line, so line numbers hold.
fn plpgsql_input(
    statement: &str,
    function: &pg_query::protobuf::CreateFunctionStmt,
    source: &str,
) -> String {
    let returns = function
        .return_type
        .as_ref()
        .map(|t| node_strings(&t.names))
        .unwrap_or_default();
    if !returns
        .last()
        .is_some_and(|r| r == "trigger" || r == "event_trigger")
    {
        return statement.to_string();
    }
    format!(
        "CREATE FUNCTION devdb_lint_trigger() RETURNS int LANGUAGE plpgsql AS $devdb_lint$\
         DECLARE new record; old record; tg_argv text[]; {source}$devdb_lint$"
    )
}

/// The byte offset where 0-based `line` of `text` starts (the end when it has fewer lines).
fn offset_of_line(text: &str, line: usize) -> usize {
    if line == 0 {
        return 0;
    }
    text.match_indices('\n')
        .nth(line - 1)
        .map_or(text.len(), |(at, _)| at + 1)
}

/// A PL/pgSQL query, or an expression (`x + 1`, parsed in PL/pgSQL's expression mode).
fn query_uses(query: &str) -> Uses {
    let parsed = pg_query::parse(query, 0)
        .or_else(|_| pg_query::parse(query, pg_query::ParserOptions::PLPGSQL_EXPR));
    let mut uses = Uses::default();
    for raw in parsed.iter().flat_map(|p| &p.protobuf.stmts) {
        if let Some(stmt) = &raw.stmt {
            uses.merge(uses_of(stmt), 0);
        }
    }
    uses
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(sql: &str) -> (Node, String) {
        let parsed = pg_query::parse(sql, 0).unwrap();
        (
            *parsed.protobuf.stmts[0].stmt.clone().unwrap(),
            sql.to_string(),
        )
    }

    fn names(uses: &Uses, kind: Kind) -> Vec<String> {
        uses.references
            .iter()
            .filter(|r| r.kind == kind)
            .map(|r| r.name.to_string())
            .collect()
    }

    #[test]
    fn a_view_uses_its_relations_and_functions_but_not_its_ctes() {
        let (node, _) = first(
            "CREATE VIEW v AS WITH recent AS (SELECT * FROM app.orders) \
             SELECT price_of(r.id)::numeric(10,2), u.name FROM recent r JOIN users u ON u.id = r.user_id",
        );
        let uses = uses_of(&node);
        let mut relations = names(&uses, Kind::Relation);
        relations.sort();
        assert_eq!(relations, ["app.orders", "users", "v"]);
        assert_eq!(names(&uses, Kind::Function), ["price_of"]);
        assert_eq!(names(&uses, Kind::Type), ["pg_catalog.numeric"]);
        assert!(uses.star && uses.columns.contains("user_id"));
    }

    #[test]
    fn serial_is_not_a_type() {
        let (node, _) = first("CREATE TABLE t (id serial, mood mood_kind)");
        assert_eq!(names(&uses_of(&node), Kind::Type), ["mood_kind"]);
    }

    fn function(sql: &str) -> Uses {
        let parsed = pg_query::parse(sql, 0).unwrap();
        let Some(pg_query::NodeEnum::CreateFunctionStmt(f)) =
            &parsed.protobuf.stmts[0].stmt.as_ref().unwrap().node
        else {
            panic!("not a function")
        };
        body_uses(sql, f)
    }

    #[test]
    fn sql_and_plpgsql_bodies() {
        let sql = "CREATE FUNCTION price_of(p int) RETURNS numeric LANGUAGE sql AS $$\n  SELECT price FROM legacy_prices WHERE id = p\n$$";
        let uses = function(sql);
        let relation = &uses.references[0];
        assert_eq!(relation.name.name, "legacy_prices");
        assert_eq!(
            &sql[relation.location..relation.location + 13],
            "legacy_prices"
        );

        let plpgsql = "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$\nDECLARE n int;\nBEGIN\n  SELECT count(*) INTO n FROM audit_log;\n  PERFORM notify_all(n);\n  IF n > limit_of() THEN RETURN NULL; END IF;\n  RETURN NEW;\nEND\n$$";
        let uses = function(plpgsql);
        assert_eq!(names(&uses, Kind::Relation), ["audit_log"]);
        let functions = names(&uses, Kind::Function);
        assert!(
            functions.contains(&"notify_all".to_string()),
            "{functions:?}"
        );
        assert!(functions.contains(&"limit_of".to_string()), "{functions:?}");
        let audit = uses
            .references
            .iter()
            .find(|r| r.name.name == "audit_log")
            .unwrap();
        assert_eq!(crate::migrate::script::line_of(plpgsql, audit.location), 4);
    }
}
