//! Catalog readers shared by every part of devdb that asks Postgres what it holds: the one
//! "user schema" filter and one reader per fact (tables, columns, foreign keys), each over a
//! [`Scope`] in one query. Callers (copy, lint, generate) build their own views from these
//! facts instead of writing their own catalog SQL. They return tokio_postgres's errors; the
//! caller says what it was doing.

use tokio_postgres::types::ToSql;
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

/// Which relations a reader reads.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// Every ordinary and partitioned table of the user's schemas, partitions included.
    UserTables,
    /// Every relation of the user's schemas, whatever its kind.
    UserRelations,
    /// These relations, by name; names that resolve to nothing are skipped.
    Named(&'a [QualifiedName]),
    /// These relations, by oid.
    Oids(&'a [u32]),
}

impl<'a> Scope<'a> {
    /// A query `SELECT oid ...` of the relations (its parameter, if any, is [`Scope::param`]).
    fn wanted(&self) -> String {
        match self {
            Scope::UserTables => format!(
                "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r', 'p') AND {USER_SCHEMA}"
            ),
            Scope::UserRelations => format!(
                "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE {USER_SCHEMA}"
            ),
            Scope::Named(_) => {
                "SELECT to_regclass(name) AS oid FROM unnest($1::text[]) AS name".to_string()
            }
            Scope::Oids(_) => "SELECT unnest($1::oid[]) AS oid".to_string(),
        }
    }

    /// Quoted names of a `Named` scope (empty otherwise), which [`Scope::params`] borrows.
    fn names(&self) -> Vec<String> {
        match self {
            Scope::Named(tables) => tables.iter().map(QualifiedName::quoted).collect(),
            _ => Vec::new(),
        }
    }

    fn params<'p>(&'p self, names: &'p Vec<String>) -> Vec<&'p (dyn ToSql + Sync)> {
        match self {
            Scope::UserTables | Scope::UserRelations => Vec::new(),
            Scope::Named(_) => vec![names],
            Scope::Oids(oids) => vec![oids],
        }
    }
}

/// One column of a relation, as the catalog holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The relation's oid and name.
    pub relation_oid: u32,
    pub relation: QualifiedName,
    pub attnum: i16,
    pub name: String,
    /// `format_type` text, e.g. `character varying(32)`, `timestamp with time zone`.
    pub type_name: String,
    pub type_oid: u32,
    /// The type's own name without modifiers (`varchar`, `int4`, `_text` for arrays), and its
    /// schema.
    pub udt_name: String,
    pub type_schema: String,
    /// `typtype`: `e` enum, `b` base, `d` domain, `c` composite...
    pub type_kind: String,
    /// For a domain, its base type's oid (0 otherwise).
    pub base_type_oid: u32,
    /// For arrays, the element type's name and kind.
    pub element_name: Option<String>,
    pub element_kind: Option<String>,
    /// For a domain: its base type's name and `format_type` text.
    pub domain_base: Option<(String, String)>,
    pub not_null: bool,
    /// `atthasdef`: a default or a generation expression is stored.
    pub has_default: bool,
    /// The default (or generation) expression, as `pg_get_expr` prints it.
    pub default: Option<String>,
    /// `a` always, `d` by default, empty otherwise.
    pub identity: String,
    pub generated: bool,
    /// `COMMENT ON COLUMN`.
    pub comment: Option<String>,
    /// The sequence the column owns (serial and identity), qualified and quoted.
    pub sequence: Option<String>,
}

/// Every column of the relations of `scope`, by relation oid and then position.
pub async fn columns(
    client: &impl GenericClient,
    scope: Scope<'_>,
) -> Result<Vec<Column>, tokio_postgres::Error> {
    let names = scope.names();
    let sql = format!("WITH wanted AS ({}) {COLUMNS}", scope.wanted());
    let rows = client.query(&sql, &scope.params(&names)).await?;
    Ok(rows.iter().map(column).collect())
}

