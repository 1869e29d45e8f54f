//! The SQL taking one schema to another, computed from two `pg_dump --schema-only` texts (the
//! migration history's database, the drifted local one). Each dump is read as the objects it
//! creates (`object`); an object only the target has is created as dumped, one only the source
//! has is dropped, and one both have but differently is changed in place where Postgres can
//! (tables column by column, enums by added values, functions by `CREATE OR REPLACE`, sequences
//! by `ALTER SEQUENCE`), else dropped and recreated with whatever depends on it. Drops run
//! first, in reverse dump order; creations follow in the target dump's order, which pg_dump
//! already sorts by dependency. What cannot be expressed is listed, never silently left out.
//! Pure logic: the caller dumps, applies and checks the result against Postgres.

mod drop;
mod function;
mod object;
mod table;

use std::collections::{BTreeSet, HashMap};

use pg_query::NodeEnum;

pub use object::{read_dump, Kind, Object};

/// The migration from one dump to another.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Statements in order, each without its `;`.
    pub statements: Vec<String>,
    /// What differs and no statement here changes (e.g. a column's storage, an enum whose
    /// values were removed or reordered).
    pub not_expressed: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    /// The statements as a script, one per line group, each ending in `;`.
    pub fn script(&self) -> String {
        self.statements
            .iter()
            .map(|s| format!("{s};\n"))
            .collect::<Vec<_>>()
            .join("")
    }
}

/// How an object both dumps have, but differently, is brought to the target.
enum Change {
    /// Statements run where the target object sits in the target dump's order.
    InPlace(Vec<String>),
    /// Dropped (with its dependents) and created again as the target dumps it.
    Recreate,
    /// Cannot be expressed: the reason.
    Missing(String),
}

/// The SQL taking the schema `from` dumps to the one `to` dumps.
pub fn diff(from: &str, to: &str) -> Result<Plan, String> {
    let old = read_dump(from)?;
    let new = read_dump(to)?;
    let old_by_key: HashMap<&object::Key, &Object> = old.iter().map(|o| (&o.key, o)).collect();
    let new_by_key: HashMap<&object::Key, &Object> = new.iter().map(|o| (&o.key, o)).collect();
    let mut plan = Plan::default();
    let mut changes: HashMap<&object::Key, Change> = HashMap::new();
    let mut recreate: BTreeSet<&object::Key> = BTreeSet::new();
    // A partition's columns follow its parent's: an ALTER of the parent changes them too.
    let partitions: BTreeSet<String> = old
        .iter()
        .chain(&new)
        .filter_map(|o| object::attached_partition(&o.node))
        .collect();
    for o in &old {
        let Some(n) = new_by_key.get(&o.key) else {
            continue;
        };
        if n.text == o.text {
            continue;
        }
        let change = change_of(o, n, partitions.contains(&o.key.name))?;
        if let Change::Missing(reason) = &change {
            plan.not_expressed.push(reason.clone());
        }
        if matches!(change, Change::Recreate) {
            recreate.insert(&o.key);
        }
        if reshaped_table(o, n) {
            recreate.extend(views_over(&old, &o.key.name));
        }
        changes.insert(&o.key, change);
    }
    add_dependents(&old, &new_by_key, &mut recreate);
    for o in old.iter().rev() {
        let gone = !new_by_key.contains_key(&o.key);
        let rebuilt =
            recreate.contains(&o.key) && !matches!(o.key.kind, Kind::Comment | Kind::Grant);
        if gone || rebuilt {
            match drop::statement(o)? {
                Some(statement) => plan.statements.push(statement),
                None => plan.not_expressed.push(format!("cannot undo: {}", o.text)),
            }
        }
    }
    for n in &new {
        match (old_by_key.contains_key(&n.key), changes.get(&n.key)) {
            _ if recreate.contains(&n.key) => plan.statements.push(n.source.clone()),
            (false, _) => plan.statements.push(n.source.clone()),
            (true, Some(Change::InPlace(statements))) => {
                plan.statements.extend(statements.iter().cloned())
            }
            _ => {}
        }
    }
    Ok(plan)
}

