//! Children are restricted: a copied table with no filter of its own whose FK points at a copied
//! table that is filtered gets only the rows whose parent row comes too (or whose key is null),
//! transitively (an item of an order of a filtered user). Expressed as one condition on the
//! stage's SELECT, so the stage is only read; cycles stop the recursion (the final FK check
//! and the parents that follow keep the result whole).
//!
//! When the parents load first, the condition is written instead from the keys of the parent
//! rows already loaded locally (a [`Narrowing`]): the stage then looks up the children by
//! those keys, instead of recomputing every parent's condition level by level.

use super::graph::Reached;
use super::integrity::ForeignKey;
use super::plan::QualifiedName;
use crate::db::{quote_ident, quote_literal};

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

/// An FK tying a table's rows to a parent that loads before it, with the stage's type of each
/// parent column (the loaded keys are cast to them).
#[derive(Debug, Clone)]
pub struct Tie {
    pub key: ForeignKey,
    pub types: Vec<String>,
}

/// How a table's rows hang on the rows of copied parents, so its condition can be written from
/// the parents' keys once they are loaded locally.
#[derive(Debug, Clone)]
pub struct Narrowing {
    pub ties: Vec<Tie>,
    /// A row comes through any tie (children below the chosen rows, `--with-children`) instead
    /// of needing every one (children restricted to the parents that come).
    pub any: bool,
    /// The table's own condition, which holds as well.
    pub own: Option<String>,
}

/// The keys of one tie's parent rows: one Postgres array literal (`{1,2,3}`) per column,
/// element by element the columns of one key.
pub type LoadedKeys = Vec<String>;

impl Narrowing {
    /// The condition on the stage's rows of the table, given each tie's loaded keys (in the
    /// order of `ties`); the same rows [`selection`] and [`children_selection`] choose, as
    /// the loaded parents are the rows those conditions chose.
    pub fn condition(&self, loaded: &[LoadedKeys]) -> String {
        let parts: Vec<String> = self
            .ties
            .iter()
            .zip(loaded)
            .map(|(tie, arrays)| {
                let among = among(tie, arrays);
                let key = &tie.key;
                if self.any {
                    let bound = key
                        .condition
                        .as_ref()
                        .map(|c| format!("({c}) AND "))
                        .unwrap_or_default();
                    return format!("({bound}{among})");
                }
                let unbound = key
                    .condition
                    .as_ref()
                    .map(|c| format!("({c}) IS NOT TRUE OR "))
                    .unwrap_or_default();
                let nulls: Vec<String> = key
                    .child_columns
                    .iter()
                    .map(|c| format!("{} IS NULL", quote_ident(c)))
                    .collect();
                format!("({unbound}{} OR {among})", nulls.join(" OR "))
            })
            .collect();
        let ties = parts.join(if self.any { " OR " } else { " AND " });
        match &self.own {
            Some(own) => format!("({ties}) AND ({own})"),
            None => ties,
        }
    }
}

/// `child columns are among the loaded keys`, typed as the stage's parent columns. As a join
/// with `unnest`, not `= ANY(array)`: Postgres plans the join as one index lookup per key,
/// while a long ANY list tips it into scanning the whole table (2.1 s against 0.3 s for
/// 13,000 keys into 3.5M rows in benches/subset).
fn among(tie: &Tie, arrays: &[String]) -> String {
    let typed: Vec<String> = arrays
        .iter()
        .zip(&tie.types)
        .map(|(array, type_name)| format!("{}::{type_name}[]", quote_literal(array)))
        .collect();
    let columns: Vec<String> = tie
        .key
        .child_columns
        .iter()
        .map(|c| quote_ident(c))
        .collect();
    format!(
        "({}) IN (SELECT * FROM unnest({}))",
        columns.join(", "),
        typed.join(", ")
    )
}

