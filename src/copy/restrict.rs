//! Children are restricted: a copied table with no filter of its own whose FK points at a copied
//! table that is filtered gets only the rows whose parent row comes too (or whose key is null),
//! transitively (an item of an order of a filtered user). Expressed as one condition on the
//! stage's SELECT, so the stage is only read; cycles stop the recursion (the final FK check
//! and the parents that follow keep the result whole).

use super::integrity::ForeignKey;
use super::plan::TableName;
use crate::db::quote_ident;

/// The condition selecting `table`'s rows, or `None` for all of them. `own_filter` gives a
/// table's own `--where` (None when it has none, or when a limit makes it inexpressible).
pub fn selection(
    table: &TableName,
    keys: &[ForeignKey],
    copied: &[TableName],
    own_filter: &dyn Fn(&TableName) -> Option<String>,
) -> Option<String> {
    restriction(
        table,
        &table.quoted(),
        keys,
        copied,
        own_filter,
        &mut vec![table.clone()],
        0,
    )
}

/// `reference`: how the condition names `table`'s row (the table, or an enclosing alias).
fn restriction(
    table: &TableName,
    reference: &str,
    keys: &[ForeignKey],
    copied: &[TableName],
    own_filter: &dyn Fn(&TableName) -> Option<String>,
    path: &mut Vec<TableName>,
    depth: usize,
) -> Option<String> {
    let mut conditions = Vec::new();
    for key in keys.iter().filter(|k| &k.child == table) {
        if !copied.contains(&key.parent) || path.contains(&key.parent) {
            continue;
        }
        let alias = format!("p{depth}");
        path.push(key.parent.clone());
        let parent = own_filter(&key.parent).or_else(|| {
            restriction(
                &key.parent,
                &alias,
                keys,
                copied,
                own_filter,
                path,
                depth + 1,
            )
        });
        path.pop();
        let Some(parent) = parent else { continue };
        let outer = |c: &String| format!("{reference}.{}", quote_ident(c));
        let nulls: Vec<String> = key
            .child_columns
            .iter()
            .map(|c| format!("{} IS NULL", outer(c)))
            .collect();
        let matches: Vec<String> = key
            .child_columns
            .iter()
            .zip(&key.parent_columns)
            .map(|(c, p)| format!("{alias}.{} = {}", quote_ident(p), outer(c)))
            .collect();
        conditions.push(format!(
            "({} OR EXISTS (SELECT 1 FROM {} {alias} WHERE {} AND ({parent})))",
            nulls.join(" OR "),
            key.parent.quoted(),
            matches.join(" AND ")
        ));
    }
    (!conditions.is_empty()).then(|| conditions.join(" AND "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fk(child: &str, column: &str, parent: &str) -> ForeignKey {
        ForeignKey {
            name: format!("{child}_fk"),
            child: TableName::parse(child),
            child_columns: vec![column.into()],
            parent: TableName::parse(parent),
            parent_columns: vec!["id".into()],
            match_full: false,
            child_only: true,
            parent_only: true,
        }
    }

    #[test]
    fn a_child_of_a_filtered_parent_keeps_only_rows_whose_parent_comes() {
        let keys = [
            fk("items", "order_id", "orders"),
            fk("orders", "user_id", "users"),
            fk("users", "manager_id", "users"),
        ];
        let copied: Vec<TableName> = ["users", "orders", "items"]
            .iter()
            .map(|t| TableName::parse(t))
            .collect();
        let filter = |t: &TableName| (t.name == "users").then(|| "id < 10".to_string());
        assert_eq!(
            selection(&copied[0], &keys, &copied, &filter),
            None,
            "the self-reference stops"
        );
        assert_eq!(
            selection(&copied[2], &keys, &copied, &filter).unwrap(),
            r#"("public"."items"."order_id" IS NULL OR EXISTS (SELECT 1 FROM "public"."orders" p0 WHERE p0."id" = "public"."items"."order_id" AND ((p0."user_id" IS NULL OR EXISTS (SELECT 1 FROM "public"."users" p1 WHERE p1."id" = p0."user_id" AND (id < 10))))))"#
        );
        let none = |_: &TableName| None;
        assert_eq!(selection(&copied[2], &keys, &copied, &none), None);
    }
}
