//! Catalog readers shared by every part of devdb that asks Postgres what it holds: the one
//! "user schema" filter and the readers of tables and foreign keys. They return
//! tokio_postgres's errors; the caller says what it was doing.

use tokio_postgres::GenericClient;

use super::{ForeignKey, QualifiedName};

/// The SQL condition that the schema `n` (a `pg_namespace n` in the query) is a user's: not
/// the system catalogs, not TOAST, not a session's temporary schema. The one filter copy, lint
/// and generate share.
pub const USER_SCHEMA: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') \
     AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'";

/// Ordinary and partitioned tables of the user's schemas (partitions are reached through their
/// parent), without the migration ledger.
pub async fn tables(
    client: &impl GenericClient,
) -> Result<Vec<QualifiedName>, tokio_postgres::Error> {
    let sql = format!(
        "SELECT n.nspname::text, c.relname::text FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND {} \
           AND c.relname <> '_prisma_migrations' ORDER BY 1, 2",
        USER_SCHEMA
    );
    let rows = client.query(&sql, &[]).await?;
    Ok(rows
        .iter()
        .map(|r| QualifiedName::new(r.get(0), r.get(1)))
        .collect())
}

/// What a relation is made of, for checks of names users wrote (virtual foreign keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub name: QualifiedName,
    pub columns: Vec<String>,
    /// Columns with NOT NULL.
    pub not_null: Vec<String>,
    pub partitioned: bool,
}

/// Each of `tables` that exists, in order.
pub async fn relations(
    client: &impl GenericClient,
    tables: &[QualifiedName],
) -> Result<Vec<Relation>, tokio_postgres::Error> {
    let names: Vec<String> = tables.iter().map(QualifiedName::quoted).collect();
    let rows = client
        .query(
            "SELECT q.position, \
               ARRAY(SELECT a.attname::text FROM pg_attribute a \
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum), \
               ARRAY(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = c.oid \
                 AND a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull ORDER BY a.attnum), \
               c.relkind = 'p' \
             FROM unnest($1::text[]) WITH ORDINALITY AS q(name, position) \
             JOIN pg_class c ON c.oid = to_regclass(q.name) ORDER BY q.position",
            &[&names],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            let position: i64 = row.get(0);
            Relation {
                name: tables[position as usize - 1].clone(),
                columns: row.get(1),
                not_null: row.get(2),
                partitioned: row.get(3),
            }
        })
        .collect())
}

/// Every valid FK whose child or parent is one of `tables`.
pub async fn foreign_keys_touching(
    client: &impl GenericClient,
    tables: &[QualifiedName],
) -> Result<Vec<ForeignKey>, tokio_postgres::Error> {
    let names: Vec<String> = tables.iter().map(QualifiedName::quoted).collect();
    let rows = client.query(FOREIGN_KEYS, &[&names]).await?;
    Ok(rows
        .iter()
        .map(|row| ForeignKey {
            name: row.get(0),
            child: QualifiedName::new(row.get(1), row.get(2)),
            child_columns: row.get(3),
            parent: QualifiedName::new(row.get(4), row.get(5)),
            parent_columns: row.get(6),
            match_full: row.get(7),
            child_only: row.get(8),
            parent_only: row.get(9),
            deferrable: row.get(10),
            nullable: row.get(11),
            condition: None,
            declared: false,
        })
        .collect())
}

/// Root constraints only (`conparentid = 0`): a partitioned table's FK is read once, on the
/// whole table, not once more per partition clone.
const FOREIGN_KEYS: &str = r#"
WITH wanted AS (SELECT to_regclass(name) AS oid FROM unnest($1::text[]) AS name)
SELECT con.conname::text, cn.nspname::text, child.relname::text,
       ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord),
       pn.nspname::text, parent.relname::text,
       ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.ord),
       con.confmatchtype = 'f', child.relkind = 'r', parent.relkind = 'r', con.condeferrable,
       NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = con.conrelid
                   AND a.attnum = ANY (con.conkey) AND a.attnotnull)
FROM pg_constraint con
JOIN pg_class child ON child.oid = con.conrelid JOIN pg_namespace cn ON cn.oid = child.relnamespace
JOIN pg_class parent ON parent.oid = con.confrelid JOIN pg_namespace pn ON pn.oid = parent.relnamespace
WHERE con.contype = 'f' AND con.convalidated AND con.conparentid = 0
  AND (con.conrelid IN (SELECT oid FROM wanted) OR con.confrelid IN (SELECT oid FROM wanted))
ORDER BY 2, 3, 1
"#;
