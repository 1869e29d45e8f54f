//! One deterministic model of the local schema, read from the catalogs: what every generator
//! writes from. Everything is sorted by name, so the same schema gives the same model whatever
//! order the migrations created it in. Objects owned by extensions are left out.

use tokio_postgres::{Client, Row};

use super::GenerateError;
use crate::pg::catalog::{self as pg_catalog, Scope, USER_SCHEMA};

#[derive(Debug, Clone, Default)]
pub struct Schema {
    pub extensions: Vec<(String, String)>,
    pub enums: Vec<EnumType>,
    pub relations: Vec<Relation>,
    pub functions: Vec<Function>,
}

#[derive(Debug, Clone)]
pub struct EnumType {
    pub schema: String,
    pub name: String,
    pub labels: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationKind {
    Table,
    PartitionedTable,
    View,
    MaterializedView,
}

#[derive(Debug, Clone)]
pub struct Relation {
    pub schema: String,
    pub name: String,
    pub kind: RelationKind,
    /// Partition of another table.
    pub partition_of: Option<String>,
    pub columns: Vec<ColumnInfo>,
    pub constraints: Vec<Constraint>,
    /// Indexes that do not back a constraint: (name, definition).
    pub indexes: Vec<(String, String)>,
    pub triggers: Vec<(String, String)>,
    /// Views and materialized views.
    pub definition: Option<String>,
    /// A view's query as `pg_get_viewdef(oid)` prints it without the pretty flag (parentheses
    /// kept), which is the text Prisma formats into `views/<schema>/<view>.sql`.
    pub view_query: Option<String>,
    /// `COMMENT ON TABLE`.
    pub comment: Option<String>,
    /// Row level security is enabled.
    pub row_security: bool,
    /// Other tables inherit from it (not partitions).
    pub has_subclass: bool,
    /// Every index, constraint-backed or not, in detail (for Prisma's `@@index`/`@@unique`).
    pub index_details: Vec<IndexInfo>,
    /// Creation order (the catalog's oid), which is the order `prisma db pull` lists views in.
    pub oid: u32,
}

#[derive(Debug, Clone)]
pub struct IndexInfo {
    pub name: String,
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
    /// Backs a unique or primary key constraint (not a plain `CREATE UNIQUE INDEX`).
    pub constraint: bool,
}

#[derive(Debug, Clone)]
pub struct ColumnInfo {
    pub name: String,
    /// `format_type` text, e.g. `character varying(32)`, `timestamp with time zone`.
    pub type_name: String,
    /// The type's own name without modifiers (`varchar`, `int4`, `_text` for arrays).
    pub udt_name: String,
    /// Schema of the type (for enums and domains).
    pub type_schema: String,
    /// `e` enum, `b` base, `d` domain, `c` composite...
    pub type_kind: String,
    /// For arrays, the element type's name.
    pub element_name: Option<String>,
    pub element_kind: Option<String>,
    pub not_null: bool,
    pub default: Option<String>,
    /// `a` always, `d` by default, empty otherwise.
    pub identity: String,
    pub generated: bool,
    /// `COMMENT ON COLUMN`.
    pub comment: Option<String>,
    /// For a domain: its base type's name and `format_type` text.
    pub domain_base: Option<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Constraint {
    pub name: String,
    /// `p` primary key, `u` unique, `f` foreign key, `c` check, `x` exclusion.
    pub kind: char,
    pub definition: String,
    pub columns: Vec<String>,
    /// Foreign keys: the referenced relation (schema, name) and columns, and ON DELETE/UPDATE.
    pub references: Option<(String, String, Vec<String>)>,
    pub on_delete: char,
    pub on_update: char,
}

#[derive(Debug, Clone)]
pub struct Function {
    pub schema: String,
    pub name: String,
    pub arguments: String,
    pub definition: String,
}

fn db_error(action: &'static str) -> impl FnOnce(tokio_postgres::Error) -> GenerateError {
    move |error| GenerateError::Database {
        action: action.to_string(),
        error,
    }
}

/// `NOT EXISTS` an extension membership for the object `oid` of catalog `catalog`.
fn not_from_extension(oid: &str, catalog: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM pg_depend dep WHERE dep.classid = '{catalog}'::regclass \
         AND dep.objid = {oid} AND dep.deptype = 'e')"
    )
}

