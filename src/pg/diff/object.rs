//! One `pg_dump --schema-only` text as the objects it creates, each keyed by what it creates
//! (kind and qualified name), so two dumps can be compared object by object. Statements are read
//! with Postgres's own parser (pg_query); ownership and session settings carry no schema and
//! are left out.

use std::collections::BTreeSet;

use pg_query::protobuf::{AlterTableType, ObjectType, RangeVar};
use pg_query::{Node, NodeEnum};

/// What a statement creates; drop statements and in-place changes depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Schema,
    Extension,
    Enum,
    Type,
    Domain,
    Sequence,
    SequenceOwner,
    Table,
    Default,
    Identity,
    Function,
    Procedure,
    View,
    MatView,
    Index,
    Constraint,
    Trigger,
    Policy,
    Rule,
    Comment,
    Grant,
    /// Anything else: emitted when only the local database has it, else not expressed.
    Other,
}

/// The object's identity within a dump.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub kind: Kind,
    /// e.g. `public.users`, `public.users.users_pkey` (table, constraint), or for comments,
    /// grants and others the canonical statement without its variable part.
    pub name: String,
}

/// One top-level statement of a dump.
#[derive(Debug, Clone)]
pub struct Object {
    pub key: Key,
    pub node: NodeEnum,
    /// The canonical text (pg_query's deparse), compared between the dumps.
    pub text: String,
    /// The statement as pg_dump wrote it (without its `;`), emitted to create the object: a
    /// function's body or a comment stays byte for byte.
    pub source: String,
    /// Qualified names (`schema.name`) the statement refers to: relations, functions, and the
    /// target of a comment or grant.
    pub refs: BTreeSet<String>,
}

/// The objects of a dump, in the dump's (dependency) order.
pub fn read_dump(dump: &str) -> Result<Vec<Object>, String> {
    let clean: String = dump
        .lines()
        .filter(|line| !line.starts_with('\\'))
        .collect::<Vec<_>>()
        .join("\n");
    let statements =
        pg_query::split_with_parser(&clean).map_err(|e| format!("the dump does not parse: {e}"))?;
    let mut objects = Vec::new();
    for statement in statements {
        let parsed =
            pg_query::parse(statement, 0).map_err(|e| format!("`{}`: {e}", statement.trim()))?;
        let refs = references(&parsed);
        for raw in &parsed.protobuf.stmts {
            let Some(node) = raw.stmt.as_ref().and_then(|n| n.node.clone()) else {
                continue;
            };
            if let Some(object) = object_of(node, refs.clone(), statement.trim())? {
                objects.push(object);
            }
        }
    }
    Ok(objects)
}

fn references(parsed: &pg_query::ParseResult) -> BTreeSet<String> {
    parsed
        .tables()
        .into_iter()
        .chain(parsed.functions())
        .collect()
}

fn object_of(
    node: NodeEnum,
    mut refs: BTreeSet<String>,
    source: &str,
) -> Result<Option<Object>, String> {
    let Some((kind, name)) = key_of(&node) else {
        return Ok(None);
    };
    refs.extend(targets_of(&node));
    let text = deparse(&node)?;
    let name = match kind {
        Kind::Grant | Kind::Other => text.clone(),
        _ => name,
    };
    Ok(Some(Object {
        key: Key { kind, name },
        node,
        text,
        source: source.trim_end_matches(';').trim().to_string(),
        refs,
    }))
}

/// Postgres's canonical text of one statement.
pub fn deparse(node: &NodeEnum) -> Result<String, String> {
    node.deparse(Default::default())
        .map_err(|e| format!("cannot write a statement back as SQL: {e}"))
}

/// `schema.name` of a relation as a parse tree names it.
pub fn range_name(range: Option<&RangeVar>) -> String {
    match range {
        Some(r) if r.schemaname.is_empty() => r.relname.clone(),
        Some(r) => format!("{}.{}", r.schemaname, r.relname),
        None => String::new(),
    }
}

