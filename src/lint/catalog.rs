//! What the local database holds before the pending migrations: relations, columns, functions,
//! types, and who uses which relation (views through pg_depend, SQL and PL/pgSQL functions by
//! parsing their definitions, since Postgres does not track what a function body names).

use std::collections::{BTreeMap, BTreeSet};

use tokio_postgres::Client;

use super::refs::{self, Kind};
use crate::pg::catalog::{self as pg_catalog, Scope, USER_SCHEMA};
use crate::pg::QualifiedName;

/// A view or function that names relations (and columns), so dropping or changing them breaks it.
#[derive(Debug, Clone)]
pub struct User {
    /// `view` or `function`.
    pub kind: &'static str,
    pub name: QualifiedName,
    pub relations: BTreeSet<String>,
    /// `(relation, column)` pairs known exactly (views, from pg_depend).
    pub exact_columns: BTreeSet<(String, String)>,
    /// Column names mentioned, for users whose columns are only known by name (bodies).
    pub column_names: BTreeSet<String>,
    /// Reads `*` of its relations.
    pub star: bool,
}

impl User {
    pub fn uses_column(&self, relation: &str, column: &str) -> bool {
        self.exact_columns
            .contains(&(relation.to_string(), column.to_string()))
            || (self.relations.contains(relation)
                && (self.star || self.column_names.contains(column)))
    }

    /// A user made from a parsed `CREATE VIEW` or `CREATE FUNCTION` (pending or catalog).
    pub fn from_uses(kind: &'static str, name: QualifiedName, uses: &refs::Uses) -> User {
        User {
            kind,
            relations: uses
                .relations()
                .into_iter()
                .filter(|r| *r != name.name)
                .collect(),
            name,
            exact_columns: BTreeSet::new(),
            column_names: uses.columns.clone(),
            star: uses.star,
        }
    }
}

/// Objects by base name, each with the schemas that hold one (`""`: made by a pending migration
/// without a schema). Name resolution is deliberately forgiving about schemas: an unqualified
/// name resolves when any schema holds it.
#[derive(Debug, Clone, Default)]
pub struct Objects(BTreeMap<(Kind, String), BTreeSet<String>>);

impl Objects {
    pub fn add(&mut self, kind: Kind, name: &QualifiedName) {
        self.0
            .entry((kind, name.name.clone()))
            .or_default()
            .insert(name.schema.clone());
    }

    pub fn remove(&mut self, kind: Kind, name: &QualifiedName) {
        let key = (kind, name.name.clone());
        let Some(schemas) = self.0.get_mut(&key) else {
            return;
        };
        match name.written_schema() {
            Some(schema) => {
                schemas.remove(schema);
                schemas.remove("");
            }
            None => schemas.clear(),
        }
        if schemas.is_empty() {
            self.0.remove(&key);
        }
    }

    pub fn contains(&self, kind: Kind, name: &QualifiedName) -> bool {
        self.0
            .get(&(kind, name.name.clone()))
            .is_some_and(|schemas| match name.written_schema() {
                Some(schema) => schemas.contains(schema) || schemas.contains(""),
                None => !schemas.is_empty(),
            })
    }
}

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub objects: Objects,
    /// Tables (and partitioned tables) with their columns' types as `format_type` writes them.
    pub tables: BTreeMap<QualifiedName, BTreeMap<String, String>>,
    pub users: Vec<User>,
    /// Tables' row estimates (`pg_class.reltuples`; negative: never analyzed).
    pub rows: BTreeMap<QualifiedName, f64>,
    /// Names of functions with a volatile overload (a default calling one rewrites the table).
    pub volatile: BTreeSet<String>,
    /// Indexes by name, with their table.
    pub indexes: BTreeMap<String, QualifiedName>,
    /// `CHECK (column IS NOT NULL)` constraints: (table, constraint) -> (column, validated).
    pub not_null_checks: BTreeMap<(String, String), (String, bool)>,
}

impl Catalog {
    pub fn table(&self, name: &QualifiedName) -> Option<&BTreeMap<String, String>> {
        match name.written_schema() {
            Some(_) => self.tables.get(name),
            None => self
                .tables
                .iter()
                .find(|(n, _)| n.name == name.name)
                .map(|(_, columns)| columns),
        }
    }

    /// The row estimate of a table, if it has one.
    pub fn rows_of(&self, name: &QualifiedName) -> Option<f64> {
        match name.written_schema() {
            Some(_) => self.rows.get(name).copied(),
            None => self
                .rows
                .iter()
                .find(|(n, _)| n.name == name.name)
                .map(|(_, rows)| *rows),
        }
    }
}

pub async fn load(client: &Client) -> Result<Catalog, tokio_postgres::Error> {
    let mut catalog = Catalog::default();
    let named = |sql: String| async move { client.query(&sql, &[]).await };
    for (kind, sql) in [
        (
            Kind::Relation,
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f', 'S')",
        ),
        (
            Kind::Function,
            "SELECT DISTINCT n.nspname, p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace",
        ),
        (
            Kind::Type,
            "SELECT n.nspname, t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace",
        ),
    ] {
        for row in named(sql.to_string()).await? {
            catalog
                .objects
                .add(kind, &QualifiedName::new(row.get(0), row.get(1)));
        }
    }
    for column in pg_catalog::columns(client, Scope::UserTables).await? {
        catalog
            .tables
            .entry(column.relation)
            .or_default()
            .insert(column.name, column.type_name);
    }
    load_sizes_and_indexes(client, &mut catalog).await?;
    catalog.users = view_users(client).await?;
    catalog.users.extend(function_users(client).await?);
    Ok(catalog)
}

