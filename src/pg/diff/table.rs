//! A table both dumps have, changed in place rather than dropped (its rows stay): columns added
//! or dropped, a column's type (`USING col::type`), default, NOT NULL and generation expression,
//! and the CHECK constraints pg_dump writes inside `CREATE TABLE`. What else differs (storage,
//! partitioning, inheritance, options) is reported as not expressed.

use pg_query::protobuf::{
    AlterTableCmd, AlterTableStmt, AlterTableType, ColumnDef, ColumnRef, ConstrType, Constraint,
    CreateStmt, DropBehavior, ObjectType, RangeVar, TypeCast,
};
use pg_query::{Node, NodeEnum};

use super::object::{deparse, range_name};

/// The statements taking `from` to `to`, and what they cannot express. A `partition`'s columns
/// are left to its parent's statements, which Postgres applies to every partition.
pub fn alter(
    from: &CreateStmt,
    to: &CreateStmt,
    partition: bool,
) -> Result<(Vec<String>, Vec<String>), String> {
    let table = to.relation.clone().unwrap_or_default();
    let name = range_name(Some(&table));
    let mut out = Vec::new();
    let mut missing = Vec::new();
    if shape(from)? != shape(to)? {
        missing.push(format!(
            "table {name}: options, partitioning, inheritance or persistence differ"
        ));
    }
    if !same_order(from, to) {
        missing.push(format!(
            "table {name}: its columns are in another order (a column dropped and added back \
             sits at the end; only recreating the table would move it)"
        ));
    }
    let (old_checks, new_checks) = (checks(from), checks(to));
    for (conname, old) in &old_checks {
        if new_checks
            .iter()
            .all(|(n, c)| n != conname || !same(c, old))
        {
            out.push(command(
                &table,
                AlterTableType::AtDropConstraint,
                conname,
                None,
            )?);
        }
    }
    let (old_columns, mut new_columns) = (columns(from), columns(to));
    if partition {
        new_columns = old_columns.clone();
    }
    for old in &old_columns {
        if !new_columns.iter().any(|c| c.colname == old.colname) {
            out.push(command(
                &table,
                AlterTableType::AtDropColumn,
                &old.colname,
                None,
            )?);
        }
    }
    for new in &new_columns {
        match old_columns.iter().find(|c| c.colname == new.colname) {
            None => out.push(command(
                &table,
                AlterTableType::AtAddColumn,
                "",
                Some(NodeEnum::ColumnDef(Box::new((*new).clone()))),
            )?),
            Some(old) => column(&table, old, new, &mut out, &mut missing)?,
        }
    }
    for (conname, new) in &new_checks {
        if old_checks
            .iter()
            .all(|(n, c)| n != conname || !same(c, new))
        {
            let node = NodeEnum::Constraint(Box::new((*new).clone()));
            out.push(command(
                &table,
                AlterTableType::AtAddConstraint,
                "",
                Some(node),
            )?);
        }
    }
    Ok((out, missing))
}

/// Whether views over the table must be recreated around the change: a column dropped or retyped.
pub fn reshapes(from: &CreateStmt, to: &CreateStmt) -> bool {
    let table = to.relation.clone().unwrap_or_default();
    let new_columns = columns(to);
    columns(from).iter().any(
        |old| match new_columns.iter().find(|c| c.colname == old.colname) {
            None => true,
            Some(new) => alter_type(&table, old, false).ok() != alter_type(&table, new, false).ok(),
        },
    )
}

/// Whether the columns both have keep their relative order.
fn same_order(from: &CreateStmt, to: &CreateStmt) -> bool {
    let (old, new) = (columns(from), columns(to));
    let common = |these: &[&ColumnDef], others: &[&ColumnDef]| -> Vec<String> {
        these
            .iter()
            .filter(|c| others.iter().any(|o| o.colname == c.colname))
            .map(|c| c.colname.clone())
            .collect()
    };
    common(&old, &new) == common(&new, &old)
}

/// The table without its columns and constraints, as text.
fn shape(table: &CreateStmt) -> Result<String, String> {
    let mut bare = table.clone();
    bare.table_elts.clear();
    bare.table_elts.push(Node {
        node: Some(NodeEnum::ColumnDef(Box::default())),
    });
    deparse(&NodeEnum::CreateStmt(bare))
}

fn columns(table: &CreateStmt) -> Vec<&ColumnDef> {
    table
        .table_elts
        .iter()
        .filter_map(|e| match &e.node {
            Some(NodeEnum::ColumnDef(c)) => Some(c.as_ref()),
            _ => None,
        })
        .collect()
}

fn checks(table: &CreateStmt) -> Vec<(String, &Constraint)> {
    table
        .table_elts
        .iter()
        .filter_map(|e| match &e.node {
            Some(NodeEnum::Constraint(c)) => Some((c.conname.clone(), c.as_ref())),
            _ => None,
        })
        .collect()
}

fn same(a: &Constraint, b: &Constraint) -> bool {
    constraint_text(a).ok() == constraint_text(b).ok()
}

/// A constraint as Postgres writes it (deparsed inside an `ALTER TABLE ... ADD`, the only place
/// the deparser takes one).
fn constraint_text(c: &Constraint) -> Result<String, String> {
    let node = NodeEnum::Constraint(Box::new(strip_location(c)));
    let table = RangeVar {
        relname: "t".to_string(),
        ..Default::default()
    };
    command(&table, AlterTableType::AtAddConstraint, "", Some(node))
}

fn strip_location(c: &Constraint) -> Constraint {
    let mut c = c.clone();
    c.location = 0;
    c
}