/// The parts of a name list (`[schema, name]`) joined with dots.
pub fn list_name(parts: &[Node]) -> String {
    parts
        .iter()
        .filter_map(|n| match &n.node {
            Some(NodeEnum::String(s)) => Some(s.sval.clone()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn key_of(node: &NodeEnum) -> Option<(Kind, String)> {
    Some(match node {
        NodeEnum::VariableSetStmt(_) | NodeEnum::SelectStmt(_) | NodeEnum::AlterOwnerStmt(_) => {
            return None
        }
        NodeEnum::CreateSchemaStmt(s) => (Kind::Schema, s.schemaname.clone()),
        NodeEnum::CreateExtensionStmt(s) => (Kind::Extension, s.extname.clone()),
        NodeEnum::CreateEnumStmt(s) => (Kind::Enum, list_name(&s.type_name)),
        NodeEnum::CompositeTypeStmt(s) => (Kind::Type, range_name(s.typevar.as_ref())),
        NodeEnum::CreateRangeStmt(s) => (Kind::Type, list_name(&s.type_name)),
        NodeEnum::CreateDomainStmt(s) => (Kind::Domain, list_name(&s.domainname)),
        NodeEnum::CreateSeqStmt(s) => (Kind::Sequence, range_name(s.sequence.as_ref())),
        NodeEnum::AlterSeqStmt(s) => (Kind::SequenceOwner, range_name(s.sequence.as_ref())),
        NodeEnum::CreateStmt(s) => (Kind::Table, range_name(s.relation.as_ref())),
        NodeEnum::CreateFunctionStmt(s) => (
            match s.is_procedure {
                true => Kind::Procedure,
                false => Kind::Function,
            },
            super::function::signature(s),
        ),
        NodeEnum::ViewStmt(s) => (Kind::View, range_name(s.view.as_ref())),
        NodeEnum::CreateTableAsStmt(s) if s.objtype == ObjectType::ObjectMatview as i32 => (
            Kind::MatView,
            range_name(s.into.as_ref().and_then(|i| i.rel.as_ref())),
        ),
        NodeEnum::IndexStmt(s) => (Kind::Index, index_name(s)),
        NodeEnum::CreateTrigStmt(s) => (
            Kind::Trigger,
            format!("{}.{}", range_name(s.relation.as_ref()), s.trigname),
        ),
        NodeEnum::CreatePolicyStmt(s) => (
            Kind::Policy,
            format!("{}.{}", range_name(s.table.as_ref()), s.policy_name),
        ),
        NodeEnum::RuleStmt(s) => (
            Kind::Rule,
            format!("{}.{}", range_name(s.relation.as_ref()), s.rulename),
        ),
        NodeEnum::CommentStmt(s) => {
            let mut target = s.clone();
            target.comment = String::new();
            (Kind::Comment, deparse(&NodeEnum::CommentStmt(target)).ok()?)
        }
        NodeEnum::GrantStmt(_) => (Kind::Grant, String::new()),
        NodeEnum::AlterTableStmt(s) => return alter_table_key(s),
        _ => (Kind::Other, String::new()),
    })
}

fn index_name(index: &pg_query::protobuf::IndexStmt) -> String {
    match index.relation.as_ref() {
        Some(r) if !r.schemaname.is_empty() => format!("{}.{}", r.schemaname, index.idxname),
        _ => index.idxname.clone(),
    }
}

/// The single command of `ALTER TABLE`s pg_dump writes: a constraint, a column default, an
/// identity; ownership is dropped.
fn alter_table_key(alter: &pg_query::protobuf::AlterTableStmt) -> Option<(Kind, String)> {
    let table = range_name(alter.relation.as_ref());
    let commands: Vec<&pg_query::protobuf::AlterTableCmd> = alter
        .cmds
        .iter()
        .filter_map(|n| match &n.node {
            Some(NodeEnum::AlterTableCmd(c)) => Some(c.as_ref()),
            _ => None,
        })
        .collect();
    if commands
        .iter()
        .all(|c| c.subtype == AlterTableType::AtChangeOwner as i32)
    {
        return None;
    }
    if commands.iter().all(|c| is_attribute_version(c)) {
        return None;
    }
    let [command] = commands.as_slice() else {
        return Some((Kind::Other, String::new()));
    };
    let subtype = command.subtype;
    let kind = if subtype == AlterTableType::AtAddConstraint as i32 {
        let name = match command.def.as_ref().and_then(|d| d.node.as_ref()) {
            Some(NodeEnum::Constraint(c)) => c.conname.clone(),
            _ => return Some((Kind::Other, String::new())),
        };
        return Some((Kind::Constraint, format!("{table}.{name}")));
    } else if subtype == AlterTableType::AtColumnDefault as i32 {
        Kind::Default
    } else if subtype == AlterTableType::AtAddIdentity as i32 {
        Kind::Identity
    } else {
        return Some((Kind::Other, String::new()));
    };
    Some((kind, format!("{table}.{}", command.name)))
}

/// Debian's PostgreSQL 15 records `pg_attver=` in column options, and pg_dump writes it as an
/// `ALTER COLUMN ... SET (pg_attver=...)` whose value varies: it is no schema.
pub fn is_attribute_version(command: &pg_query::protobuf::AlterTableCmd) -> bool {
    if command.subtype != AlterTableType::AtSetOptions as i32 {
        return false;
    }
    let Some(NodeEnum::List(options)) = command.def.as_ref().and_then(|d| d.node.as_ref()) else {
        return false;
    };
    options
        .items
        .iter()
        .all(|o| matches!(&o.node, Some(NodeEnum::DefElem(d)) if d.defname == "pg_attver"))
}

/// The objects a comment or grant is about, or a trigger runs, by qualified name.
fn targets_of(node: &NodeEnum) -> Vec<String> {
    match node {
        NodeEnum::CommentStmt(s) => comment_target(s).into_iter().collect(),
        NodeEnum::GrantStmt(s) => s
            .objects
            .iter()
            .filter_map(|o| named(o.node.as_ref()?))
            .collect(),
        // The function a trigger executes: recreating the function takes the trigger along.
        NodeEnum::CreateTrigStmt(s) => vec![list_name(&s.funcname)],
        _ => Vec::new(),
    }
}

fn comment_target(comment: &pg_query::protobuf::CommentStmt) -> Option<String> {
    let object = comment.object.as_ref()?.node.as_ref()?;
    match object {
        NodeEnum::List(list) if comment.objtype == ObjectType::ObjectColumn as i32 => {
            let parts = list_name(&list.items);
            parts.rsplit_once('.').map(|(table, _)| table.to_string())
        }
        other => named(other),
    }
}

fn named(node: &NodeEnum) -> Option<String> {
    match node {
        NodeEnum::List(list) => Some(list_name(&list.items)),
        NodeEnum::ObjectWithArgs(o) => Some(list_name(&o.objname)),
        NodeEnum::RangeVar(r) => Some(range_name(Some(r))),
        NodeEnum::String(s) => Some(s.sval.clone()),
        _ => None,
    }
}

/// The partition an `ALTER TABLE parent ATTACH PARTITION child` attaches (`schema.child`).
pub fn attached_partition(node: &NodeEnum) -> Option<String> {
    let NodeEnum::AlterTableStmt(alter) = node else {
        return None;
    };
    alter.cmds.iter().find_map(|c| match &c.node {
        Some(NodeEnum::AlterTableCmd(cmd))
            if cmd.subtype == AlterTableType::AtAttachPartition as i32 =>
        {
            match cmd.def.as_ref()?.node.as_ref()? {
                NodeEnum::PartitionCmd(p) => Some(range_name(p.name.as_ref())),
                _ => None,
            }
        }
        _ => None,
    })
}