/// Row estimates, volatile functions, indexes and NOT NULL checks: what the live-table rules
/// need beyond names.
async fn load_sizes_and_indexes(
    client: &Client,
    catalog: &mut Catalog,
) -> Result<(), tokio_postgres::Error> {
    let sql = format!(
        "SELECT n.nspname, c.relname, c.reltuples::float8 FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND {USER_SCHEMA}"
    );
    for row in client.query(&sql, &[]).await? {
        catalog
            .rows
            .insert(QualifiedName::new(row.get(0), row.get(1)), row.get(2));
    }
    let sql = "SELECT DISTINCT proname FROM pg_proc WHERE provolatile = 'v'";
    for row in client.query(sql, &[]).await? {
        catalog.volatile.insert(row.get(0));
    }
    for index in pg_catalog::indexes(client, Scope::UserRelations).await? {
        catalog.indexes.insert(index.name, index.relation);
    }
    for check in pg_catalog::constraints(client, Scope::UserRelations).await? {
        if check.kind != 'c' {
            continue;
        }
        if let Some(column) = not_null_check_of_definition(&check.definition) {
            catalog
                .not_null_checks
                .insert((check.relation.name, check.name), (column, check.validated));
        }
    }
    Ok(())
}

/// The column of a `CHECK (column IS NOT NULL)` as `pg_get_constraintdef` writes it, read
/// with Postgres's parser (the definition is parsed as part of an `ALTER TABLE`).
fn not_null_check_of_definition(definition: &str) -> Option<String> {
    let parsed = pg_query::parse(&format!("ALTER TABLE t ADD {definition}"), 0).ok()?;
    let stmt = parsed.protobuf.stmts.first()?.stmt.as_ref()?;
    let pg_query::NodeEnum::AlterTableStmt(alter) = stmt.node.as_ref()? else {
        return None;
    };
    let pg_query::NodeEnum::AlterTableCmd(cmd) = alter.cmds.first()?.node.as_ref()? else {
        return None;
    };
    match cmd.def.as_deref()?.node.as_ref()? {
        pg_query::NodeEnum::Constraint(constraint) => refs::not_null_check_column(constraint),
        _ => None,
    }
}

/// Views and materialized views with the relations and columns they use (pg_depend).
async fn view_users(client: &Client) -> Result<Vec<User>, tokio_postgres::Error> {
    let rows = pg_catalog::view_dependencies(client).await?;
    let mut users: BTreeMap<QualifiedName, User> = BTreeMap::new();
    for dependency in rows {
        let name = dependency.view;
        let relation = dependency.relation;
        let user = users.entry(name.clone()).or_insert_with(|| User {
            kind: "view",
            name,
            relations: BTreeSet::new(),
            exact_columns: BTreeSet::new(),
            column_names: BTreeSet::new(),
            star: false,
        });
        if let Some(column) = dependency.column {
            user.exact_columns.insert((relation.clone(), column));
        }
        user.relations.insert(relation);
    }
    Ok(users.into_values().collect())
}

/// SQL and PL/pgSQL functions with what their bodies name.
async fn function_users(client: &Client) -> Result<Vec<User>, tokio_postgres::Error> {
    let rows = client
        .query(
            &format!(
                "SELECT n.nspname, p.proname, pg_get_functiondef(p.oid) FROM pg_proc p \
                 JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang \
                 WHERE p.prokind IN ('f', 'p') AND l.lanname IN ('sql', 'plpgsql') AND {USER_SCHEMA} \
                 AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.objid = p.oid AND e.deptype = 'e')"
            ),
            &[],
        )
        .await?;
    let mut users = Vec::new();
    for row in rows {
        let definition: String = row.get(2);
        let Ok(parsed) = pg_query::parse(&definition, 0) else {
            continue;
        };
        let Some(stmt) = parsed.protobuf.stmts.first().and_then(|s| s.stmt.as_ref()) else {
            continue;
        };
        let Some(pg_query::NodeEnum::CreateFunctionStmt(function)) = &stmt.node else {
            continue;
        };
        let mut uses = refs::uses_of(stmt);
        let body = refs::body_uses(&definition, function);
        uses.references.extend(body.references);
        uses.columns.extend(body.columns);
        uses.star |= body.star;
        users.push(User::from_uses(
            "function",
            QualifiedName::new(row.get(0), row.get(1)),
            &uses,
        ));
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_null_checks_are_read_from_their_definition() {
        assert_eq!(
            not_null_check_of_definition("CHECK ((email IS NOT NULL)) NOT VALID").as_deref(),
            Some("email")
        );
        // The catalog layer reads definitions pretty-printed (fewer parentheses).
        assert_eq!(
            not_null_check_of_definition("CHECK (email IS NOT NULL)").as_deref(),
            Some("email")
        );
        assert_eq!(
            not_null_check_of_definition("CHECK ((total > (0)::numeric))"),
            None
        );
        assert_eq!(not_null_check_of_definition("CHECK ((a IS NULL))"), None);
    }

    #[test]
    fn names_resolve_forgivingly_by_schema() {
        let mut objects = Objects::default();
        objects.add(Kind::Relation, &QualifiedName::new("app", "users"));
        assert!(objects.contains(Kind::Relation, &QualifiedName::new("", "users")));
        assert!(objects.contains(Kind::Relation, &QualifiedName::new("app", "users")));
        assert!(!objects.contains(Kind::Relation, &QualifiedName::new("public", "users")));
        assert!(!objects.contains(Kind::Function, &QualifiedName::new("", "users")));
        objects.add(Kind::Relation, &QualifiedName::new("", "orders"));
        assert!(objects.contains(Kind::Relation, &QualifiedName::new("public", "orders")));
        objects.remove(Kind::Relation, &QualifiedName::new("", "users"));
        assert!(!objects.contains(Kind::Relation, &QualifiedName::new("app", "users")));
    }
}