/// The parts of a column compared one by one.
#[derive(PartialEq)]
struct Parts {
    type_text: String,
    default: Option<String>,
    not_null: bool,
    generated: Option<String>,
    rest: String,
}

fn parts(table: &RangeVar, column: &ColumnDef) -> Result<Parts, String> {
    let constraint = |kind: ConstrType| {
        column.constraints.iter().find_map(|c| match &c.node {
            Some(NodeEnum::Constraint(c)) if c.contype == kind as i32 => Some(c.as_ref()),
            _ => None,
        })
    };
    let default = match constraint(ConstrType::ConstrDefault) {
        Some(c) => Some(set_default(table, &column.colname, c)?),
        None => None,
    };
    let generated = match constraint(ConstrType::ConstrGenerated) {
        Some(c) => Some(constraint_text(c)?),
        None => None,
    };
    let mut rest = column.clone();
    rest.type_name = None;
    rest.coll_clause = None;
    rest.location = 0;
    rest.is_not_null = false;
    rest.constraints.retain(|c| {
        !matches!(&c.node, Some(NodeEnum::Constraint(c)) if [
            ConstrType::ConstrDefault as i32, ConstrType::ConstrNotnull as i32,
            ConstrType::ConstrNull as i32, ConstrType::ConstrGenerated as i32,
        ].contains(&c.contype))
    });
    Ok(Parts {
        type_text: alter_type(table, column, false)?,
        default,
        not_null: constraint(ConstrType::ConstrNotnull).is_some() || column.is_not_null,
        generated,
        rest: format!("{:?}", without_locations(rest.constraints)),
    })
}

fn without_locations(mut nodes: Vec<Node>) -> Vec<Node> {
    for node in &mut nodes {
        if let Some(NodeEnum::Constraint(c)) = node.node.as_mut() {
            c.location = 0;
        }
    }
    nodes
}

fn column(
    table: &RangeVar,
    old: &ColumnDef,
    new: &ColumnDef,
    out: &mut Vec<String>,
    missing: &mut Vec<String>,
) -> Result<(), String> {
    let (from, to) = (parts(table, old)?, parts(table, new)?);
    let name = &new.colname;
    let what = format!("column {}.{name}", range_name(Some(table)));
    if from.rest != to.rest {
        missing.push(format!("{what}: constraints or storage differ"));
    }
    if from.generated != to.generated {
        match (&from.generated, &to.generated) {
            (Some(_), None) => out.push(command(
                table,
                AlterTableType::AtDropExpression,
                name,
                None,
            )?),
            _ => missing.push(format!("{what}: its generation expression changed")),
        }
    }
    if from.type_text != to.type_text {
        out.push(alter_type(table, new, true)?);
    }
    if from.default != to.default {
        match &to.default {
            Some(set) => out.push(set.clone()),
            None => out.push(command(table, AlterTableType::AtColumnDefault, name, None)?),
        }
    }
    match (from.not_null, to.not_null) {
        (false, true) => out.push(command(table, AlterTableType::AtSetNotNull, name, None)?),
        (true, false) => out.push(command(table, AlterTableType::AtDropNotNull, name, None)?),
        _ => {}
    }
    Ok(())
}

fn set_default(table: &RangeVar, column: &str, default: &Constraint) -> Result<String, String> {
    let expression = default.raw_expr.as_ref().and_then(|e| e.node.clone());
    command(table, AlterTableType::AtColumnDefault, column, expression)
}

/// `ALTER TABLE t ALTER COLUMN c TYPE type [COLLATE x] [USING c::type]`.
fn alter_type(table: &RangeVar, column: &ColumnDef, using: bool) -> Result<String, String> {
    let mut def = ColumnDef {
        type_name: column.type_name.clone(),
        coll_clause: column.coll_clause.clone(),
        ..Default::default()
    };
    if let Some(type_name) = def.type_name.as_mut() {
        type_name.location = 0;
    }
    if using {
        let reference = NodeEnum::ColumnRef(ColumnRef {
            fields: vec![Node {
                node: Some(NodeEnum::String(pg_query::protobuf::String {
                    sval: column.colname.clone(),
                })),
            }],
            location: 0,
        });
        let cast = TypeCast {
            arg: Some(Box::new(Node {
                node: Some(reference),
            })),
            type_name: def.type_name.clone(),
            location: 0,
        };
        def.raw_default = Some(Box::new(Node {
            node: Some(NodeEnum::TypeCast(Box::new(cast))),
        }));
    }
    let node = NodeEnum::ColumnDef(Box::new(def));
    command(
        table,
        AlterTableType::AtAlterColumnType,
        &column.colname,
        Some(node),
    )
}

/// One `ALTER TABLE` command on `table` (`name`: the column or constraint it is about).
pub fn command(
    table: &RangeVar,
    subtype: AlterTableType,
    name: &str,
    def: Option<NodeEnum>,
) -> Result<String, String> {
    let cmd = AlterTableCmd {
        subtype: subtype as i32,
        name: name.to_string(),
        def: def.map(|node| Box::new(Node { node: Some(node) })),
        behavior: DropBehavior::DropRestrict as i32,
        ..Default::default()
    };
    let mut relation = table.clone();
    relation.inh = true;
    relation.location = 0;
    let stmt = AlterTableStmt {
        relation: Some(relation),
        cmds: vec![Node {
            node: Some(NodeEnum::AlterTableCmd(Box::new(cmd))),
        }],
        objtype: ObjectType::ObjectTable as i32,
        missing_ok: false,
    };
    deparse(&NodeEnum::AlterTableStmt(stmt))
}
