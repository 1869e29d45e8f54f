//! Catalog queries, on the remote and on the local database alike.

use tokio_postgres::Client;

use super::plan::{Column, TableName};
use super::CopyError;

fn query_error(action: String) -> impl FnOnce(tokio_postgres::Error) -> CopyError {
    move |error| CopyError::Database { action, error }
}

/// Ordinary and partitioned tables outside the system schemas (partitions are reached through
/// their parent), without the migration ledger.
pub async fn tables(client: &Client) -> Result<Vec<TableName>, CopyError> {
    let rows = client
        .query(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition \
               AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' \
               AND n.nspname NOT LIKE 'pg_temp%' AND c.relname <> '_prisma_migrations' \
             ORDER BY 1, 2",
            &[],
        )
        .await
        .map_err(query_error("listing tables".to_string()))?;
    Ok(rows
        .iter()
        .map(|r| TableName {
            schema: r.get(0),
            name: r.get(1),
        })
        .collect())
}

/// Every relation (tables, views, sequences...) by qualified name; for "is it there" checks.
pub async fn relation_exists(client: &Client, table: &TableName) -> Result<bool, CopyError> {
    let row = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table.quoted()])
        .await
        .map_err(query_error(format!("looking up {table}")))?;
    Ok(row.get(0))
}

pub async fn columns(client: &Client, table: &TableName) -> Result<Vec<Column>, CopyError> {
    let rows = client
        .query(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), \
                    CASE t.typtype WHEN 'e' THEN true \
                                   WHEN 'd' THEN t.typbasetype < 16384 \
                                   WHEN 'b' THEN t.oid < 16384 \
                                   ELSE false END, \
                    a.attnotnull, a.atthasdef OR a.attidentity <> '', a.attgenerated <> '' \
             FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
             WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
            &[&table.quoted()],
        )
        .await
        .map_err(query_error(format!("reading the columns of {table}")))?;
    Ok(rows
        .iter()
        .map(|r| Column {
            name: r.get(0),
            type_name: r.get(1),
            binary_portable: r.get(2),
            not_null: r.get(3),
            has_default: r.get(4),
            generated: r.get(5),
        })
        .collect())
}

/// Sequences owned by the table's columns (serial and identity), with their column.
pub async fn owned_sequences(
    client: &Client,
    table: &TableName,
) -> Result<Vec<(String, String)>, CopyError> {
    let rows = client
        .query(
            "SELECT a.attname, pg_get_serial_sequence($1, a.attname) FROM pg_attribute a \
             WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
               AND pg_get_serial_sequence($1, a.attname) IS NOT NULL",
            &[&table.quoted()],
        )
        .await
        .map_err(query_error(format!("reading the sequences of {table}")))?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// True when another table's foreign key points at this one (TRUNCATE would refuse).
pub async fn is_referenced(client: &Client, table: &TableName) -> Result<bool, CopyError> {
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE contype = 'f' \
             AND confrelid = to_regclass($1) AND conrelid <> confrelid)",
            &[&table.quoted()],
        )
        .await
        .map_err(query_error(format!("reading foreign keys to {table}")))?;
    Ok(row.get(0))
}

pub async fn is_partitioned(client: &Client, table: &TableName) -> Result<bool, CopyError> {
    let row = client
        .query_one(
            "SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass($1)",
            &[&table.quoted()],
        )
        .await
        .map_err(query_error(format!("reading the kind of {table}")))?;
    Ok(row.get(0))
}
