//! Catalog readers shared by every part of devdb that asks Postgres what it holds: the one
//! "user schema" filter and one reader per fact (tables, columns, constraints, indexes,
//! foreign keys, references, view dependencies), most over a [`Scope`], each one query. Callers (copy, lint, generate) build their own views from these
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
    /// A query `SELECT oid ...` of the relations (its parameter, if any, is [`Scope::params`]).
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

/// One index of a relation, with what depends on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    pub relation_oid: u32,
    pub relation: QualifiedName,
    /// The index's own name, and its `regclass` text (qualified where the search path needs it).
    pub name: String,
    pub regclass: String,
    /// `pg_get_indexdef`.
    pub definition: String,
    pub unique: bool,
    pub primary: bool,
    /// The access method: btree, hash, gin, gist, brin, spgist.
    pub method: String,
    /// Key parts in order: the column (None for an expression), descending, nulls first.
    pub parts: Vec<(Option<String>, bool, bool)>,
    /// `WHERE` of a partial index, as `pg_get_expr` prints it.
    pub predicate: Option<String>,
    /// Non-default operator classes on some key part.
    pub custom_opclass: bool,
    pub valid: bool,
    pub clustered: bool,
    pub replica_identity: bool,
    pub commented: bool,
    /// A partition's index attached to its parent's, or a parent's with attached ones.
    pub inherited: bool,
    pub has_inheritors: bool,
    /// Kinds of the constraints whose index this is (`conindid`): the one it backs (`p`, `u`,
    /// `x`) and foreign keys that reference through it (`f`).
    pub used_by: Vec<char>,
    /// The primary key, unique or exclusion constraint of the relation it backs.
    pub backs: Option<BackedConstraint>,
    /// An ordinary dependency (`pg_depend` type `n`) on the index or on the constraint it
    /// backs: a foreign key, a view grouping by the primary key.
    pub depended_on: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackedConstraint {
    pub name: String,
    /// `pg_get_constraintdef(oid)` (not pretty-printed: the text to recreate it with).
    pub definition: String,
    pub commented: bool,
}

/// Every index of the relations of `scope`, by relation oid and then index name.
pub async fn indexes(
    client: &impl GenericClient,
    scope: Scope<'_>,
) -> Result<Vec<Index>, tokio_postgres::Error> {
    let names = scope.names();
    let sql = format!("WITH wanted AS ({}) {INDEXES}", scope.wanted());
    let rows = client.query(&sql, &scope.params(&names)).await?;
    Ok(rows.iter().map(index).collect())
}

const INDEXES: &str = "SELECT i.indrelid, tn.nspname::text, t.relname::text, ic.relname::text, \
        i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid), i.indisunique, i.indisprimary, \
        am.amname::text, \
        ARRAY(SELECT coalesce(a.attname::text, '') FROM generate_subscripts(i.indkey, 1) k \
              LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k] AND i.indkey[k] <> 0 \
              WHERE k < i.indnkeyatts ORDER BY k), \
        ARRAY(SELECT (i.indoption[k] & 1) = 1 FROM generate_subscripts(i.indkey, 1) k WHERE k < i.indnkeyatts ORDER BY k), \
        ARRAY(SELECT (i.indoption[k] & 2) = 2 FROM generate_subscripts(i.indkey, 1) k WHERE k < i.indnkeyatts ORDER BY k), \
        pg_get_expr(i.indpred, i.indrelid), \
        EXISTS (SELECT 1 FROM generate_subscripts(i.indclass, 1) k JOIN pg_opclass oc ON oc.oid = i.indclass[k] \
                WHERE NOT oc.opcdefault), \
        i.indisvalid, i.indisclustered, i.indisreplident, \
        obj_description(i.indexrelid, 'pg_class') IS NOT NULL, \
        EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid), \
        EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhparent = i.indexrelid), \
        ARRAY(SELECT u.contype::text FROM pg_constraint u WHERE u.conindid = i.indexrelid ORDER BY 1), \
        con.conname::text, pg_get_constraintdef(con.oid), \
        obj_description(con.oid, 'pg_constraint') IS NOT NULL, \
        EXISTS (SELECT 1 FROM pg_depend d WHERE d.deptype = 'n' \
             AND ((d.refclassid = 'pg_class'::regclass AND d.refobjid = i.indexrelid) \
               OR (d.refclassid = 'pg_constraint'::regclass AND d.refobjid = con.oid))) \
 FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam \
 JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace \
 LEFT JOIN LATERAL (SELECT b.oid, b.conname FROM pg_constraint b WHERE b.conindid = i.indexrelid \
      AND b.conrelid = i.indrelid AND b.contype IN ('p', 'u', 'x') LIMIT 1) con ON true \
 WHERE i.indrelid IN (SELECT oid FROM wanted) ORDER BY i.indrelid, ic.relname";

