//! The statements that undo an object of the source dump (`DROP ...`, `COMMENT ... IS NULL`,
//! `REVOKE` for a `GRANT`), and the in-place changes that are not about tables: an enum's added
//! values and a sequence's options.

use pg_query::protobuf::{
    AlterSeqStmt, AlterTableType, ConstrType, CreateEnumStmt, CreateSeqStmt, RangeVar,
};
use pg_query::{Node, NodeEnum};

use super::object::{deparse, Object};
use super::{function, quote, table, Kind};

fn relation(range: Option<&RangeVar>) -> String {
    match range {
        Some(r) if r.schemaname.is_empty() => quote(&r.relname),
        Some(r) => format!("{}.{}", quote(&r.schemaname), quote(&r.relname)),
        None => String::new(),
    }
}

fn names(parts: &[Node]) -> String {
    parts
        .iter()
        .filter_map(|n| match &n.node {
            Some(NodeEnum::String(s)) => Some(quote(&s.sval)),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The statement undoing `object`; None when there is none (an unknown statement).
pub fn statement(object: &Object) -> Result<Option<String>, String> {
    let text = match &object.node {
        NodeEnum::CreateSchemaStmt(s) => format!("DROP SCHEMA {}", quote(&s.schemaname)),
        NodeEnum::CreateExtensionStmt(s) => format!("DROP EXTENSION {}", quote(&s.extname)),
        NodeEnum::CreateEnumStmt(s) => format!("DROP TYPE {}", names(&s.type_name)),
        NodeEnum::CreateRangeStmt(s) => format!("DROP TYPE {}", names(&s.type_name)),
        NodeEnum::CompositeTypeStmt(s) => format!("DROP TYPE {}", relation(s.typevar.as_ref())),
        NodeEnum::CreateDomainStmt(s) => format!("DROP DOMAIN {}", names(&s.domainname)),
        NodeEnum::CreateSeqStmt(s) => format!("DROP SEQUENCE {}", relation(s.sequence.as_ref())),
        NodeEnum::AlterSeqStmt(s) => {
            format!(
                "ALTER SEQUENCE {} OWNED BY NONE",
                relation(s.sequence.as_ref())
            )
        }
        NodeEnum::CreateStmt(s) => format!("DROP TABLE {}", relation(s.relation.as_ref())),
        NodeEnum::CreateFunctionStmt(s) => function::drop_statement(s),
        NodeEnum::ViewStmt(s) => format!("DROP VIEW {}", relation(s.view.as_ref())),
        NodeEnum::CreateTableAsStmt(s) => format!(
            "DROP MATERIALIZED VIEW {}",
            relation(s.into.as_ref().and_then(|i| i.rel.as_ref()))
        ),
        NodeEnum::IndexStmt(s) => {
            let schema = s
                .relation
                .as_ref()
                .map(|r| r.schemaname.as_str())
                .unwrap_or("");
            match schema.is_empty() {
                true => format!("DROP INDEX {}", quote(&s.idxname)),
                false => format!("DROP INDEX {}.{}", quote(schema), quote(&s.idxname)),
            }
        }
        NodeEnum::CreateTrigStmt(s) => format!(
            "DROP TRIGGER {} ON {}",
            quote(&s.trigname),
            relation(s.relation.as_ref())
        ),
        NodeEnum::CreatePolicyStmt(s) => format!(
            "DROP POLICY {} ON {}",
            quote(&s.policy_name),
            relation(s.table.as_ref())
        ),
        NodeEnum::RuleStmt(s) => format!(
            "DROP RULE {} ON {}",
            quote(&s.rulename),
            relation(s.relation.as_ref())
        ),
        NodeEnum::CommentStmt(s) => {
            let mut cleared = s.clone();
            cleared.comment = String::new();
            deparse(&NodeEnum::CommentStmt(cleared))?
        }
        NodeEnum::GrantStmt(s) => {
            let mut undone = s.clone();
            undone.is_grant = !s.is_grant;
            deparse(&NodeEnum::GrantStmt(undone))?
        }
        NodeEnum::AlterTableStmt(s) => return alter_table(object.key.kind, s),
        _ => return Ok(None),
    };
    Ok(Some(text))
}

fn alter_table(
    kind: Kind,
    alter: &pg_query::protobuf::AlterTableStmt,
) -> Result<Option<String>, String> {
    let Some(NodeEnum::AlterTableCmd(cmd)) = alter.cmds.first().and_then(|c| c.node.as_ref())
    else {
        return Ok(None);
    };
    let table = alter.relation.clone().unwrap_or_default();
    let (subtype, name) = match (kind, cmd.def.as_ref().and_then(|d| d.node.as_ref())) {
        (Kind::Constraint, Some(NodeEnum::Constraint(c))) => {
            (AlterTableType::AtDropConstraint, c.conname.clone())
        }
        (Kind::Default, _) => (AlterTableType::AtColumnDefault, cmd.name.clone()),
        (Kind::Identity, _) => (AlterTableType::AtDropIdentity, cmd.name.clone()),
        (Kind::Other, _) => match opposite(cmd.subtype) {
            Some(subtype) => (subtype, cmd.name.clone()),
            None => return Ok(None),
        },
        _ => return Ok(None),
    };
    table::command(&table, subtype, &name, None).map(Some)
}

/// The command undoing a table setting pg_dump writes apart (row security).
fn opposite(subtype: i32) -> Option<AlterTableType> {
    [
        (
            AlterTableType::AtEnableRowSecurity,
            AlterTableType::AtDisableRowSecurity,
        ),
        (
            AlterTableType::AtForceRowSecurity,
            AlterTableType::AtNoForceRowSecurity,
        ),
    ]
    .into_iter()
    .find_map(|(done, undo)| (done as i32 == subtype).then_some(undo))
}

/// The table a foreign key statement (`ALTER TABLE ... ADD CONSTRAINT ... REFERENCES t`) points to.
pub fn references_table(object: &Object) -> Option<String> {
    let NodeEnum::AlterTableStmt(alter) = &object.node else {
        return None;
    };
    alter.cmds.iter().find_map(|c| match &c.node {
        Some(NodeEnum::AlterTableCmd(cmd)) => match cmd.def.as_ref()?.node.as_ref()? {
            NodeEnum::Constraint(c) if c.contype == ConstrType::ConstrForeign as i32 => {
                Some(super::object::range_name(c.pktable.as_ref()))
            }
            _ => None,
        },
        _ => None,
    })
}

fn values(enumeration: &CreateEnumStmt) -> Vec<String> {
    enumeration
        .vals
        .iter()
        .filter_map(|n| match &n.node {
            Some(NodeEnum::String(s)) => Some(s.sval.clone()),
            _ => None,
        })
        .collect()
}

/// `ALTER TYPE ... ADD VALUE` for each value `to` has and `from` lacks, when `from`'s values
/// keep their order inside `to`'s; None otherwise (a value removed, renamed or moved).
pub fn added_values(from: &CreateEnumStmt, to: &CreateEnumStmt) -> Option<Vec<String>> {
    let (old, new) = (values(from), values(to));
    let mut kept = new.iter().filter(|v| old.contains(v));
    if old.iter().any(|v| kept.next() != Some(v)) || kept.next().is_some() {
        return None;
    }
    let name = names(&to.type_name);
    let literal = |v: &str| postgres_protocol::escape::escape_literal(v);
    let first_kept = new.iter().position(|v| old.contains(v))?;
    let mut out = Vec::new();
    for k in (0..first_kept).rev() {
        out.push(format!(
            "ALTER TYPE {name} ADD VALUE {} BEFORE {}",
            literal(&new[k]),
            literal(&new[k + 1])
        ));
    }
    for k in first_kept + 1..new.len() {
        if !old.contains(&new[k]) {
            out.push(format!(
                "ALTER TYPE {name} ADD VALUE {} AFTER {}",
                literal(&new[k]),
                literal(&new[k - 1])
            ));
        }
    }
    Some(out)
}

/// `ALTER SEQUENCE` with every option the target dump gives it.
pub fn alter_sequence(to: &CreateSeqStmt) -> Result<String, String> {
    let alter = AlterSeqStmt {
        sequence: to.sequence.clone(),
        options: to.options.clone(),
        for_identity: false,
        missing_ok: false,
    };
    deparse(&NodeEnum::AlterSeqStmt(alter))
}
