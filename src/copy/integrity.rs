//! The copy's invariant: when it commits, every foreign key Postgres marks valid holds. Rows are
//! loaded with FK triggers off (`session_replication_role = replica`, tables arrive in any
//! order), so before the commit every FK touching a loaded table is checked here with an
//! anti-join inside the copy's transaction; dangling rows roll the whole copy back, or, with
//! `--prune-dangling`, are deleted (and reported) until none are left.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;
use tokio_postgres::GenericClient;

use super::plan::MaskRule;
use super::CopyError;
pub use crate::pg::ForeignKey;
use crate::pg::{catalog, QualifiedName};

/// Masks on the two sides of an FK must keep it true: the same `hmac` on both (equal values stay
/// equal), none on either, or `null` on the referencing side (a null references nothing). Anything
/// else would leave every masked row pointing nowhere, so it is refused before any row moves.
pub fn check_masks(
    keys: &[ForeignKey],
    mask_of: impl Fn(&QualifiedName, &str) -> Option<MaskRule>,
) -> Result<(), CopyError> {
    for key in keys {
        for (child_column, parent_column) in key.child_columns.iter().zip(&key.parent_columns) {
            let child = mask_of(&key.child, child_column);
            let parent = mask_of(&key.parent, parent_column);
            let holds = matches!(
                (&child, &parent),
                (Some(MaskRule::Null), _)
                    | (None, None)
                    | (Some(MaskRule::Hmac), Some(MaskRule::Hmac))
            );
            if !holds {
                return Err(CopyError::MaskBreaksKey(format!(
                    "x-devdb.copy.mask: {}.{child_column} is {} but {}.{parent_column}, which it references \
                     through {}, is {}, so the copied rows would point nowhere; nothing was copied",
                    key.child,
                    mask_name(child.as_ref()),
                    key.parent,
                    key.name,
                    mask_name(parent.as_ref()),
                )));
            }
        }
    }
    Ok(())
}

fn mask_name(rule: Option<&MaskRule>) -> &'static str {
    match rule {
        None => "not masked",
        Some(MaskRule::Null) => "masked with null",
        Some(MaskRule::Hmac) => "masked with hmac",
        Some(MaskRule::Value { .. }) => "masked with a fixed value",
    }
}

/// An FK that would not hold after the copy.
#[derive(Debug, Clone)]
pub struct Violation {
    pub key: ForeignKey,
    pub rows: i64,
    /// A few keys of the dangling child rows.
    pub sample: Vec<String>,
    /// The child table is one the copy loads (else its local rows were left behind).
    pub child_loaded: bool,
}

/// Rows `--prune-dangling` deleted.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Pruned {
    pub table: String,
    pub foreign_key: String,
    pub rows: u64,
}

/// The copy's foreign keys: the local catalog's, plus the ones declared in `x-devdb.relations`
/// (resolved against the local catalog before any row moves, see `relations`).
#[derive(Debug, Clone, Default)]
pub struct Keys {
    pub declared: Vec<ForeignKey>,
}

impl Keys {
    /// Every valid FK (and declared one) whose child or parent is one of `tables`.
    pub async fn touching(
        &self,
        client: &impl GenericClient,
        tables: &[QualifiedName],
    ) -> Result<Vec<ForeignKey>, CopyError> {
        let mut keys = catalog::foreign_keys_touching(client, tables)
            .await
            .map_err(|error| CopyError::Database {
                action: "reading the local foreign keys".into(),
                error,
            })?;
        keys.extend(
            self.declared
                .iter()
                .filter(|k| tables.contains(&k.child) || tables.contains(&k.parent))
                .cloned(),
        );
        Ok(keys)
    }
}

/// Gives the planner row counts of tables just loaded in this transaction (autovacuum cannot
/// see them yet): without them the anti-joins below plan as if the tables were empty, and a
/// self-reference over a whole table becomes a nested loop of N x N rows.
pub async fn analyze(
    client: &impl GenericClient,
    tables: &[QualifiedName],
) -> Result<(), CopyError> {
    if tables.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = tables.iter().map(QualifiedName::quoted).collect();
    client
        .batch_execute(&format!("ANALYZE {}", names.join(", ")))
        .await
        .map_err(|error| CopyError::Database {
            action: "analyzing the loaded tables".into(),
            error,
        })
}

/// Checks every FK touching `loaded` (analyzed, see [`analyze`]); with `prune`, deletes
/// dangling rows instead (repeating, since a deleted row may have been another row's parent)
/// and returns what it deleted.
pub async fn enforce(
    client: &impl GenericClient,
    keys_of: &Keys,
    loaded: &[QualifiedName],
    prune: bool,
) -> Result<Vec<Pruned>, CopyError> {
    let loaded_set: BTreeSet<&QualifiedName> = loaded.iter().collect();
    let mut touched: Vec<QualifiedName> = loaded.to_vec();
    let mut pruned: Vec<Pruned> = Vec::new();
    loop {
        let keys = keys_of.touching(client, &touched).await?;
        if !prune {
            let violations = violations(client, &keys, &loaded_set).await?;
            return if violations.is_empty() {
                Ok(pruned)
            } else {
                Err(CopyError::Dangling(violations))
            };
        }
        let mut deleted_any = false;
        for key in &keys {
            let deleted = client
                .execute(&key.delete_sql(), &[])
                .await
                .map_err(|error| CopyError::Database {
                    action: format!("deleting rows that break {}", key.describe()),
                    error,
                })?;
            if deleted == 0 {
                continue;
            }
            deleted_any = true;
            add_pruned(&mut pruned, key, deleted);
            if !touched.contains(&key.child) {
                touched.push(key.child.clone());
            }
        }
        if !deleted_any {
            return Ok(pruned);
        }
    }
}