const COLUMNS: &str = "SELECT c.oid, n.nspname::text, c.relname::text, a.attnum, a.attname::text, \
        format_type(a.atttypid, a.atttypmod), t.oid, t.typname::text, tn.nspname::text, \
        t.typtype::text, t.typbasetype, et.typname::text, et.typtype::text, a.attnotnull, \
        a.atthasdef, pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, a.attgenerated <> '', \
        col_description(a.attrelid, a.attnum), bt.typname::text, \
        format_type(t.typbasetype, t.typtypmod), \
        pg_get_serial_sequence(a.attrelid::regclass::text, a.attname) \
 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
 JOIN pg_namespace n ON n.oid = c.relnamespace \
 JOIN pg_type t ON t.oid = a.atttypid JOIN pg_namespace tn ON tn.oid = t.typnamespace \
 LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A' \
 LEFT JOIN pg_type bt ON bt.oid = t.typbasetype AND t.typtype = 'd' \
 LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
 WHERE a.attrelid IN (SELECT oid FROM wanted) AND a.attnum > 0 AND NOT a.attisdropped \
 ORDER BY a.attrelid, a.attnum";

fn column(row: &tokio_postgres::Row) -> Column {
    Column {
        relation_oid: row.get(0),
        relation: QualifiedName::new(row.get(1), row.get(2)),
        attnum: row.get(3),
        name: row.get(4),
        type_name: row.get(5),
        type_oid: row.get(6),
        udt_name: row.get(7),
        type_schema: row.get(8),
        type_kind: row.get(9),
        base_type_oid: row.get(10),
        element_name: row.get(11),
        element_kind: row.get(12),
        not_null: row.get(13),
        has_default: row.get(14),
        default: row.get(15),
        identity: row.get(16),
        generated: row.get(17),
        comment: row.get(18),
        domain_base: row
            .get::<_, Option<String>>(19)
            .map(|name| (name, row.get::<_, Option<String>>(20).unwrap_or_default())),
        sequence: row.get(21),
    }
}

/// One constraint of a relation (primary key, unique, foreign key, check, exclusion).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    pub relation_oid: u32,
    pub relation: QualifiedName,
    pub name: String,
    /// `p` primary key, `u` unique, `f` foreign key, `c` check, `x` exclusion.
    pub kind: char,
    /// `pg_get_constraintdef(oid, true)`.
    pub definition: String,
    pub columns: Vec<String>,
    /// Foreign keys: the referenced relation and columns, and ON DELETE/UPDATE (`a` no action,
    /// `r` restrict, `c` cascade, `n` set null, `d` set default; ' ' for other kinds).
    pub references: Option<(QualifiedName, Vec<String>)>,
    pub on_delete: char,
    pub on_update: char,
    pub validated: bool,
    /// A partition's clone of its parent's constraint (`conparentid <> 0`).
    pub inherited: bool,
}

/// Every constraint of the relations of `scope`, by relation oid and then name.
pub async fn constraints(
    client: &impl GenericClient,
    scope: Scope<'_>,
) -> Result<Vec<Constraint>, tokio_postgres::Error> {
    let names = scope.names();
    let sql = format!("WITH wanted AS ({}) {CONSTRAINTS}", scope.wanted());
    let rows = client.query(&sql, &scope.params(&names)).await?;
    Ok(rows.iter().map(constraint).collect())
}

const CONSTRAINTS: &str =
    "SELECT c.conrelid, rn.nspname::text, r.relname::text, c.conname::text, c.contype::text, \
        pg_get_constraintdef(c.oid, true), \
        ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, i) \
              JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i), \
        fn.nspname::text, fc.relname::text, \
        ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, i) \
              JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i), \
        c.confdeltype::text, c.confupdtype::text, c.convalidated, c.conparentid <> 0 \
 FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid \
 JOIN pg_namespace rn ON rn.oid = r.relnamespace \
 LEFT JOIN pg_class fc ON fc.oid = c.confrelid \
 LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace \
 WHERE c.conrelid IN (SELECT oid FROM wanted) ORDER BY c.conrelid, c.conname";

fn constraint(row: &tokio_postgres::Row) -> Constraint {
    let letter = |index: usize| {
        row.get::<_, Option<String>>(index)
            .and_then(|s| s.chars().next())
    };
    Constraint {
        relation_oid: row.get(0),
        relation: QualifiedName::new(row.get(1), row.get(2)),
        name: row.get(3),
        kind: letter(4).unwrap_or('?'),
        definition: row.get(5),
        columns: row.get(6),
        references: row
            .get::<_, Option<String>>(7)
            .map(|schema| (QualifiedName::new(&schema, row.get(8)), row.get(9))),
        on_delete: letter(10).unwrap_or(' '),
        on_update: letter(11).unwrap_or(' '),
        validated: row.get(12),
        inherited: row.get(13),
    }
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
