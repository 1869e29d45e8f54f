//! The rules: the pending migrations' statements are replayed, in order, over a model of the
//! database before them (what exists, which tables are live, who uses what), and each statement
//! is checked against the model as it stands when the statement runs.

use std::collections::BTreeSet;

use pg_query::protobuf::{
    AlterTableCmd, AlterTableType, ColumnDef, ConstrType, DropBehavior, Node, ObjectType,
};
use pg_query::NodeEnum;
use serde_json::Value;

use super::catalog::{Catalog, Objects, User};
use super::refs::{self, Kind, Name, Uses};
use super::{rule, Finding, Severity};
use crate::migrate::script::{line_of, Script, TxControl};

/// One pending migration's script.
pub struct Pending {
    /// As shown in findings (relative to the project root).
    pub file: String,
    pub text: String,
}

struct Model<'a> {
    /// What exists locally, as the migrations so far leave it (references resolve here).
    objects: Objects,
    /// The database the migrations will be deployed to (the stage, or the local one).
    live: &'a Catalog,
    /// Relations made by the pending migrations: not "existing", so safe to change.
    created: BTreeSet<String>,
    dropped: BTreeSet<String>,
    users: Vec<User>,
    /// A pending `CREATE EXTENSION` may bring functions and types devdb cannot know.
    extension_pending: bool,
}

impl Model<'_> {
    /// Created before the pending migrations, so it may hold rows and serve traffic.
    fn existing(&self, name: &Name) -> bool {
        !self.created.contains(&name.name)
            && !self.dropped.contains(&name.name)
            && self.live.table(name).is_some()
    }

    fn users_of(&self, relation: &str, except: &Name) -> Vec<&User> {
        self.users
            .iter()
            .filter(|u| u.name.name != except.name && u.relations.contains(relation))
            .collect()
    }

    fn replace_user(&mut self, user: User) {
        self.users.retain(|u| u.name.name != user.name.name);
        self.users.push(user);
    }
}

/// Per-file state: rules that look back within one migration.
#[derive(Default)]
struct FileState {
    lock_timeout_set: bool,
    lock_timeout_reported: bool,
    added_enum_values: Vec<(String, usize)>,
    /// The file opens its own transaction (so a new enum value cannot be used in it).
    explicit_transaction: bool,
}

/// One statement being checked.
struct Statement<'a> {
    file: &'a str,
    /// The whole file (locations of the parse tree are offsets in it).
    text: &'a str,
    /// Where the statement's own text (with its leading comments) starts.
    start: usize,
    end: usize,
    line: usize,
    allowed: BTreeSet<String>,
}

impl Statement<'_> {
    fn finding(
        &self,
        rule: &'static str,
        severity: Severity,
        line: usize,
        message: String,
    ) -> Option<Finding> {
        (!self.allowed.contains(rule)).then(|| Finding {
            rule,
            severity,
            file: self.file.to_string(),
            line,
            message,
            missing: None,
        })
    }

    fn line_at(&self, offset: usize) -> usize {
        line_of(self.text, offset)
    }
}

pub fn run(local: &Catalog, live: &Catalog, files: &[Pending]) -> Vec<Finding> {
    let mut model = Model {
        objects: local.objects.clone(),
        live,
        created: BTreeSet::new(),
        dropped: BTreeSet::new(),
        users: live.users.clone(),
        extension_pending: false,
    };
    let mut findings = Vec::new();
    for file in files {
        check_file(&mut model, file, &mut findings);
    }
    findings
}

