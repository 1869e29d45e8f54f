//! Children chosen by their parents' loaded keys: before a narrowed table is read (a child of
//! chosen rows, or restricted to the parents that come), the keys of the rows its parents
//! received in this copy are read from the local transaction, sorted and distinct, and the
//! table's stage SELECT is planned again with them. The stage then finds the children through
//! its index on the FK, instead of recomputing every parent's condition level by level. The
//! loaded parents are exactly the rows the parents' conditions chose in the same snapshot, so
//! the rows are the same; the keys are those of rows being copied (never the whole stage's).

use super::restrict::{LoadedKeys, Narrowing};
use super::transfer::LocalLoad;
use super::{plan, CopyError, CopyPlan, Planned};
use crate::db::quote_ident;

/// Parent keys one table's SELECT may carry; past this its condition stays on the stage (the
/// statement would grow past a few MB).
const MAX_KEYS: i64 = 200_000;

/// `table`'s plan with its condition written from the loaded parent keys, or None when its
/// plan's own condition is kept: no narrowing, a parent not loaded yet (a cycle), or too many
/// keys.
pub async fn plan(
    load: &LocalLoad<'_>,
    table: &Planned,
    copy: &CopyPlan,
) -> Result<Option<plan::TablePlan>, CopyError> {
    let Some(narrowing) = &table.narrowing else {
        return Ok(None);
    };
    let Some(keys) = loaded_keys(load, narrowing).await? else {
        return Ok(None);
    };
    let name = &table.plan.table;
    let settings = &copy.selection.copy;
    let condition = narrowing.condition(&keys);
    plan::plan_table(&plan::TableSpec {
        table: name,
        remote: &table.remote_columns,
        local: &table.local.columns,
        masks: &plan::masks_for(settings, name),
        filter: Some(&condition),
        limit: plan::lookup(&settings.limit, name).copied(),
        key: copy.mask_key.as_ref(),
    })
    .map(Some)
    .map_err(CopyError::from)
}

/// Every tie's parent keys as array literals, or None when a parent is not loaded in this copy
/// or the keys number more than [`MAX_KEYS`].
async fn loaded_keys(
    load: &LocalLoad<'_>,
    narrowing: &Narrowing,
) -> Result<Option<Vec<LoadedKeys>>, CopyError> {
    if narrowing
        .ties
        .iter()
        .any(|t| !load.loaded().contains(&t.key.parent))
    {
        return Ok(None);
    }
    let local = load.transaction();
    let fail = |action: String| move |error| CopyError::Database { action, error };
    let mut counted = 0;
    for tie in &narrowing.ties {
        let parent = &tie.key.parent;
        let sql = format!(
            "SELECT count(*) FROM (SELECT 1 FROM {}{} LIMIT {}) x",
            if tie.key.parent_only { "ONLY " } else { "" },
            parent.quoted(),
            MAX_KEYS + 1
        );
        let row = local
            .query_one(&sql, &[])
            .await
            .map_err(fail(format!("counting the loaded rows of {parent}")))?;
        counted += row.get::<_, i64>(0);
        if counted > MAX_KEYS {
            return Ok(None);
        }
    }
    let mut loaded = Vec::new();
    for tie in &narrowing.ties {
        let row = local
            .query_one(&keys_sql(&tie.key), &[])
            .await
            .map_err(fail(format!(
                "reading the loaded keys of {}",
                tie.key.parent
            )))?;
        loaded.push(
            (0..tie.key.parent_columns.len())
                .map(|i| row.get(i))
                .collect(),
        );
    }
    Ok(Some(loaded))
}

/// The distinct keys of the parent's local rows, one array literal per column, in key order.
fn keys_sql(key: &crate::pg::ForeignKey) -> String {
    let names: Vec<String> = (0..key.parent_columns.len())
        .map(|i| format!("k{i}"))
        .collect();
    let order = names.join(", ");
    let arrays: Vec<String> = names
        .iter()
        .map(|k| format!("coalesce(array_agg({k} ORDER BY {order})::text, '{{}}')"))
        .collect();
    let selected: Vec<String> = key
        .parent_columns
        .iter()
        .zip(&names)
        .map(|(c, k)| format!("p.{} AS {k}", quote_ident(c)))
        .collect();
    let set: Vec<String> = key
        .parent_columns
        .iter()
        .map(|c| format!("p.{} IS NOT NULL", quote_ident(c)))
        .collect();
    format!(
        "SELECT {} FROM (SELECT DISTINCT {} FROM {}{} p WHERE {}) x",
        arrays.join(", "),
        selected.join(", "),
        if key.parent_only { "ONLY " } else { "" },
        key.parent.quoted(),
        set.join(" AND ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loaded_keys_are_read_distinct_and_in_key_order_one_array_per_column() {
        let key = crate::pg::ForeignKey {
            child_columns: vec!["order_id".into(), "region".into()],
            parent_columns: vec!["id".into(), "region".into()],
            ..crate::copy::graph::tests::fk("items_fk", "items", "billing.orders", true)
        };
        assert_eq!(
            keys_sql(&key),
            r#"SELECT coalesce(array_agg(k0 ORDER BY k0, k1)::text, '{}'), coalesce(array_agg(k1 ORDER BY k0, k1)::text, '{}') FROM (SELECT DISTINCT p."id" AS k0, p."region" AS k1 FROM ONLY "billing"."orders" p WHERE p."id" IS NOT NULL AND p."region" IS NOT NULL) x"#
        );
    }
}