fn change_of(o: &Object, n: &Object, partition: bool) -> Result<Change, String> {
    Ok(match (&o.node, &n.node) {
        (NodeEnum::CreateStmt(a), NodeEnum::CreateStmt(b)) => {
            let (statements, missing) = table::alter(a, b, partition)?;
            match missing.is_empty() {
                true => Change::InPlace(statements),
                false => Change::Missing(missing.join("; ")),
            }
        }
        (NodeEnum::CreateEnumStmt(a), NodeEnum::CreateEnumStmt(b)) => match drop::added_values(a, b)
        {
            Some(statements) => Change::InPlace(statements),
            None => Change::Missing(format!(
                "type {}: values were removed, renamed or reordered (only added values are expressed)",
                o.key.name
            )),
        },
        (NodeEnum::CreateFunctionStmt(a), NodeEnum::CreateFunctionStmt(b)) => {
            match function::replaceable(a, b) {
                true => Change::InPlace(vec![function::replace_statement(b)?]),
                false => Change::Recreate,
            }
        }
        (NodeEnum::CreateSeqStmt(_), NodeEnum::CreateSeqStmt(b)) => {
            Change::InPlace(vec![drop::alter_sequence(b)?])
        }
        _ => match o.key.kind {
            Kind::SequenceOwner | Kind::Default | Kind::Comment => {
                Change::InPlace(vec![n.source.clone()])
            }
            Kind::View
            | Kind::MatView
            | Kind::Index
            | Kind::Constraint
            | Kind::Trigger
            | Kind::Policy
            | Kind::Rule
            | Kind::Identity => Change::Recreate,
            _ => Change::Missing(format!(
                "{:?} {} changed: `{}` (now `{}`)",
                o.key.kind, o.key.name, o.text, n.text
            )),
        },
    })
}

fn reshaped_table(o: &Object, n: &Object) -> bool {
    match (&o.node, &n.node) {
        (NodeEnum::CreateStmt(a), NodeEnum::CreateStmt(b)) => table::reshapes(a, b),
        _ => false,
    }
}

/// Views, materialized views and rules that read `table`.
fn views_over<'a>(old: &'a [Object], table: &str) -> Vec<&'a object::Key> {
    old.iter()
        .filter(|o| matches!(o.key.kind, Kind::View | Kind::MatView | Kind::Rule))
        .filter(|o| o.refs.contains(table))
        .map(|o| &o.key)
        .collect()
}

/// Grows `recreate` by what depends on its members (a view over a recreated view, the comments,
/// grants, indexes and triggers of a recreated relation, a foreign key to a table whose key is
/// recreated), until nothing more joins.
fn add_dependents<'a>(
    old: &'a [Object],
    new_by_key: &HashMap<&object::Key, &Object>,
    recreate: &mut BTreeSet<&'a object::Key>,
) {
    loop {
        let names: BTreeSet<String> = recreate.iter().filter_map(|k| dependency_name(k)).collect();
        let tables_keyed: BTreeSet<String> = recreate
            .iter()
            .filter(|k| matches!(k.kind, Kind::Constraint | Kind::Index))
            .filter_map(|k| k.name.rsplit_once('.').map(|(t, _)| t.to_string()))
            .collect();
        let before = recreate.len();
        for o in old {
            if recreate.contains(&o.key) || !new_by_key.contains_key(&o.key) {
                continue;
            }
            let over_recreated =
                dependent_kind(o.key.kind) && o.refs.iter().any(|r| names.contains(r));
            let foreign_key = drop::references_table(o).is_some_and(|t| tables_keyed.contains(&t));
            if over_recreated || foreign_key {
                recreate.insert(&o.key);
            }
        }
        if recreate.len() == before {
            return;
        }
    }
}

/// The name other statements use for a recreated object, when dropping it takes them along.
fn dependency_name(key: &object::Key) -> Option<String> {
    match key.kind {
        Kind::View | Kind::MatView => Some(key.name.clone()),
        Kind::Function | Kind::Procedure => key.name.split('(').next().map(str::to_string),
        _ => None,
    }
}

fn dependent_kind(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::View
            | Kind::MatView
            | Kind::Index
            | Kind::Trigger
            | Kind::Rule
            | Kind::Policy
            | Kind::Comment
            | Kind::Grant
            | Kind::Default
            | Kind::Constraint
    )
}

/// An identifier as SQL writes it, always quoted (a keyword or a capital is then safe).
pub fn quote(name: &str) -> String {
    postgres_protocol::escape::escape_identifier(name)
}

#[cfg(test)]
mod tests;