fn check_file(model: &mut Model, file: &Pending, findings: &mut Vec<Finding>) {
    let parsed = match pg_query::parse(&file.text, 0) {
        Ok(parsed) => parsed,
        Err(error) => {
            findings.push(Finding {
                rule: rule::SYNTAX,
                severity: Severity::Error,
                file: file.file.clone(),
                line: 1,
                message: format!("Postgres's parser rejects this file: {error}; fix the SQL"),
                missing: None,
            });
            return;
        }
    };
    let lines = Script::parse(&file.text).statements;
    let mut state = FileState {
        explicit_transaction: lines.iter().any(|s| s.control == Some(TxControl::Begin)),
        ..FileState::default()
    };
    // Comments between the previous statement and this one belong to this one.
    let mut previous_end = 0;
    for (index, raw) in parsed.protobuf.stmts.iter().enumerate() {
        let Some(node) = raw.stmt.as_ref() else {
            continue;
        };
        let start = raw.stmt_location.max(0) as usize;
        let end = match raw.stmt_len {
            0 => file.text.len(),
            len => (start + len as usize).min(file.text.len()),
        };
        let statement = Statement {
            file: &file.file,
            text: &file.text,
            start,
            end,
            line: lines.get(index).map_or(1, |s| s.line),
            allowed: allowed_rules(&file.text[previous_end.min(start)..end]),
        };
        previous_end = end;
        check_statement(model, &mut state, &statement, node, findings);
    }
}

