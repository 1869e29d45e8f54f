//! Virtual foreign keys (`x-devdb.relations`): keys a schema without constraints still has in
//! its data (`_cq_parent_id -> _cq_id`). Each entry is read with Postgres's parser and checked
//! against the local catalog before any row moves; from then on it is an FK like the others.

use tokio_postgres::GenericClient;

use super::integrity::ForeignKey;
use super::CopyError;
use crate::config::RelationSettings;
use crate::pg::{catalog, name, QualifiedName};

/// One entry as written, parsed: the two sides and the condition.
struct Parsed {
    name: String,
    child: QualifiedName,
    child_columns: Vec<String>,
    parent: QualifiedName,
    parent_columns: Vec<String>,
    condition: Option<String>,
}

/// The declared keys, resolved; a missing table or column, a count mismatch or a bad condition
/// is one error naming the entry (and nothing was copied).
pub async fn resolve(
    relations: &[RelationSettings],
    local: &impl GenericClient,
) -> Result<Vec<ForeignKey>, CopyError> {
    let parsed = relations
        .iter()
        .enumerate()
        .map(|(index, relation)| parse(index, relation))
        .collect::<Result<Vec<Parsed>, CopyError>>()?;
    let tables: Vec<QualifiedName> = parsed
        .iter()
        .flat_map(|p| [p.child.clone(), p.parent.clone()])
        .collect();
    let found = catalog::relations(local, &tables)
        .await
        .map_err(|error| CopyError::Database {
            action: "reading the tables of x-devdb.relations".into(),
            error,
        })?;
    parsed
        .into_iter()
        .enumerate()
        .map(|(index, entry)| {
            resolve_one(entry, &found).map_err(|message| bad(index, &relations[index], message))
        })
        .collect()
}

fn parse(index: usize, relation: &RelationSettings) -> Result<Parsed, CopyError> {
    let fail = |message: String| bad(index, relation, message);
    let (child, child_columns) =
        name::parse_table_columns(&relation.from).map_err(|e| fail(format!("from: {e}")))?;
    let (parent, parent_columns) =
        name::parse_table_columns(&relation.to).map_err(|e| fail(format!("to: {e}")))?;
    if child_columns.len() != parent_columns.len() {
        return Err(fail(format!(
            "from names {} columns and to names {}",
            child_columns.len(),
            parent_columns.len()
        )));
    }
    let condition = relation
        .condition
        .as_deref()
        .map(super::plan::single_condition)
        .transpose()
        .map_err(|e| fail(format!("condition {e}")))?;
    Ok(Parsed {
        name: relation
            .name
            .clone()
            .unwrap_or_else(|| format!("{}_{}_relation", child.name, child_columns.join("_"))),
        child,
        child_columns,
        parent,
        parent_columns,
        condition,
    })
}

/// The key one parsed entry declares, checked against the local tables `found`.
fn resolve_one(entry: Parsed, found: &[catalog::Relation]) -> Result<ForeignKey, String> {
    let relation_of = |table: &QualifiedName| found.iter().find(|r| &r.name == table);
    let Some(child_table) = relation_of(&entry.child) else {
        return Err(format!("the local database has no table {}", entry.child));
    };
    let Some(parent_table) = relation_of(&entry.parent) else {
        return Err(format!("the local database has no table {}", entry.parent));
    };
    for (table, columns) in [
        (child_table, &entry.child_columns),
        (parent_table, &entry.parent_columns),
    ] {
        if let Some(column) = columns.iter().find(|c| !table.columns.contains(c)) {
            return Err(format!(
                "{} has no column `{column}` (it has {})",
                table.name,
                table.columns.join(", ")
            ));
        }
    }
    Ok(ForeignKey {
        name: entry.name,
        nullable: entry
            .child_columns
            .iter()
            .all(|c| !child_table.not_null.contains(c)),
        child_only: !child_table.partitioned,
        parent_only: !parent_table.partitioned,
        child: entry.child,
        child_columns: entry.child_columns,
        parent: entry.parent,
        parent_columns: entry.parent_columns,
        match_full: false,
        deferrable: false,
        condition: entry.condition,
        declared: true,
    })
}

fn bad(index: usize, relation: &RelationSettings, message: String) -> CopyError {
    CopyError::Refused {
        message: format!(
            "x-devdb.relations[{index}] (from: {}, to: {}): {message}; nothing was copied",
            relation.from, relation.to
        ),
        hint: "name an existing table and its columns, as `table(column, ...)` or `schema.table(column)`"
            .into(),
    }
}
