//! Catalog queries, on the remote and on the local database alike. What a copy needs of its
//! tables is read in one query per side (`describe`), not a few per table.

use crate::db::quote_ident;
use std::collections::HashMap;

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
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// Reads every table's `TableInfo` in one round trip: the catalog layer's readers of
/// columns, indexes and references, and the tables' kinds, pipelined; tables that do not exist
/// are absent.
pub async fn describe(
    client: &impl tokio_postgres::GenericClient,
    tables: &[QualifiedName],
) -> Result<HashMap<QualifiedName, TableInfo>, CopyError> {
    let names: Vec<String> = tables.iter().map(QualifiedName::quoted).collect();
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&names];
    let scope = Scope::Named(tables);
    let (kinds, columns, indexes, referenced) = tokio::try_join!(
        client.query(KINDS, &params),
        pg_catalog::columns(client, scope),
        pg_catalog::indexes(client, scope),
        pg_catalog::referenced_by_others(client, scope),
    )
    .map_err(query_error(
        "reading the tables' columns and indexes".to_string(),
    ))?;
    let mut described = HashMap::new();
    for (row, table) in kinds.iter().zip(tables) {
        let Some(oid) = row.get::<_, Option<u32>>(0) else {
            continue;
        };
        let own = || columns.iter().filter(move |c| c.relation_oid == oid);
        // Partition indexes hang off their parent's, so only an ordinary table's are rebuilt.
        let ordinary: bool = row.get(2);
        described.insert(
            table.clone(),
            TableInfo {
                columns: own().map(copy_column).collect(),
                partitioned: row.get(1),
                referenced: referenced.contains(&oid),
                sequences: own()
                    .filter_map(|c| Some((c.name.clone(), c.sequence.clone()?)))
                    .collect(),
                rebuilt: indexes
                    .iter()
                    .filter(|i| ordinary && i.relation_oid == oid)
                    .filter_map(rebuilt)
                    .collect(),
            },
        );
    }
    Ok(described)
}

/// One row per requested name, in order: its oid (NULL when absent), partitioned, and an
/// ordinary table that is no partition.
const KINDS: &str = "SELECT c.oid, coalesce(c.relkind = 'p', false), \
        coalesce(c.relkind = 'r' AND NOT c.relispartition, false) \
 FROM unnest($1::text[]) WITH ORDINALITY AS q(name, position) \
 LEFT JOIN pg_class c ON c.oid = to_regclass(q.name) ORDER BY q.position";

/// An index is rebuilt when valid, not CLUSTER or replica-identity marked, uncommented, no
/// partition's nor partitioned, and when nothing depends on it or its constraint.
fn rebuilt(index: &pg_catalog::Index) -> Option<Rebuilt> {
    let free = index.valid
        && !index.clustered
        && !index.replica_identity
        && !index.commented
        && !index.inherited
        && !index.has_inheritors
        && !index.depended_on
        && !index.backs.as_ref().is_some_and(|b| b.commented);
    free.then(|| Rebuilt {
        index: index.regclass.clone(),
        constraint: index.backs.as_ref().map(|b| b.name.clone()),
        definition: match &index.backs {
            Some(backed) => backed.definition.clone(),
            None => index.definition.clone(),
        },
    })
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