fn add_pruned(pruned: &mut Vec<Pruned>, key: &ForeignKey, rows: u64) {
    let (table, foreign_key) = (key.child.to_string(), key.name.clone());
    match pruned
        .iter_mut()
        .find(|p| p.table == table && p.foreign_key == foreign_key)
    {
        Some(entry) => entry.rows += rows,
        None => pruned.push(Pruned {
            table,
            foreign_key,
            rows,
        }),
    }
}

async fn violations(
    client: &impl GenericClient,
    keys: &[ForeignKey],
    loaded: &BTreeSet<&QualifiedName>,
) -> Result<Vec<Violation>, CopyError> {
    let mut found = Vec::new();
    for key in keys {
        let failed = |error| CopyError::Database {
            action: format!("checking {}", key.describe()),
            error,
        };
        let rows: i64 = client
            .query_one(&key.count_sql(), &[])
            .await
            .map_err(failed)?
            .get(0);
        if rows == 0 {
            continue;
        }
        let sample = client
            .query(&key.sample_sql(5), &[])
            .await
            .map_err(|error| CopyError::Database {
                action: format!("checking {}", key.describe()),
                error,
            })?
            .iter()
            .map(|row| row.get::<_, String>(0))
            .collect();
        found.push(Violation {
            key: key.clone(),
            rows,
            sample,
            child_loaded: loaded.contains(&key.child),
        });
    }
    Ok(found)
}

/// The error text: one paragraph per broken FK, each with its ways out.
pub fn describe_violations(violations: &[Violation]) -> String {
    let mut out = format!(
        "the copy would leave {} foreign key{} broken, so nothing was copied (the local rows are unchanged):",
        violations.len(),
        if violations.len() == 1 { "" } else { "s" }
    );
    for violation in violations {
        let key = &violation.key;
        let _ = write!(
            out,
            "\n  {}: {} rows of {} point at rows {} will not have, e.g. {}",
            key.describe(),
            violation.rows,
            key.child,
            key.parent,
            violation.sample.join(", ")
        );
        let hint = if violation.child_loaded {
            format!(
                "copy {parent} too (name it, with --where on it if you want a part), narrow {child} with --where, \
                 or delete the dangling rows with --prune-dangling",
                parent = key.parent,
                child = key.child
            )
        } else {
            format!(
                "these are local rows of {child}, which is not copied: copy {child} too, or delete them with --prune-dangling",
                child = key.child
            )
        };
        let _ = write!(out, "\n    hint: {hint}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::pg::foreign_key::tests::key;

    #[test]
    fn the_error_names_the_key_rows_and_the_ways_out() {
        let violation = |child_loaded| Violation {
            key: key(&["a"], false),
            rows: 12,
            sample: vec!["(1)".into(), "(2)".into()],
            child_loaded,
        };
        let text = describe_violations(&[violation(true), violation(false)]);
        assert!(
            text.starts_with("the copy would leave 2 foreign keys broken, so nothing was copied")
        );
        assert!(text.contains(
            "items_fk public.items (a) → shop.orders (p_a): 12 rows of public.items point at rows shop.orders will not have, e.g. (1), (2)"
        ));
        assert!(text.contains("copy shop.orders too"));
        assert!(text.contains("--prune-dangling"));
        assert!(text.contains("local rows of public.items, which is not copied"));
    }

    #[test]
    fn masks_must_keep_both_sides_of_a_key_equal() {
        let keys = [key(&["a"], false)];
        let check = |child: Option<MaskRule>, parent: Option<MaskRule>| {
            check_masks(&keys, |table, column| {
                if table.name == "items" && column == "a" {
                    child.clone()
                } else if table.name == "orders" && column == "p_a" {
                    parent.clone()
                } else {
                    None
                }
            })
        };
        let fixed = || Some(MaskRule::Value { value: "x".into() });
        assert!(check(None, None).is_ok());
        assert!(check(Some(MaskRule::Hmac), Some(MaskRule::Hmac)).is_ok());
        assert!(check(Some(MaskRule::Null), None).is_ok());
        for (child, parent) in [
            (Some(MaskRule::Hmac), None),
            (None, Some(MaskRule::Hmac)),
            (fixed(), fixed()),
            (None, Some(MaskRule::Null)),
        ] {
            let error = check(child.clone(), parent.clone()).unwrap_err();
            let hint = error.hint().map(|h| h.text).unwrap_or_default();
            assert!(
                error.to_string().contains("public.items.a is")
                    && hint.contains("mask both columns with `hmac`"),
                "{child:?} {parent:?}: {error} / {hint}"
            );
        }
    }

    #[test]
    fn pruned_rows_add_up_per_key() {
        let mut pruned = Vec::new();
        add_pruned(&mut pruned, &key(&["a"], false), 3);
        add_pruned(&mut pruned, &key(&["a"], false), 2);
        assert_eq!(
            pruned,
            [Pruned {
                table: "public.items".into(),
                foreign_key: "items_fk".into(),
                rows: 5
            }]
        );
    }
}