fn index(row: &tokio_postgres::Row) -> Index {
    let columns: Vec<String> = row.get(9);
    let descending: Vec<bool> = row.get(10);
    let nulls_first: Vec<bool> = row.get(11);
    let used_by: Vec<String> = row.get(20);
    Index {
        relation_oid: row.get(0),
        relation: QualifiedName::new(row.get(1), row.get(2)),
        name: row.get(3),
        regclass: row.get(4),
        definition: row.get(5),
        unique: row.get(6),
        primary: row.get(7),
        method: row.get(8),
        parts: columns
            .into_iter()
            .zip(descending)
            .zip(nulls_first)
            .map(|((column, desc), nulls)| ((!column.is_empty()).then_some(column), desc, nulls))
            .collect(),
        predicate: row.get(12),
        custom_opclass: row.get(13),
        valid: row.get(14),
        clustered: row.get(15),
        replica_identity: row.get(16),
        commented: row.get(17),
        inherited: row.get(18),
        has_inheritors: row.get(19),
        used_by: used_by.iter().filter_map(|k| k.chars().next()).collect(),
        backs: row
            .get::<_, Option<String>>(21)
            .map(|name| BackedConstraint {
                name,
                definition: row.get(22),
                commented: row.get(23),
            }),
        depended_on: row.get(24),
    }
}

/// The relations of `scope` that another relation's foreign key (validated or not) points at.
pub async fn referenced_by_others(
    client: &impl GenericClient,
    scope: Scope<'_>,
) -> Result<Vec<u32>, tokio_postgres::Error> {
    let names = scope.names();
    let sql = format!(
        "WITH wanted AS ({}) SELECT DISTINCT f.confrelid FROM pg_constraint f \
         WHERE f.contype = 'f' AND f.confrelid IN (SELECT oid FROM wanted) \
           AND f.conrelid <> f.confrelid",
        scope.wanted()
    );
    let rows = client.query(&sql, &scope.params(&names)).await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// A view (or materialized view) of the user's schemas uses a relation, or one of its columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewDependency {
    pub view: QualifiedName,
    /// The relation's name, without its schema.
    pub relation: String,
    pub column: Option<String>,
}

/// What every view of the user's schemas uses, as `pg_depend` records it (each once).
pub async fn view_dependencies(
    client: &impl GenericClient,
) -> Result<Vec<ViewDependency>, tokio_postgres::Error> {
    let sql = format!(
        "SELECT DISTINCT n.nspname::text, v.relname::text, t.relname::text, \
                COALESCE(a.attname::text, '') \
         FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class \
         JOIN pg_namespace n ON n.oid = v.relnamespace JOIN pg_class t ON t.oid = d.refobjid \
         LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid \
         WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass \
         AND v.oid <> t.oid AND {USER_SCHEMA}"
    );
    let rows = client.query(&sql, &[]).await?;
    Ok(rows
        .iter()
        .map(|row| {
            let column: String = row.get(3);
            ViewDependency {
                view: QualifiedName::new(row.get(0), row.get(1)),
                relation: row.get(2),
                column: (!column.is_empty()).then_some(column),
            }
        })
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
