//! The foreign-key graph as pure data, tested without a database: which tables hang below the
//! chosen ones (`--with-children`, level by level), and which cycle an FK closes (a `set-null`
//! rule must cut a key that can be null; a NOT NULL cycle has no such edge).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::integrity::ForeignKey;
use super::CopyError;
use crate::config::FollowRule;
use crate::pg::QualifiedName;

/// A table the copy takes because its rows reference chosen rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reached {
    pub table: QualifiedName,
    /// The FKs by which its rows hang below the level above (a row comes through any of them).
    pub via: Vec<ForeignKey>,
    /// 1 for children of the start tables, 2 for grandchildren, ...
    pub depth: usize,
}

/// The tables below `start`, at most `depth` FK levels down, breadth first: a table is reached
/// once, at its nearest level (so self-references and cycles stop by themselves). Only tables
/// in `available` (the stage has them) are taken.
pub fn children(
    start: &[QualifiedName],
    keys: &[ForeignKey],
    depth: usize,
    available: &[QualifiedName],
) -> Vec<Reached> {
    let mut chosen: BTreeSet<&QualifiedName> = start.iter().collect();
    let mut frontier: Vec<&QualifiedName> = start.iter().collect();
    let mut reached: Vec<Reached> = Vec::new();
    let mut level = 1;
    while level <= depth && !frontier.is_empty() {
        let mut this_level: BTreeMap<&QualifiedName, Vec<ForeignKey>> = BTreeMap::new();
        for key in keys {
            if frontier.contains(&&key.parent)
                && !chosen.contains(&key.child)
                && available.contains(&key.child)
            {
                this_level.entry(&key.child).or_default().push(key.clone());
            }
        }
        frontier = this_level.keys().copied().collect();
        for (table, via) in this_level {
            chosen.insert(table);
            reached.push(Reached {
                table: table.clone(),
                via,
                depth: level,
            });
        }
        level += 1;
    }
    reached
}

/// The FKs of a cycle `key` closes (from its parent back to its child), shortest first, or
/// None when it is in no cycle.
pub fn cycle_through<'a>(
    key: &'a ForeignKey,
    keys: &'a [ForeignKey],
) -> Option<Vec<&'a ForeignKey>> {
    if key.child == key.parent {
        return Some(vec![key]);
    }
    // Breadth first from the parent, along child → parent edges, until the child is met.
    let mut came_by: BTreeMap<&QualifiedName, &ForeignKey> = BTreeMap::new();
    let mut queue = VecDeque::from([&key.parent]);
    while let Some(table) = queue.pop_front() {
        for next in keys
            .iter()
            .filter(|k| &k.child == table && k.child != k.parent)
        {
            if came_by.contains_key(&next.parent) || next.parent == key.parent {
                continue;
            }
            came_by.insert(&next.parent, next);
            if next.parent == key.child {
                let mut path = vec![key];
                let mut at = &key.child;
                let mut back = Vec::new();
                while let Some(edge) = came_by.get(at) {
                    back.push(*edge);
                    at = &edge.child;
                    if at == &key.parent {
                        break;
                    }
                }
                back.reverse();
                path.extend(back);
                return Some(path);
            }
            queue.push_back(&next.parent);
        }
    }
    None
}

/// Every `follow:` rule names a foreign key of the graph, and `set-null` only one whose key
/// columns can be null; the error for a NOT NULL key in a cycle names the cycle and its edges
/// that could be cut instead (or that there is none). `place` says where a rule was written
/// (`x-devdb.copy.follow`, `x-devdb.subsets.NAME.follow`).
pub fn check_rules(
    rules: &BTreeMap<String, FollowRule>,
    keys: &[ForeignKey],
    place: &dyn Fn(&str) -> String,
) -> Result<(), CopyError> {
    for (name, rule) in rules {
        let place = place(name);
        let Some(key) = keys.iter().find(|k| &k.name == name) else {
            let mut known: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
            known.sort();
            known.dedup();
            return Err(CopyError::Refused {
                message: format!(
                    "{place} names `{name}`, which is no foreign key of the copied tables; \
                     nothing was copied"
                ),
                hint: format!("use one of: {}", known.join(", ")),
            });
        };
        if *rule == FollowRule::SetNull && !key.nullable {
            return Err(set_null_refused(&place, name, key, keys));
        }
    }
    Ok(())
}

