//! Catalog queries, on the remote and on the local database alike. What a copy needs of its
//! tables is read in one query per side (`describe`), not a few per table.

use crate::db::quote_ident;
use std::collections::HashMap;

use serde::Deserialize;
use tokio_postgres::Client;

use super::plan::{Column, QualifiedName};
use super::CopyError;
use crate::pg::catalog::{self as pg_catalog, Scope};

fn query_error(action: String) -> impl FnOnce(tokio_postgres::Error) -> CopyError {
    move |error| CopyError::Database { action, error }
}

/// The stage's (or local) tables, as the catalog layer lists them.
pub async fn tables(client: &Client) -> Result<Vec<QualifiedName>, CopyError> {
    crate::pg::catalog::tables(client)
        .await
        .map_err(query_error("listing tables".to_string()))
}

/// Every relation (tables, views, sequences...) by qualified name; for "is it there" checks.
pub async fn relation_exists(client: &Client, table: &QualifiedName) -> Result<bool, CopyError> {
    let row = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table.quoted()])
        .await
        .map_err(query_error(format!("looking up {table}")))?;
    Ok(row.get(0))
}

/// What copying into (or out of) a table needs to know about it.
#[derive(Debug, Clone, Default)]
pub struct TableInfo {
    pub columns: Vec<Column>,
    pub partitioned: bool,
    /// Another table's foreign key points at it (TRUNCATE would refuse).
    pub referenced: bool,
    /// Sequences owned by its columns (serial and identity): (column, sequence).
    pub sequences: Vec<(String, String)>,
    /// Indexes dropped before COPY and rebuilt after it, in the same transaction.
    pub rebuilt: Vec<Rebuilt>,
}

/// An index (or the constraint it backs) that nothing else depends on, so it can be dropped
/// while rows are loaded and built once after, sorted, instead of updated row by row.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Rebuilt {
    /// Qualified, quoted index name.
    pub index: String,
    /// The constraint it backs (primary key, unique, exclusion), if any.
    pub constraint: Option<String>,
    /// `pg_get_indexdef`, or `pg_get_constraintdef` for a constraint.
    pub definition: String,
}

impl Rebuilt {
    pub fn drop_sql(&self, table: &QualifiedName) -> String {
        match &self.constraint {
            Some(name) => format!(
                "ALTER TABLE {} DROP CONSTRAINT {}",
                table.quoted(),
                quote_ident(name)
            ),
            None => format!("DROP INDEX {}", self.index),
        }
    }

    pub fn create_sql(&self, table: &QualifiedName) -> String {
        match &self.constraint {
            Some(name) => format!(
                "ALTER TABLE {} ADD CONSTRAINT {} {}",
                table.quoted(),
                quote_ident(name),
                self.definition
            ),
            None => self.definition.clone(),
        }
    }
}

/// Reads every table's `TableInfo` in one round trip: the columns (the catalog layer's
/// reader) and the rest of a copy's facts, pipelined; tables that do not exist are absent.
pub async fn describe(
    client: &impl tokio_postgres::GenericClient,
    tables: &[QualifiedName],
) -> Result<HashMap<QualifiedName, TableInfo>, CopyError> {
    let names: Vec<String> = tables.iter().map(QualifiedName::quoted).collect();
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&names];
    let (columns, rows) = tokio::try_join!(
        pg_catalog::columns(client, Scope::Named(tables)),
        client.query(DESCRIBE, &params)
    )
    .map_err(query_error(
        "reading the tables' columns and indexes".to_string(),
    ))?;
    let mut described = HashMap::new();
    for (row, table) in rows.iter().zip(tables) {
        let Some(oid) = row.get::<_, Option<u32>>(0) else {
            continue;
        };
        let own = || columns.iter().filter(move |c| c.relation_oid == oid);
        let parse = |index: usize| -> Result<serde_json::Value, CopyError> {
            let text: String = row.get(index);
            serde_json::from_str(&text).map_err(|e| {
                CopyError::Structure(format!("{table}: unexpected catalog answer: {e}"))
            })
        };
        described.insert(
            table.clone(),
            TableInfo {
                columns: own().map(copy_column).collect(),
                partitioned: row.get(1),
                referenced: row.get(2),
                sequences: own()
                    .filter_map(|c| Some((c.name.clone(), c.sequence.clone()?)))
                    .collect(),
                rebuilt: serde_json::from_value(parse(3)?).unwrap_or_default(),
            },
        );
    }
    Ok(described)
}

/// The first oid initdb leaves to user objects: types below it are built in.
const FIRST_USER_OID: u32 = 16384;

fn copy_column(c: &pg_catalog::Column) -> Column {
    // Built-in base types and enums have a binary COPY form without database-specific oids.
    let binary_portable = match c.type_kind.as_str() {
        "e" => true,
        "d" => c.base_type_oid < FIRST_USER_OID,
        "b" => c.type_oid < FIRST_USER_OID,
        _ => false,
    };
    Column {
        name: c.name.clone(),
        type_name: c.type_name.clone(),
        binary_portable,
        not_null: c.not_null,
        has_default: c.has_default || !c.identity.is_empty(),
        generated: c.generated,
    }
}

/// One row per requested name, in order. Indexes are rebuilt only on ordinary tables that are
/// no partition (partition indexes hang off their parent's), when valid, not CLUSTER or
/// replica-identity marked, uncommented, and when nothing depends on them or their
/// constraint (a foreign key, a view grouping by the primary key).
const DESCRIBE: &str = r#"
SELECT c.oid,
       coalesce(c.relkind = 'p', false),
       EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f'
               AND f.confrelid = c.oid AND f.conrelid <> f.confrelid),
       coalesce((SELECT json_agg(json_build_object(
                    'index', i.indexrelid::regclass::text,
                    'constraint', con.conname,
                    'definition', CASE WHEN con.oid IS NULL THEN pg_get_indexdef(i.indexrelid)
                                       ELSE pg_get_constraintdef(con.oid) END))
                 FROM pg_index i
                 LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid
                      AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x')
                 WHERE i.indrelid = c.oid AND c.relkind = 'r' AND NOT c.relispartition
                   AND i.indisvalid AND NOT i.indisclustered AND NOT i.indisreplident
                   AND obj_description(i.indexrelid, 'pg_class') IS NULL
                   AND (con.oid IS NULL OR obj_description(con.oid, 'pg_constraint') IS NULL)
                   AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid
                                   OR h.inhparent = i.indexrelid)
                   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.deptype = 'n'
                        AND ((d.refclassid = 'pg_class'::regclass AND d.refobjid = i.indexrelid)
                          OR (d.refclassid = 'pg_constraint'::regclass AND d.refobjid = con.oid)))),
                '[]')::text
FROM unnest($1::text[]) WITH ORDINALITY AS q(name, position)
LEFT JOIN pg_class c ON c.oid = to_regclass(q.name)
ORDER BY q.position
"#;
