//! Children are restricted: a copied table with no filter of its own whose FK points at a copied
//! table that is filtered gets only the rows whose parent row comes too (or whose key is null),
//! transitively (an item of an order of a filtered user). Expressed as one condition on the
//! stage's SELECT, so the stage is only read; cycles stop the recursion (the final FK check
//! and the parents that follow keep the result whole).

use super::graph::Reached;
use super::integrity::ForeignKey;
use super::plan::QualifiedName;
use crate::db::quote_ident;

/// The condition selecting `table`'s rows, or `None` for all of them. `own_filter` gives a
/// table's own `--where` (None when it has none, or when a limit makes it inexpressible).
pub fn selection(
    table: &QualifiedName,
    keys: &[ForeignKey],
    copied: &[QualifiedName],
    own_filter: &dyn Fn(&QualifiedName) -> Option<String>,
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
    table: &QualifiedName,
    reference: &str,
    keys: &[ForeignKey],
    copied: &[QualifiedName],
    own_filter: &dyn Fn(&QualifiedName) -> Option<String>,
    path: &mut Vec<QualifiedName>,
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
        let matches = key.matches(&alias, reference);
        // A declared key binds only the rows its condition selects; the condition stands at the
        // child's level, where its unqualified columns are the child's.
        let unbound = key
            .condition
            .as_ref()
            .map(|c| format!("({c}) IS NOT TRUE OR "))
            .unwrap_or_default();
        conditions.push(format!(
            "({unbound}{} OR EXISTS (SELECT 1 FROM {} {alias} WHERE {matches} AND ({parent})))",
            nulls.join(" OR "),
            key.parent.quoted(),
        ));
    }
    (!conditions.is_empty()).then(|| conditions.join(" AND "))
}

/// The condition choosing the rows of a table reached by `--with-children`: rows that reference
/// a chosen row of the level above through any of its FKs (a null key references nothing).
/// `start_filter` gives a start table's condition (None: all its rows).
pub fn children_selection(
    table: &QualifiedName,
    reached: &[Reached],
    start_filter: &dyn Fn(&QualifiedName) -> Option<String>,
) -> String {
    descent(table, &table.quoted(), reached, start_filter, 0)
}

fn descent(
    table: &QualifiedName,
    reference: &str,
    reached: &[Reached],
    start_filter: &dyn Fn(&QualifiedName) -> Option<String>,
    depth: usize,
) -> String {
    let Some(entry) = reached.iter().find(|r| &r.table == table) else {
        return start_filter(table).unwrap_or_else(|| "true".to_string());
    };
    let alias = format!("d{depth}");
    let ways: Vec<String> = entry
        .via
        .iter()
        .map(|key| {
            let parent = descent(&key.parent, &alias, reached, start_filter, depth + 1);
            let bound = key
                .condition
                .as_ref()
                .map(|c| format!("({c}) AND "))
                .unwrap_or_default();
            format!(
                "({bound}EXISTS (SELECT 1 FROM {} {alias} WHERE {} AND ({parent})))",
                key.parent.quoted(),
                key.matches(&alias, reference)
            )
        })
        .collect();
    ways.join(" OR ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// graph.rs's test key, with the child column named (`manager_id`, not `users_id`).
    fn fk(child: &str, column: &str, parent: &str) -> ForeignKey {
        ForeignKey {
            name: format!("{child}_fk"),
            child_columns: vec![column.into()],
            ..crate::copy::graph::tests::fk("", child, parent, true)
        }
    }

    #[test]
    fn a_child_of_a_filtered_parent_keeps_only_rows_whose_parent_comes() {
        let keys = [
            fk("items", "order_id", "orders"),
            fk("orders", "user_id", "users"),
            fk("users", "manager_id", "users"),
        ];
        let copied: Vec<QualifiedName> = ["users", "orders", "items"]
            .iter()
            .map(|t| QualifiedName::parse(t))
            .collect();
        let filter = |t: &QualifiedName| (t.name == "users").then(|| "id < 10".to_string());
        assert_eq!(
            selection(&copied[0], &keys, &copied, &filter),
            None,
            "the self-reference stops"
        );
        assert_eq!(
            selection(&copied[2], &keys, &copied, &filter).unwrap(),
            r#"("public"."items"."order_id" IS NULL OR EXISTS (SELECT 1 FROM "public"."orders" p0 WHERE p0."id" = "public"."items"."order_id" AND ((p0."user_id" IS NULL OR EXISTS (SELECT 1 FROM "public"."users" p1 WHERE p1."id" = p0."user_id" AND (id < 10))))))"#
        );
        let none = |_: &QualifiedName| None;
        assert_eq!(selection(&copied[2], &keys, &copied, &none), None);
    }

    #[test]
    fn children_hang_below_the_chosen_rows_through_any_of_their_keys() {
        let mut audit = fk("audit", "subject_id", "orders");
        audit.condition = Some("subject_type = 'order'".into());
        let reached = vec![
            Reached {
                table: QualifiedName::parse("orders"),
                via: vec![fk("orders", "user_id", "users")],
                depth: 1,
            },
            Reached {
                table: QualifiedName::parse("audit"),
                via: vec![audit, fk("audit", "actor_id", "users")],
                depth: 2,
            },
        ];
        let start = |t: &QualifiedName| (t.name == "users").then(|| "id < 10".to_string());
        assert_eq!(
            children_selection(&QualifiedName::parse("orders"), &reached, &start),
            r#"(EXISTS (SELECT 1 FROM "public"."users" d0 WHERE d0."id" = "public"."orders"."user_id" AND (id < 10)))"#
        );
        assert_eq!(
            children_selection(&QualifiedName::parse("audit"), &reached, &start),
            r#"((subject_type = 'order') AND EXISTS (SELECT 1 FROM "public"."orders" d0 WHERE d0."id" = "public"."audit"."subject_id" AND ((EXISTS (SELECT 1 FROM "public"."users" d1 WHERE d1."id" = d0."user_id" AND (id < 10)))))) OR (EXISTS (SELECT 1 FROM "public"."users" d0 WHERE d0."id" = "public"."audit"."actor_id" AND (id < 10)))"#
        );
    }
}