/// `name: set-null` on a NOT NULL key: the message names the cycle it closes (if any), the
/// hint the edge of that cycle that could be cut instead, or what to change.
fn set_null_refused(place: &str, name: &str, key: &ForeignKey, keys: &[ForeignKey]) -> CopyError {
    let mut message = format!(
        "{place}: `{name}: set-null` cannot cut {}: its columns are NOT NULL; nothing was copied",
        key.describe()
    );
    let Some(cycle) = cycle_through(key, keys) else {
        return CopyError::Refused {
            message,
            hint: "drop the rule (the parent rows then follow), or make the key nullable in a migration"
                .into(),
        };
    };
    let tables: Vec<String> = cycle.iter().map(|k| k.child.to_string()).collect();
    let named = |keep: fn(&ForeignKey) -> bool| -> Vec<String> {
        cycle
            .iter()
            .filter(|k| keep(k))
            .map(|k| k.name.clone())
            .collect()
    };
    let (nullable, deferrable) = (named(|k| k.nullable), named(|k| k.deferrable));
    message.push_str(&format!(
        "\n  it closes the cycle {} → {}",
        tables.join(" → "),
        key.child
    ));
    let hint = if !nullable.is_empty() {
        format!(
            "set-null a nullable key of the cycle instead: {}",
            nullable.join(", ")
        )
    } else if !deferrable.is_empty() {
        format!(
            "its deferrable key {} lets the cycle load whole: drop the rule",
            deferrable.join(", ")
        )
    } else {
        message.push_str(", which has no nullable or deferrable edge, so no key of it can be cut");
        "drop the rule (parents then follow around the cycle), or make one of its keys nullable in a migration".into()
    };
    CopyError::Refused { message, hint }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    pub fn fk(name: &str, child: &str, parent: &str, nullable: bool) -> ForeignKey {
        ForeignKey {
            name: name.into(),
            child: QualifiedName::parse(child),
            child_columns: vec![format!("{}_id", QualifiedName::parse(parent).name)],
            parent: QualifiedName::parse(parent),
            parent_columns: vec!["id".into()],
            match_full: false,
            child_only: true,
            parent_only: true,
            deferrable: false,
            nullable,
            condition: None,
            declared: false,
        }
    }

    fn names(tables: &[&str]) -> Vec<QualifiedName> {
        tables.iter().map(|t| QualifiedName::parse(t)).collect()
    }

    #[test]
    fn children_are_reached_level_by_level_once_each() {
        let keys = [
            fk("orders_user", "orders", "users", false),
            fk("items_order", "items", "orders", false),
            fk("shipments_item", "shipments", "items", false),
            fk("users_manager", "users", "users", true),
            fk("notes_user", "notes", "users", true),
            fk("notes_order", "notes", "orders", true),
            fk("audit_user", "audit", "users", true),
        ];
        let available = names(&["users", "orders", "items", "shipments", "notes"]);
        let reached = children(&names(&["users"]), &keys, 2, &available);
        let summary: Vec<(String, usize, Vec<String>)> = reached
            .iter()
            .map(|r| {
                (
                    r.table.name.clone(),
                    r.depth,
                    r.via.iter().map(|k| k.name.clone()).collect(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("notes".into(), 1, vec!["notes_user".into()]),
                ("orders".into(), 1, vec!["orders_user".into()]),
                ("items".into(), 2, vec!["items_order".into()]),
            ],
            "notes is reached once, at depth 1; audit is not on the stage; depth 2 stops before shipments"
        );
        assert_eq!(
            children(&names(&["users"]), &keys, usize::MAX, &available).len(),
            4
        );
        assert!(children(&names(&["shipments"]), &keys, 5, &available).is_empty());
    }

    #[test]
    fn a_cycle_is_found_from_either_edge() {
        let keys = [
            fk("users_team", "users", "teams", false),
            fk("teams_lead", "teams", "users", true),
            fk("users_manager", "users", "users", true),
            fk("orders_user", "orders", "users", false),
        ];
        let cycle: Vec<&str> = cycle_through(&keys[0], &keys)
            .unwrap()
            .iter()
            .map(|k| k.name.as_str())
            .collect();
        assert_eq!(cycle, ["users_team", "teams_lead"]);
        assert_eq!(cycle_through(&keys[2], &keys).unwrap().len(), 1);
        assert_eq!(cycle_through(&keys[3], &keys), None);
    }

    #[test]
    fn set_null_needs_a_nullable_key_and_a_cycle_without_one_is_named() {
        let mut keys = vec![
            fk("a_b", "a", "b", false),
            fk("b_a", "b", "a", false),
            fk("c_a", "c", "a", true),
        ];
        let rules = |name: &str| BTreeMap::from([(name.to_string(), FollowRule::SetNull)]);
        let place = |_: &str| "x-devdb.copy.follow".to_string();
        // The message and its hint, as the text output shows them.
        let check_rules = |rules: &BTreeMap<String, FollowRule>,
                           keys: &[ForeignKey],
                           place: &dyn Fn(&str) -> String| {
            super::check_rules(rules, keys, place)
                .map_err(|e| format!("{e}\n  hint: {}", e.hint().expect("a hint").text))
        };
        assert!(check_rules(&rules("c_a"), &keys, &place).is_ok());
        let error = check_rules(&rules("a_b"), &keys, &place).unwrap_err();
        assert!(
            error.starts_with("x-devdb.copy.follow: `a_b: set-null` cannot cut")
                && error.contains("closes the cycle public.a → public.b → public.a")
                && error.contains("no nullable or deferrable edge"),
            "{error}"
        );
        keys[1].deferrable = true;
        let error = check_rules(&rules("a_b"), &keys, &place).unwrap_err();
        assert!(
            error.contains("deferrable key b_a lets the cycle load whole"),
            "{error}"
        );
        keys[1].nullable = true;
        let error = check_rules(&rules("a_b"), &keys, &place).unwrap_err();
        assert!(
            error.contains("set-null a nullable key of the cycle instead: b_a"),
            "{error}"
        );
        let error = check_rules(&rules("nope"), &keys, &place).unwrap_err();
        assert!(error.contains("use one of: a_b, b_a, c_a"), "{error}");
        assert!(check_rules(
            &BTreeMap::from([("a_b".to_string(), FollowRule::Follow)]),
            &keys,
            &place
        )
        .is_ok());
    }
}