pub async fn read(client: &Client) -> Result<Schema, GenerateError> {
    let extensions = read_extensions(client).await?;
    let enums = read_enums(client).await?;
    let relations = read_relations(client).await?;
    let oids: Vec<u32> = relations.iter().map(|r| r.get(0)).collect();
    let parts = RelationParts::read(client, &oids).await?;
    Ok(Schema {
        extensions,
        enums,
        relations: relations.iter().map(|row| parts.relation(row)).collect(),
        functions: read_functions(client).await?,
    })
}

async fn read_extensions(client: &Client) -> Result<Vec<(String, String)>, GenerateError> {
    let rows = client
        .query(
            "SELECT extname, extversion FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1",
            &[],
        )
        .await
        .map_err(db_error("reading extensions"))?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

async fn read_enums(client: &Client) -> Result<Vec<EnumType>, GenerateError> {
    let enum_sql = format!(
        "SELECT n.nspname, t.typname, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) \
         FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace JOIN pg_enum e ON e.enumtypid = t.oid \
         WHERE {USER_SCHEMA} AND {} GROUP BY 1, 2 ORDER BY 1, 2",
        not_from_extension("t.oid", "pg_type")
    );
    let rows = client
        .query(&enum_sql, &[])
        .await
        .map_err(db_error("reading enums"))?;
    Ok(rows
        .iter()
        .map(|row| EnumType {
            schema: row.get(0),
            name: row.get(1),
            labels: row.get(2),
        })
        .collect())
}

/// One row per relation: oid, schema, name, kind, definition, parent partitioned table,
/// comment, row security, subclasses, view query.
async fn read_relations(client: &Client) -> Result<Vec<Row>, GenerateError> {
    let relation_sql = format!(
        "SELECT c.oid, n.nspname, c.relname, c.relkind::text, \
                CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid, true) END, \
                (SELECT format('%I.%I', pn.nspname, pc.relname) FROM pg_inherits i JOIN pg_class pc ON pc.oid = i.inhparent \
                   JOIN pg_namespace pn ON pn.oid = pc.relnamespace WHERE i.inhrelid = c.oid AND c.relispartition), \
                obj_description(c.oid, 'pg_class'), c.relrowsecurity, \
                EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class ic ON ic.oid = i.inhrelid \
                        WHERE i.inhparent = c.oid AND NOT ic.relispartition), \
                CASE WHEN c.relkind = 'v' THEN pg_get_viewdef(c.oid) END \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p', 'v', 'm') AND {USER_SCHEMA} AND c.relname <> '_prisma_migrations' AND {} \
         ORDER BY 2, 3",
        not_from_extension("c.oid", "pg_class")
    );
    client
        .query(&relation_sql, &[])
        .await
        .map_err(db_error("reading relations"))
}

const TRIGGERS: &str = "SELECT tgrelid, tgname, pg_get_triggerdef(oid, true) FROM pg_trigger \
 WHERE tgrelid = ANY($1) AND NOT tgisinternal ORDER BY 1, 2";

/// The parts of every relation read (each row's first column is the relation's oid).
struct RelationParts {
    columns: Vec<pg_catalog::Column>,
    constraints: Vec<pg_catalog::Constraint>,
    indexes: Vec<pg_catalog::Index>,
    triggers: Vec<Row>,
}

impl RelationParts {
    async fn read(client: &Client, oids: &[u32]) -> Result<RelationParts, GenerateError> {
        let query = |sql: &'static str, action: &'static str| async move {
            client.query(sql, &[&oids]).await.map_err(db_error(action))
        };
        Ok(RelationParts {
            columns: pg_catalog::columns(client, Scope::Oids(oids))
                .await
                .map_err(db_error("reading columns"))?,
            constraints: pg_catalog::constraints(client, Scope::Oids(oids))
                .await
                .map_err(db_error("reading constraints"))?,
            indexes: pg_catalog::indexes(client, Scope::Oids(oids))
                .await
                .map_err(db_error("reading indexes"))?,
            triggers: query(TRIGGERS, "reading triggers").await?,
        })
    }

    fn indexes_of(&self, oid: u32) -> impl Iterator<Item = &pg_catalog::Index> {
        self.indexes.iter().filter(move |i| i.relation_oid == oid)
    }

    /// The relation of a [`read_relations`] row, with its parts.
    fn relation(&self, row: &Row) -> Relation {
        let oid: u32 = row.get(0);
        let kind = match row.get::<_, String>(3).as_str() {
            "r" => RelationKind::Table,
            "p" => RelationKind::PartitionedTable,
            "v" => RelationKind::View,
            _ => RelationKind::MaterializedView,
        };
        Relation {
            schema: row.get(1),
            name: row.get(2),
            kind,
            partition_of: row.get(5),
            definition: row.get(4),
            view_query: row.get(9),
            comment: row.get(6),
            row_security: row.get(7),
            has_subclass: row.get(8),
            oid,
            // Every index but an exclusion constraint's, in detail.
            index_details: self
                .indexes_of(oid)
                .filter(|i| !i.used_by.contains(&'x'))
                .map(index_info)
                .collect(),
            columns: self
                .columns
                .iter()
                .filter(|c| c.relation_oid == oid)
                .map(column_info)
                .collect(),
            constraints: self
                .constraints
                .iter()
                .filter(|c| c.relation_oid == oid && !c.inherited)
                .map(constraint)
                .collect(),
            // Indexes no constraint names, that are not a partition's copy of its parent's.
            indexes: self
                .indexes_of(oid)
                .filter(|i| i.used_by.is_empty() && !i.inherited)
                .map(|i| (i.name.clone(), i.definition.clone()))
                .collect(),
            triggers: rows_of(&self.triggers, oid)
                .map(|t| (t.get(1), t.get(2)))
                .collect(),
        }
    }
}

/// The rows of relation `oid`.
fn rows_of(rows: &[Row], oid: u32) -> impl Iterator<Item = &Row> {
    rows.iter().filter(move |r| r.get::<_, u32>(0) == oid)
}

fn index_info(i: &pg_catalog::Index) -> IndexInfo {
    IndexInfo {
        name: i.name.clone(),
        unique: i.unique,
        primary: i.primary,
        method: i.method.clone(),
        parts: i.parts.clone(),
        predicate: i.predicate.clone(),
        custom_opclass: i.custom_opclass,
        constraint: i.used_by.iter().any(|k| matches!(k, 'p' | 'u')),
    }
}

fn column_info(c: &pg_catalog::Column) -> ColumnInfo {
    ColumnInfo {
        name: c.name.clone(),
        type_name: c.type_name.clone(),
        udt_name: c.udt_name.clone(),
        type_schema: c.type_schema.clone(),
        type_kind: c.type_kind.clone(),
        element_name: c.element_name.clone(),
        element_kind: c.element_kind.clone(),
        not_null: c.not_null,
        default: c.default.clone(),
        identity: c.identity.clone(),
        generated: c.generated,
        comment: c.comment.clone(),
        domain_base: c.domain_base.clone(),
    }
}

fn constraint(c: &pg_catalog::Constraint) -> Constraint {
    Constraint {
        name: c.name.clone(),
        kind: c.kind,
        definition: c.definition.clone(),
        columns: c.columns.clone(),
        references: c
            .references
            .as_ref()
            .map(|(parent, columns)| (parent.schema.clone(), parent.name.clone(), columns.clone())),
        on_delete: c.on_delete,
        on_update: c.on_update,
    }
}

async fn read_functions(client: &Client) -> Result<Vec<Function>, GenerateError> {
    let function_sql = format!(
        "SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid), pg_get_functiondef(p.oid) \
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
         WHERE p.prokind IN ('f', 'p') AND {USER_SCHEMA} AND {} ORDER BY 1, 2, 3",
        not_from_extension("p.oid", "pg_proc")
    );
    let rows = client
        .query(&function_sql, &[])
        .await
        .map_err(db_error("reading functions"))?;
    Ok(rows
        .iter()
        .map(|row| Function {
            schema: row.get(0),
            name: row.get(1),
            arguments: row.get(2),
            definition: row.get(3),
        })
        .collect())
}
