//! Catalog queries, on the remote and on the local database alike. What a copy needs of its
//! tables is read in one query per side (`describe`), not a few per table.

use crate::db::quote_ident;
use std::collections::HashMap;

use serde::Deserialize;
use tokio_postgres::Client;

use super::plan::{Column, QualifiedName};
use super::CopyError;

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

/// Reads every table's `TableInfo` in one query; tables that do not exist are absent.
pub async fn describe(
    client: &impl tokio_postgres::GenericClient,
    tables: &[QualifiedName],
) -> Result<HashMap<QualifiedName, TableInfo>, CopyError> {
    let names: Vec<String> = tables.iter().map(QualifiedName::quoted).collect();
    let rows = client
        .query(DESCRIBE, &[&names])
        .await
        .map_err(query_error(
            "reading the tables' columns and indexes".to_string(),
        ))?;
    let mut described = HashMap::new();
    for (row, table) in rows.iter().zip(tables) {
        let exists: bool = row.get(0);
        if !exists {
            continue;
        }
        let parse = |index: usize| -> Result<serde_json::Value, CopyError> {
            let text: String = row.get(index);
            serde_json::from_str(&text).map_err(|e| {
                CopyError::Structure(format!("{table}: unexpected catalog answer: {e}"))
            })
        };
        let columns: Vec<(String, String, bool, bool, bool, bool)> =
            serde_json::from_value(parse(3)?).unwrap_or_default();
        described.insert(
            table.clone(),
            TableInfo {
                columns: columns
                    .into_iter()
                    .map(
                        |(name, type_name, binary_portable, not_null, has_default, generated)| {
                            Column {
                                name,
                                type_name,
                                binary_portable,
                                not_null,
                                has_default,
                                generated,
                            }
                        },
                    )
                    .collect(),
                partitioned: row.get(1),
                referenced: row.get(2),
                sequences: serde_json::from_value(parse(4)?).unwrap_or_default(),
                rebuilt: serde_json::from_value(parse(5)?).unwrap_or_default(),
            },
        );
    }
    Ok(described)
}

/// One row per requested name, in order. Indexes are rebuilt only on ordinary tables that are
/// no partition (partition indexes hang off their parent's), when valid, not CLUSTER or
/// replica-identity marked, uncommented, and when nothing depends on them or their
/// constraint (a foreign key, a view grouping by the primary key).
const DESCRIBE: &str = r#"
SELECT c.oid IS NOT NULL,
       coalesce(c.relkind = 'p', false),
       EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f'
               AND f.confrelid = c.oid AND f.conrelid <> f.confrelid),
       coalesce((SELECT json_agg(json_build_array(
                    a.attname, format_type(a.atttypid, a.atttypmod),
                    CASE t.typtype WHEN 'e' THEN true WHEN 'd' THEN t.typbasetype < 16384
                                   WHEN 'b' THEN t.oid < 16384 ELSE false END,
                    a.attnotnull, a.atthasdef OR a.attidentity <> '', a.attgenerated <> '')
                    ORDER BY a.attnum)
                 FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '[]')::text,
       coalesce((SELECT json_agg(json_build_array(a.attname, pg_get_serial_sequence(q.name, a.attname)))
                 FROM pg_attribute a
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                   AND pg_get_serial_sequence(q.name, a.attname) IS NOT NULL), '[]')::text,
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
