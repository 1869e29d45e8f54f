//! Virtual foreign keys (`x-devdb.relations`): keys a schema without constraints still has in
//! its data (`_cq_parent_id -> _cq_id`). Each entry is read with Postgres's parser and checked
//! against the local catalog before any row moves; from then on it is an FK like the others.

use tokio_postgres::GenericClient;

use super::integrity::ForeignKey;
use super::CopyError;
use crate::config::RelationSettings;
use crate::pg::{catalog, name, QualifiedName};

/// The declared keys, resolved; a missing table or column, a count mismatch or a bad condition
/// is one error naming the entry (and nothing was copied).
pub async fn resolve(
    relations: &[RelationSettings],
    local: &impl GenericClient,
) -> Result<Vec<ForeignKey>, CopyError> {
    let mut parsed = Vec::new();
    for (index, relation) in relations.iter().enumerate() {
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
        parsed.push((child, child_columns, parent, parent_columns, condition));
    }
    let tables: Vec<QualifiedName> = parsed
        .iter()
        .flat_map(|(child, _, parent, _, _)| [child.clone(), parent.clone()])
        .collect();
    let found = catalog::relations(local, &tables)
        .await
        .map_err(|error| CopyError::Database {
            action: "reading the tables of x-devdb.relations".into(),
            error,
        })?;
    let relation_of = |table: &QualifiedName| found.iter().find(|r| &r.name == table);
    let mut keys = Vec::new();
    for (index, (child, child_columns, parent, parent_columns, condition)) in
        parsed.into_iter().enumerate()
    {
        let settings = &relations[index];
        let fail = |message: String| bad(index, settings, message);
        let (Some(child_table), Some(parent_table)) = (relation_of(&child), relation_of(&parent))
        else {
            let missing = if relation_of(&child).is_none() {
                &child
            } else {
                &parent
            };
            return Err(fail(format!("the local database has no table {missing}")));
        };
        for (table, columns) in [
            (child_table, &child_columns),
            (parent_table, &parent_columns),
        ] {
            if let Some(column) = columns.iter().find(|c| !table.columns.contains(c)) {
                return Err(fail(format!(
                    "{} has no column `{column}` (it has {})",
                    table.name,
                    table.columns.join(", ")
                )));
            }
        }
        keys.push(ForeignKey {
            name: settings
                .name
                .clone()
                .unwrap_or_else(|| format!("{}_{}_relation", child.name, child_columns.join("_"))),
            nullable: child_columns
                .iter()
                .all(|c| !child_table.not_null.contains(c)),
            child_only: !child_table.partitioned,
            parent_only: !parent_table.partitioned,
            child,
            child_columns,
            parent,
            parent_columns,
            match_full: false,
            deferrable: false,
            condition,
            declared: true,
        });
    }
    Ok(keys)
}

fn bad(index: usize, relation: &RelationSettings, message: String) -> CopyError {
    CopyError::Subset(format!(
        "x-devdb.relations[{index}] (from: {}, to: {}): {message}; nothing was copied\n  \
         hint: name an existing table and its columns, as `table(column, ...)` or `schema.table(column)`",
        relation.from, relation.to
    ))
}