/// Rules named in `-- devdb:allow RULE[, RULE]` comments of the statement (or just before it).
fn allowed_rules(text: &str) -> BTreeSet<String> {
    let Ok(scanned) = pg_query::scan(text) else {
        return BTreeSet::new();
    };
    let comment_tokens = [
        pg_query::protobuf::Token::SqlComment as i32,
        pg_query::protobuf::Token::CComment as i32,
    ];
    scanned
        .tokens
        .iter()
        .filter(|t| comment_tokens.contains(&t.token))
        .filter_map(|t| text.get(t.start as usize..t.end as usize))
        .filter_map(|comment| comment.split_once("devdb:allow").map(|(_, rest)| rest))
        .flat_map(|rest| {
            rest.trim_end_matches("*/")
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|r| !r.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn check_statement(
    model: &mut Model,
    state: &mut FileState,
    statement: &Statement,
    node: &Node,
    findings: &mut Vec<Finding>,
) {
    let Some(inner) = node.node.as_ref() else {
        return;
    };
    let mut uses = refs::uses_of(node);
    // Offsets of the names this statement creates (they are not references).
    let mut targets: Vec<usize> = Vec::new();
    let mut body: Option<(Name, Uses)> = None;
    let mut access_exclusive_on: Option<Name> = None;

    check_enum_use(state, statement, node, findings);
    match inner {
        NodeEnum::CreateStmt(create) => {
            if let Some(relation) = &create.relation {
                let name = Name::new(&relation.schemaname, &relation.relname);
                targets.push(relation.location.max(0) as usize);
                create_relation(model, &name);
                model.objects.add(Kind::Type, &name);
            }
        }
        NodeEnum::ViewStmt(view) => {
            if let Some(relation) = &view.view {
                let name = Name::new(&relation.schemaname, &relation.relname);
                targets.push(relation.location.max(0) as usize);
                create_relation(model, &name);
                model.objects.add(Kind::Type, &name);
                model.replace_user(User::from_uses("view", name, &uses));
            }
        }
        NodeEnum::CreateTableAsStmt(create) => {
            if let Some(relation) = create.into.as_ref().and_then(|i| i.rel.as_ref()) {
                let name = Name::new(&relation.schemaname, &relation.relname);
                targets.push(relation.location.max(0) as usize);
                create_relation(model, &name);
                model.replace_user(User::from_uses("view", name, &uses));
            }
        }
        NodeEnum::CreateSeqStmt(create) => {
            if let Some(relation) = &create.sequence {
                targets.push(relation.location.max(0) as usize);
                create_relation(model, &Name::new(&relation.schemaname, &relation.relname));
            }
        }
        NodeEnum::CompositeTypeStmt(create) => {
            if let Some(relation) = &create.typevar {
                targets.push(relation.location.max(0) as usize);
                model.objects.add(
                    Kind::Type,
                    &Name::new(&relation.schemaname, &relation.relname),
                );
            }
        }
        NodeEnum::CreateEnumStmt(create) => add_named(model, Kind::Type, &create.type_name),
        NodeEnum::CreateDomainStmt(create) => add_named(model, Kind::Type, &create.domainname),
        NodeEnum::CreateExtensionStmt(_) => model.extension_pending = true,
        NodeEnum::CreateFunctionStmt(function) => {
            let name = Name::from_parts(&refs::node_strings(&function.funcname));
            if let Some(name) = name {
                model.objects.add(Kind::Function, &name);
                let text = &statement.text[statement.start..statement.end];
                let mut inner_uses = refs::body_uses(text, function);
                for r in &mut inner_uses.references {
                    r.location += statement.start;
                }
                let mut all = uses.clone();
                all.references.extend(inner_uses.references.iter().cloned());
                all.columns.extend(inner_uses.columns.iter().cloned());
                all.star |= inner_uses.star;
                model.replace_user(User::from_uses("function", name.clone(), &all));
                body = Some((name, inner_uses));
            }
        }
        NodeEnum::CreateTrigStmt(trigger) => {
            if let Some(name) = Name::from_parts(&refs::node_strings(&trigger.funcname)) {
                uses.references.push(refs::Reference {
                    kind: Kind::Function,
                    name,
                    location: statement.start,
                });
            }
        }
        NodeEnum::IndexStmt(index) => {
            if let Some(relation) = &index.relation {
                let name = Name::new(&relation.schemaname, &relation.relname);
                if !index.concurrent && model.existing(&name) {
                    findings.extend(statement.finding(
                        rule::INDEX_CONCURRENTLY,
                        Severity::Warning,
                        statement.line,
                        format!(
                            "CREATE INDEX on the existing table `{name}` blocks its writes while it builds; \
                             fix: CREATE INDEX CONCURRENTLY (devdb then runs the migration outside a transaction)"
                        ),
                    ));
                }
            }
        }
        NodeEnum::AlterTableStmt(alter) => {
            let is_table = alter.objtype == ObjectType::ObjectTable as i32;
            if let (Some(relation), true) = (&alter.relation, is_table) {
                let name = Name::new(&relation.schemaname, &relation.relname);
                let mut exclusive = false;
                for cmd in &alter.cmds {
                    if let Some(NodeEnum::AlterTableCmd(cmd)) = &cmd.node {
                        exclusive |= takes_access_exclusive(cmd);
                        check_alter_cmd(model, statement, &name, cmd, findings);
                    }
                }
                if exclusive {
                    access_exclusive_on = Some(name);
                }
            }
        }
        NodeEnum::DropStmt(drop) => {
            check_drop(model, statement, drop, &mut access_exclusive_on, findings)
        }
        NodeEnum::RenameStmt(rename) => {
            // The old name is checked against the model before the rename changes it.
            if let Some(relation) = &rename.relation {
                targets.push(relation.location.max(0) as usize);
                if !rename.missing_ok {
                    let mut old = Uses::default();
                    old.references.push(refs::Reference {
                        kind: Kind::Relation,
                        name: Name::new(&relation.schemaname, &relation.relname),
                        location: relation.location.max(0) as usize,
                    });
                    resolve(model, statement, &old, None, findings);
                }
            }
            check_rename(model, statement, rename, &mut access_exclusive_on, findings)
        }
        NodeEnum::TruncateStmt(truncate) => {
            access_exclusive_on = truncate.relations.iter().find_map(|n| match &n.node {
                Some(NodeEnum::RangeVar(r)) => Some(Name::new(&r.schemaname, &r.relname)),
                _ => None,
            });
        }
        NodeEnum::LockStmt(lock) if lock.mode == 8 => {
            access_exclusive_on = lock.relations.iter().find_map(|n| match &n.node {
                Some(NodeEnum::RangeVar(r)) => Some(Name::new(&r.schemaname, &r.relname)),
                _ => None,
            });
        }
        NodeEnum::VariableSetStmt(set) if set.name == "lock_timeout" => {
            state.lock_timeout_set = true
        }
        NodeEnum::AlterEnumStmt(alter) if !alter.new_val.is_empty() && alter.old_val.is_empty() => {
            state
                .added_enum_values
                .push((alter.new_val.clone(), statement.line));
        }
        _ => {}
    }
    if let Some(name) = access_exclusive_on.filter(|n| model.existing(n) || dropped_now(model, n)) {
        check_lock_timeout(state, statement, &name, findings);
    }
    uses.references.retain(|r| !targets.contains(&r.location));
    resolve(model, statement, &uses, None, findings);
    if let Some((function, inner)) = body {
        resolve(model, statement, &inner, Some(&function), findings);
    }
}

fn dropped_now(model: &Model, name: &Name) -> bool {
    model.dropped.contains(&name.name) && model.live.table(name).is_some()
}

fn create_relation(model: &mut Model, name: &Name) {
    model.objects.add(Kind::Relation, name);
    model.created.insert(name.name.clone());
    model.dropped.remove(&name.name);
}

fn add_named(model: &mut Model, kind: Kind, parts: &[Node]) {
    if let Some(name) = Name::from_parts(&refs::node_strings(parts)) {
        model.objects.add(kind, &name);
    }
}

/// Every reference must exist locally (as the earlier statements leave it).
fn resolve(
    model: &Model,
    statement: &Statement,
    uses: &Uses,
    in_body_of: Option<&Name>,
    findings: &mut Vec<Finding>,
) {
    let mut seen = BTreeSet::new();
    for reference in &uses.references {
        if model.objects.contains(reference.kind, &reference.name)
            || (model.extension_pending && reference.kind != Kind::Relation)
            || !seen.insert((reference.kind, reference.name.clone()))
        {
            continue;
        }
        let place = match in_body_of {
            Some(function) => format!("the body of function `{function}` names"),
            None => "this statement uses".to_string(),
        };
        let line = statement.line_at(reference.location.max(statement.start));
        if let Some(mut finding) = statement.finding(
            rule::DEPENDENCIES,
            Severity::Error,
            line,
            format!(
                "{place} {} `{}`, which neither the local database nor an earlier pending statement has; \
                 fix: create it in an earlier migration",
                reference.kind.label(),
                reference.name
            ),
        ) {
            finding.missing = Some((reference.kind, reference.name.clone()));
            findings.push(finding);
        }
    }
}

fn check_alter_cmd(
    model: &Model,
    statement: &Statement,
    table: &Name,
    cmd: &AlterTableCmd,
    findings: &mut Vec<Finding>,
) {
    let existing = model.existing(table);
    let subtype = AlterTableType::try_from(cmd.subtype).unwrap_or(AlterTableType::Undefined);
    let column_def = match cmd.def.as_deref().and_then(|d| d.node.as_ref()) {
        Some(NodeEnum::ColumnDef(def)) => Some(def.as_ref()),
        _ => None,
    };
    let mut push = |rule, severity, message: String| {
        findings.extend(statement.finding(rule, severity, statement.line, message));
    };
    match subtype {
        AlterTableType::AtAddColumn if existing => {
            if let Some(def) = column_def.filter(|d| required_without_default(d)) {
                push(
                    rule::NOT_NULL,
                    Severity::Error,
                    format!(
                        "adds the NOT NULL column `{}` without a default to the existing table `{table}`: \
                         it fails as soon as the table has a row; fix: give it a DEFAULT, or add it nullable, \
                         backfill, then SET NOT NULL in a later migration",
                        def.colname
                    ),
                );
            }
        }
        AlterTableType::AtDropColumn => {
            if existing {
                push(
                    rule::DROP_OR_RENAME,
                    Severity::Warning,
                    format!(
                        "drops the column `{table}.{}` while running code may still read it; fix: stop using it \
                         in a deployed release first, then drop it in a later migration",
                        cmd.name
                    ),
                );
            }
            for user in column_users(model, table, &cmd.name, |_| true) {
                push(
                    rule::DEPENDENCIES,
                    Severity::Error,
                    format!(
                        "drops the column `{table}.{}`, which {} `{}` still uses; fix: change or drop the {} first",
                        cmd.name, user.kind, user.name, user.kind
                    ),
                );
            }
        }
        AlterTableType::AtAlterColumnType => {
            let new_type = column_def.and_then(|d| d.type_name.as_ref());
            let old_type = model.live.table(table).and_then(|c| c.get(&cmd.name));
            if let (true, Some(new_type), Some(old_type)) = (existing, new_type, old_type) {
                if rewrites(old_type, new_type) {
                    push(
                        rule::TYPE_CHANGE,
                        Severity::Warning,
                        format!(
                            "changing `{table}.{}` from {old_type} rewrites the whole table under an ACCESS EXCLUSIVE \
                             lock; fix: add a new column, backfill it in batches, and switch over",
                            cmd.name
                        ),
                    );
                }
            }
            for user in column_users(model, table, &cmd.name, |u| u.kind == "view") {
                push(
                    rule::DEPENDENCIES,
                    Severity::Error,
                    format!(
                        "changes the type of `{table}.{}`, which view `{}` uses (Postgres refuses); \
                         fix: drop the view before and create it again after",
                        cmd.name, user.name
                    ),
                );
            }
        }
        AlterTableType::AtAddConstraint if existing => {
            if let Some(NodeEnum::Constraint(constraint)) =
                cmd.def.as_deref().and_then(|d| d.node.as_ref())
            {
                let kind =
                    ConstrType::try_from(constraint.contype).unwrap_or(ConstrType::Undefined);
                let what = match kind {
                    ConstrType::ConstrForeign => Some("FOREIGN KEY"),
                    ConstrType::ConstrCheck => Some("CHECK"),
                    _ => None,
                };
                if let (Some(what), false) = (what, constraint.skip_validation) {
                    push(
                        rule::NOT_VALID,
                        Severity::Warning,
                        format!(
                            "adds a {what} constraint to the existing table `{table}`, which checks every row \
                             while holding its lock; fix: add it NOT VALID, then VALIDATE CONSTRAINT in a later migration"
                        ),
                    );
                }
            }
        }
        _ => {}
    }
}

fn column_users<'m>(
    model: &'m Model,
    table: &Name,
    column: &str,
    filter: impl Fn(&User) -> bool,
) -> Vec<&'m User> {
    model
        .users
        .iter()
        .filter(|u| u.uses_column(&table.name, column) && filter(u))
        .collect()
}

fn required_without_default(def: &ColumnDef) -> bool {
    let kinds: Vec<ConstrType> = def
        .constraints
        .iter()
        .filter_map(|c| match &c.node {
            Some(NodeEnum::Constraint(c)) => ConstrType::try_from(c.contype).ok(),
            _ => None,
        })
        .collect();
    let not_null = def.is_not_null
        || kinds
            .iter()
            .any(|k| matches!(k, ConstrType::ConstrNotnull | ConstrType::ConstrPrimary));
    let filled = def.raw_default.is_some()
        || kinds.iter().any(|k| {
            matches!(
                k,
                ConstrType::ConstrDefault
                    | ConstrType::ConstrIdentity
                    | ConstrType::ConstrGenerated
            )
        });
    let serial = def
        .type_name
        .as_ref()
        .map(|t| refs::node_strings(&t.names))
        .is_some_and(|n| n.len() == 1 && n[0].contains("serial"));
    not_null && !filled && !serial
}

/// ALTER TABLE subcommands that take a lighter lock than ACCESS EXCLUSIVE.
fn takes_access_exclusive(cmd: &AlterTableCmd) -> bool {
    use AlterTableType::*;
    let subtype = AlterTableType::try_from(cmd.subtype).unwrap_or(Undefined);
    let foreign_key = matches!(
        cmd.def.as_deref().and_then(|d| d.node.as_ref()),
        Some(NodeEnum::Constraint(c)) if c.contype == ConstrType::ConstrForeign as i32
    );
    !(matches!(
        subtype,
        AtValidateConstraint
            | AtSetStatistics
            | AtClusterOn
            | AtDropCluster
            | AtSetRelOptions
            | AtResetRelOptions
            | AtEnableTrig
            | AtEnableAlwaysTrig
            | AtEnableReplicaTrig
            | AtDisableTrig
            | AtEnableTrigAll
            | AtDisableTrigAll
            | AtEnableTrigUser
            | AtDisableTrigUser
            | AtAttachPartition
    ) || (subtype == AtAddConstraint && foreign_key))
}

/// Whether changing a column from `old` (as `format_type` writes it) to `new` rewrites the
/// table. Postgres skips the rewrite for a few binary-compatible widenings only.
fn rewrites(old: &str, new: &pg_query::protobuf::TypeName) -> bool {
    let names = refs::node_strings(&new.names);
    let new_name = names.last().map(String::as_str).unwrap_or_default();
    let modifiers: Vec<i64> = new
        .typmods
        .iter()
        .filter_map(|m| match &m.node {
            Some(NodeEnum::AConst(c)) => match &c.val {
                Some(pg_query::protobuf::a_const::Val::Ival(i)) => Some(i.ival as i64),
                _ => None,
            },
            _ => None,
        })
        .collect();
    let (old_base, old_mods) = match old.split_once('(') {
        Some((base, rest)) => (
            base.trim(),
            rest.trim_end_matches(')')
                .split(',')
                .filter_map(|m| m.trim().parse::<i64>().ok())
                .collect::<Vec<_>>(),
        ),
        None => (old.trim(), Vec::new()),
    };
    let widens = |old: &[i64], new: &[i64]| {
        new.is_empty()
            || (old.len() == new.len()
                && !old.is_empty()
                && new[0] >= old[0]
                && old.get(1) == new.get(1))
    };
    match (old_base, new_name) {
        ("character varying" | "text", "text") => false,
        ("character varying", "varchar") => !widens(&old_mods, &modifiers),
        ("numeric", "numeric") => !(modifiers.is_empty() || widens(&old_mods, &modifiers)),
        ("bit varying", "varbit") => !widens(&old_mods, &modifiers),
        ("cidr", "inet") => false,
        _ => {
            let same = matches!(
                (old_base, new_name),
                ("integer", "int4")
                    | ("bigint", "int8")
                    | ("smallint", "int2")
                    | ("boolean", "bool")
            ) || old_base == new_name;
            !(same && modifiers.is_empty() && old_mods.is_empty())
        }
    }
}

fn check_drop(
    model: &mut Model,
    statement: &Statement,
    drop: &pg_query::protobuf::DropStmt,
    access_exclusive_on: &mut Option<Name>,
    findings: &mut Vec<Finding>,
) {
    let object_type = ObjectType::try_from(drop.remove_type).unwrap_or(ObjectType::Undefined);
    let kind = match object_type {
        ObjectType::ObjectTable
        | ObjectType::ObjectView
        | ObjectType::ObjectMatview
        | ObjectType::ObjectForeignTable
        | ObjectType::ObjectSequence => Kind::Relation,
        ObjectType::ObjectFunction | ObjectType::ObjectProcedure => Kind::Function,
        ObjectType::ObjectType | ObjectType::ObjectDomain => Kind::Type,
        _ => return,
    };
    let cascade = drop.behavior == DropBehavior::DropCascade as i32;
    let names: Vec<Name> = drop.objects.iter().filter_map(object_name).collect();
    for name in &names {
        if kind == Kind::Relation {
            let was_existing = model.existing(name);
            if object_type == ObjectType::ObjectTable && was_existing {
                findings.extend(statement.finding(
                    rule::DROP_OR_RENAME,
                    Severity::Warning,
                    statement.line,
                    format!(
                        "drops the existing table `{name}` while running code may still use it; fix: stop using it \
                         in a deployed release first, then drop it in a later migration"
                    ),
                ));
                access_exclusive_on.get_or_insert(name.clone());
            }
            for user in model.users_of(&name.name, name) {
                if names.iter().any(|n| n.name == user.name.name) {
                    continue;
                }
                let consequence = if cascade && user.kind == "view" {
                    "CASCADE drops it too"
                } else if user.kind == "view" {
                    "Postgres refuses"
                } else {
                    "the function fails when called"
                };
                findings.extend(statement.finding(
                    rule::DEPENDENCIES,
                    Severity::Error,
                    statement.line,
                    format!(
                        "drops `{name}`, which {} `{}` still uses ({consequence}); fix: change or drop the {} first",
                        user.kind, user.name, user.kind
                    ),
                ));
            }
            model.dropped.insert(name.name.clone());
            model.created.remove(&name.name);
        }
        model.objects.remove(kind, name);
        if kind != Kind::Type {
            model.users.retain(|u| u.name.name != name.name);
        }
    }
}

/// The name of a DROP's object: a list of strings, a function with arguments, or a type name.
fn object_name(node: &Node) -> Option<Name> {
    match node.node.as_ref()? {
        NodeEnum::List(list) => Name::from_parts(&refs::node_strings(&list.items)),
        NodeEnum::ObjectWithArgs(object) => Name::from_parts(&refs::node_strings(&object.objname)),
        NodeEnum::TypeName(type_name) => Name::from_parts(&refs::node_strings(&type_name.names)),
        NodeEnum::String(s) => Some(Name::new("", &s.sval)),
        _ => None,
    }
}

fn check_rename(
    model: &mut Model,
    statement: &Statement,
    rename: &pg_query::protobuf::RenameStmt,
    access_exclusive_on: &mut Option<Name>,
    findings: &mut Vec<Finding>,
) {
    let object_type = ObjectType::try_from(rename.rename_type).unwrap_or(ObjectType::Undefined);
    let Some(relation) = &rename.relation else {
        if matches!(
            object_type,
            ObjectType::ObjectFunction | ObjectType::ObjectType
        ) {
            let kind = if object_type == ObjectType::ObjectFunction {
                Kind::Function
            } else {
                Kind::Type
            };
            if let Some(old) = rename.object.as_deref().and_then(object_name) {
                model.objects.remove(kind, &old);
                model.objects.add(
                    kind,
                    &Name {
                        schema: old.schema,
                        name: rename.newname.clone(),
                    },
                );
            }
        }
        return;
    };
    let table = Name::new(&relation.schemaname, &relation.relname);
    let existing = model.existing(&table);
    let function_users: Vec<&User> = match object_type {
        ObjectType::ObjectColumn => {
            column_users(model, &table, &rename.subname, |u| u.kind == "function")
        }
        _ => model
            .users_of(&table.name, &table)
            .into_iter()
            .filter(|u| u.kind == "function")
            .collect(),
    };
    let what = match object_type {
        ObjectType::ObjectColumn => format!("the column `{table}.{}`", rename.subname),
        _ => format!("`{table}`"),
    };
    for user in function_users {
        findings.extend(statement.finding(
            rule::DEPENDENCIES,
            Severity::Error,
            statement.line,
            format!(
                "renames {what}, which function `{}` still names (function bodies do not follow renames); \
                 fix: replace the function in the same migration",
                user.name
            ),
        ));
    }
    let table_like = matches!(
        object_type,
        ObjectType::ObjectTable | ObjectType::ObjectColumn
    );
    if existing && table_like {
        findings.extend(statement.finding(
            rule::DROP_OR_RENAME,
            Severity::Warning,
            statement.line,
            format!(
                "renames {what} while running code still uses the old name; fix: add the new one alongside, \
                 switch the code over, then drop the old one in a later migration"
            ),
        ));
        *access_exclusive_on = Some(table.clone());
    }
    if matches!(
        object_type,
        ObjectType::ObjectTable
            | ObjectType::ObjectView
            | ObjectType::ObjectMatview
            | ObjectType::ObjectSequence
    ) {
        model.objects.remove(Kind::Relation, &table);
        let renamed = Name {
            schema: table.schema.clone(),
            name: rename.newname.clone(),
        };
        model.objects.add(Kind::Relation, &renamed);
        // Views follow a renamed relation (they hold its id); function bodies do not.
        for user in model.users.iter_mut().filter(|u| u.kind == "view") {
            if user.relations.remove(&table.name) {
                user.relations.insert(rename.newname.clone());
            }
        }
        if model.created.remove(&table.name) {
            model.created.insert(rename.newname.clone());
        }
    }
}

fn check_lock_timeout(
    state: &mut FileState,
    statement: &Statement,
    table: &Name,
    findings: &mut Vec<Finding>,
) {
    if state.lock_timeout_set || state.lock_timeout_reported {
        return;
    }
    if let Some(finding) = statement.finding(
        rule::LOCK_TIMEOUT,
        Severity::Warning,
        statement.line,
        format!(
            "takes an ACCESS EXCLUSIVE lock on the existing table `{table}` with no lock_timeout set: behind a \
             long query it queues, and every query on the table queues behind it; fix: start the migration \
             with `SET lock_timeout = '5s';`"
        ),
    ) {
        state.lock_timeout_reported = true;
        findings.push(finding);
    }
}

/// A value added to an enum earlier in the same file, used by this statement.
fn check_enum_use(
    state: &FileState,
    statement: &Statement,
    node: &Node,
    findings: &mut Vec<Finding>,
) {
    if state.added_enum_values.is_empty() {
        return;
    }
    let value = serde_json::to_value(node).unwrap_or(Value::Null);
    let mut constants = BTreeSet::new();
    string_constants(&value, false, &mut constants);
    for (added, line) in &state.added_enum_values {
        if !constants.contains(added) {
            continue;
        }
        let (severity, context) = match state.explicit_transaction {
            true => (Severity::Error, "inside the file's own BEGIN ... COMMIT this fails"),
            false => (
                Severity::Warning,
                "devdb then runs the file outside a transaction, but Prisma and `psql -1` run it as one, where it fails",
            ),
        };
        findings.extend(statement.finding(
            rule::ENUM_VALUE,
            severity,
            statement.line,
            format!(
                "uses the enum value '{added}' added at line {line} of the same migration; {context} with \
                 55P04 (unsafe use of new enum value); fix: move the statements that use it into a later migration"
            ),
        ));
    }
}

fn string_constants(value: &Value, in_constant: bool, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let inside = in_constant || key == "AConst";
                if inside && key == "sval" {
                    if let Value::String(s) = inner {
                        out.insert(s.clone());
                    }
                }
                string_constants(inner, inside, out);
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|v| string_constants(v, in_constant, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn type_name(sql: &str) -> pg_query::protobuf::TypeName {
        let parsed = pg_query::parse(&format!("SELECT NULL::{sql}"), 0).unwrap();
        let node = parsed.protobuf.stmts[0]
            .stmt
            .as_ref()
            .unwrap()
            .node
            .as_ref();
        let Some(NodeEnum::SelectStmt(select)) = node else {
            panic!("not a select")
        };
        let Some(NodeEnum::ResTarget(target)) = select.target_list[0].node.as_ref() else {
            panic!("no target")
        };
        let Some(NodeEnum::TypeCast(cast)) = target.val.as_ref().unwrap().node.as_ref() else {
            panic!("no cast")
        };
        cast.type_name.clone().unwrap()
    }

    #[test]
    fn which_type_changes_rewrite() {
        assert!(!rewrites("character varying(20)", &type_name("text")));
        assert!(!rewrites(
            "character varying(20)",
            &type_name("varchar(40)")
        ));
        assert!(rewrites("character varying(20)", &type_name("varchar(10)")));
        assert!(!rewrites("numeric(10,2)", &type_name("numeric(12,2)")));
        assert!(rewrites("numeric(10,2)", &type_name("numeric(12,3)")));
        assert!(rewrites("integer", &type_name("bigint")));
        assert!(rewrites("text", &type_name("integer")));
        assert!(!rewrites("text", &type_name("text")));
    }

    #[test]
    fn allow_comments_name_rules() {
        let allowed = allowed_rules("-- devdb:allow drop-or-rename, lock-timeout\nDROP TABLE t");
        assert!(allowed.contains("drop-or-rename") && allowed.contains("lock-timeout"));
        assert!(allowed_rules("SELECT '-- devdb:allow x'").is_empty());
        assert!(
            allowed_rules("/* devdb:allow lock-timeout */ ALTER TABLE t ADD c int")
                .contains("lock-timeout")
        );
    }
}