/// The FKs by which [`selection`] restricts `table`: those to a copied parent (not itself)
/// whose rows are narrowed (`narrowed`: a condition, a limit, or restricted in turn).
pub fn restricting_keys(
    table: &QualifiedName,
    keys: &[ForeignKey],
    copied: &[QualifiedName],
    narrowed: &dyn Fn(&QualifiedName) -> bool,
) -> Vec<ForeignKey> {
    keys.iter()
        .filter(|k| &k.child == table && &k.parent != table && copied.contains(&k.parent))
        .filter(|k| narrowed(&k.parent))
        .cloned()
        .collect()
}

/// The order to load `tables` in: each after the parents its narrowing ties it to (`ties`),
/// where they do not form a cycle; otherwise as given (a table whose parents do not load first
/// is read with its condition on the stage instead).
pub fn load_order(
    tables: &[QualifiedName],
    ties: &dyn Fn(&QualifiedName) -> Vec<QualifiedName>,
) -> Vec<QualifiedName> {
    let mut left: Vec<QualifiedName> = tables.to_vec();
    let mut order: Vec<QualifiedName> = Vec::new();
    while !left.is_empty() {
        let ready = left.iter().position(|t| {
            ties(t)
                .iter()
                .all(|p| p == t || order.contains(p) || !left.contains(p))
        });
        order.push(left.remove(ready.unwrap_or(0)));
    }
    order
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

    #[test]
    fn loaded_parent_keys_choose_the_same_rows_as_the_parents_conditions() {
        let tie = |key: ForeignKey, types: &[&str]| Tie {
            key,
            types: types.iter().map(|t| t.to_string()).collect(),
        };
        let mut audit = fk("audit", "subject_id", "orders");
        audit.condition = Some("subject_type = 'order'".into());
        let composite = ForeignKey {
            child_columns: vec!["order_id".into(), "region".into()],
            parent_columns: vec!["id".into(), "region".into()],
            ..fk("items", "order_id", "orders")
        };
        let below = Narrowing {
            ties: vec![
                tie(audit.clone(), &["bigint"]),
                tie(fk("audit", "actor_id", "users"), &["integer"]),
            ],
            any: true,
            own: Some("id > 3".into()),
        };
        let keys = |arrays: &[&str]| arrays.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        assert_eq!(
            below.condition(&[keys(&["{1,2}"]), keys(&["{}"])]),
            r#"(((subject_type = 'order') AND ("subject_id") IN (SELECT * FROM unnest('{1,2}'::bigint[]))) OR (("actor_id") IN (SELECT * FROM unnest('{}'::integer[])))) AND (id > 3)"#
        );
        let restricted = Narrowing {
            ties: vec![tie(composite, &["bigint", "text"]), tie(audit, &["bigint"])],
            any: false,
            own: None,
        };
        assert_eq!(
            restricted.condition(&[keys(&["{1,2}", r#"{eu,"it's"}"#]), keys(&["{7}"])]),
            r#"("order_id" IS NULL OR "region" IS NULL OR ("order_id", "region") IN (SELECT * FROM unnest('{1,2}'::bigint[], '{eu,"it''s"}'::text[]))) AND ((subject_type = 'order') IS NOT TRUE OR "subject_id" IS NULL OR ("subject_id") IN (SELECT * FROM unnest('{7}'::bigint[])))"#
        );
    }

    #[test]
    fn parents_load_before_the_children_they_narrow_unless_in_a_cycle() {
        let names = |tables: &[&str]| -> Vec<QualifiedName> {
            tables.iter().map(|t| QualifiedName::parse(t)).collect()
        };
        let ties = |t: &QualifiedName| -> Vec<QualifiedName> {
            match t.name.as_str() {
                "items" => names(&["orders", "products"]),
                "orders" => names(&["users"]),
                "a" => names(&["b"]),
                "b" => names(&["a"]),
                _ => Vec::new(),
            }
        };
        let order = |tables: &[&str]| -> Vec<String> {
            load_order(&names(tables), &ties)
                .into_iter()
                .map(|t| t.name)
                .collect()
        };
        assert_eq!(
            order(&["items", "orders", "users", "products"]),
            ["users", "orders", "products", "items"]
        );
        assert_eq!(order(&["b", "a", "users"]), ["users", "b", "a"]);
        assert_eq!(
            order(&["items"]),
            ["items"],
            "parents not copied do not wait"
        );
    }
}
