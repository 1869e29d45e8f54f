//! The rules: the pending migrations' statements are replayed, in order, over a model of the
//! database before them (what exists, which tables are live, who uses what), and each statement
//! is checked against the model as it stands when the statement runs.

use std::collections::{BTreeMap, BTreeSet};

use pg_query::protobuf::{
    AlterTableCmd, AlterTableType, ColumnDef, ConstrType, DropBehavior, Node, ObjectType, RangeVar,
};
use pg_query::NodeEnum;
use serde_json::Value;

use super::catalog::{Catalog, Objects, User};
use super::columns::Columns;
use super::refs::{self, Kind, Uses};
use super::{rule, Finding, Severity};
use crate::migrate::script::{line_of, refuses_transaction, Script, TxControl};
use crate::pg::QualifiedName;

/// A rewrite or long lock on a table with at least this many rows on the stage (its
/// `pg_class.reltuples` estimate) is an error under `--stage`, below it a warning. At the
/// rates a busy server rewrites or scans (tens to a few hundred thousand rows a second while
/// serving traffic), 100,000 rows is where the lock starts to last long enough (around a
/// second and up) for queued queries to time out.
pub const LARGE_TABLE_ROWS: f64 = 100_000.0;

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
    /// Columns as the migrations so far leave them, and where removed ones went.
    columns: Columns,
    /// Functions with a volatile overload, as the migrations so far leave them.
    volatile: BTreeSet<String>,
    /// Indexes made by the pending migrations.
    created_indexes: BTreeSet<String>,
    /// `CHECK (col IS NOT NULL)`: (table, constraint) -> (column, validated).
    not_null_checks: BTreeMap<(String, String), (String, bool)>,
    /// The stage deployed to (`--stage`), whose row counts decide a lock's severity.
    stage: Option<&'a str>,
}

impl Model<'_> {
    /// Created before the pending migrations, so it may hold rows and serve traffic.
    fn existing(&self, name: &QualifiedName) -> bool {
        !self.created.contains(&name.name)
            && !self.dropped.contains(&name.name)
            && self.live.table(name).is_some()
    }

    fn users_of(&self, relation: &str, except: &QualifiedName) -> Vec<&User> {
        self.users
            .iter()
            .filter(|u| u.name.name != except.name && u.relations.contains(relation))
            .collect()
    }

    /// A rewrite or long lock on `table`: an error on a large table of the stage, else a
    /// warning; the note says which and why.
    fn severity_by_size(&self, table: &QualifiedName) -> (Severity, String) {
        let Some(stage) = self.stage else {
            return (Severity::Warning, String::new());
        };
        match self.live.rows_of(table) {
            Some(rows) if rows >= LARGE_TABLE_ROWS => (
                Severity::Error,
                format!(
                    " (stage {stage} has about {rows:.0} rows in it, at least {LARGE_TABLE_ROWS:.0}: an error)"
                ),
            ),
            Some(rows) if rows >= 0.0 => (
                Severity::Warning,
                format!(" (stage {stage} has about {rows:.0} rows in it)"),
            ),
            _ => (
                Severity::Warning,
                format!(" (stage {stage} has never analyzed it, so its size is unknown)"),
            ),
        }
    }

    /// The column of `table` is proven non-null by a validated CHECK.
    fn proven_not_null(&self, table: &QualifiedName, column: &str) -> bool {
        self.not_null_checks
            .iter()
            .any(|((t, _), (c, validated))| *t == table.name && c == column && *validated)
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
    /// `file:line` of the statement, for messages that point back at it.
    fn at(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }

    fn finding(
        &self,
        rule: &'static str,
        severity: Severity,
        line: usize,
        message: String,
    ) -> Option<Finding> {
        (!self.allowed.iter().any(|a| rule::covers(a, rule))).then(|| Finding {
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

pub fn run(
    local: &Catalog,
    live: &Catalog,
    stage: Option<&str>,
    files: &[Pending],
) -> Vec<Finding> {
    let mut model = Model {
        objects: local.objects.clone(),
        live,
        created: BTreeSet::new(),
        dropped: BTreeSet::new(),
        users: live.users.clone(),
        extension_pending: false,
        columns: Columns::from_catalog(local),
        volatile: live.volatile.clone(),
        created_indexes: BTreeSet::new(),
        not_null_checks: live.not_null_checks.clone(),
        stage,
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
    // The line of the file's own BEGIN while its transaction is open.
    let mut open_transaction: Option<usize> = None;
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
        if let Some(begin) = open_transaction {
            check_non_transactional(&statement, node, begin, findings);
        }
        match lines.get(index).and_then(|s| s.control) {
            Some(TxControl::Begin) => open_transaction = Some(statement.line),
            Some(TxControl::Commit | TxControl::Rollback) => open_transaction = None,
            None => {}
        }
        check_statement(model, &mut state, &statement, node, findings);
    }
}

/// A statement Postgres refuses inside a transaction block, inside the file's own BEGIN.
fn check_non_transactional(
    statement: &Statement,
    node: &Node,
    begin: usize,
    findings: &mut Vec<Finding>,
) {
    let Some(what) = node.node.as_ref().and_then(refuses_transaction) else {
        return;
    };
    findings.extend(statement.finding(
        rule::NON_TRANSACTIONAL,
        Severity::Error,
        statement.line,
        format!(
            "{what} runs inside the transaction this file opens with BEGIN at line {begin}: Postgres refuses it \
             with 25001 (cannot run inside a transaction block) and the migration fails at deploy; fix: move it \
             after the COMMIT, or into a migration of its own without BEGIN/COMMIT (devdb runs such a file \
             statement by statement)"
        ),
    ));
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

/// What checking one statement gathers for the checks that follow its own.
#[derive(Default)]
struct Gathered {
    /// Offsets of the names this statement creates (they are not references).
    targets: Vec<usize>,
    /// A function it creates, with what the function's body uses.
    body: Option<(QualifiedName, Uses)>,
    /// The table it takes an ACCESS EXCLUSIVE lock on.
    access_exclusive_on: Option<QualifiedName>,
}

impl Gathered {
    /// A relation the statement creates: its name is a target, not a reference.
    fn target(&mut self, relation: &RangeVar) -> QualifiedName {
        self.targets.push(relation.location.max(0) as usize);
        relation_name(relation)
    }
}

fn relation_name(relation: &RangeVar) -> QualifiedName {
    QualifiedName::new(&relation.schemaname, &relation.relname)
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
    let mut gathered = Gathered::default();
    check_enum_use(state, statement, node, findings);
    match inner {
        NodeEnum::CreateStmt(_)
        | NodeEnum::ViewStmt(_)
        | NodeEnum::CreateTableAsStmt(_)
        | NodeEnum::CreateSeqStmt(_)
        | NodeEnum::CompositeTypeStmt(_) => {
            create_relation_statement(model, inner, &uses, &mut gathered)
        }
        NodeEnum::CreateEnumStmt(create) => add_named(model, Kind::Type, &create.type_name),
        NodeEnum::CreateDomainStmt(create) => add_named(model, Kind::Type, &create.domainname),
        NodeEnum::CreateExtensionStmt(_) => model.extension_pending = true,
        NodeEnum::CreateFunctionStmt(function) => {
            gathered.body = create_function(model, statement, function, &uses)
        }
        NodeEnum::CreateTrigStmt(trigger) => {
            if let Some(name) = QualifiedName::from_parts(&refs::node_strings(&trigger.funcname)) {
                uses.references.push(refs::Reference {
                    kind: Kind::Function,
                    name,
                    location: statement.start,
                });
            }
        }
        NodeEnum::IndexStmt(index) => check_create_index(model, statement, index, findings),
        NodeEnum::InsertStmt(insert) => {
            if let Some(r) = &insert.relation {
                let needed = target_names(&insert.cols);
                check_columns(model, statement, &relation_name(r), &needed, findings);
            }
        }
        NodeEnum::UpdateStmt(update) => {
            if let Some(r) = &update.relation {
                let needed = target_names(&update.target_list);
                check_columns(model, statement, &relation_name(r), &needed, findings);
            }
        }
        NodeEnum::AlterTableStmt(alter) => {
            gathered.access_exclusive_on = check_alter_table(model, statement, alter, findings)
        }
        NodeEnum::DropStmt(drop) => check_drop(
            model,
            statement,
            drop,
            &mut gathered.access_exclusive_on,
            findings,
        ),
        NodeEnum::RenameStmt(rename) => {
            check_rename_statement(model, statement, rename, &mut gathered, findings)
        }
        NodeEnum::TruncateStmt(truncate) => {
            gathered.access_exclusive_on = first_relation(&truncate.relations)
        }
        NodeEnum::LockStmt(lock) if lock.mode == 8 => {
            gathered.access_exclusive_on = first_relation(&lock.relations)
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
    resolve_statement(model, state, statement, uses, gathered, findings);
}

/// A statement that creates a relation (or a composite type, which is one in pg_class): it
/// exists from now on; a view's or materialized view's query makes it a user of what it reads.
fn create_relation_statement(
    model: &mut Model,
    inner: &NodeEnum,
    uses: &Uses,
    gathered: &mut Gathered,
) {
    match inner {
        NodeEnum::CreateStmt(create) => {
            if let Some(relation) = &create.relation {
                let name = gathered.target(relation);
                create_relation(model, &name);
                model.objects.add(Kind::Type, &name);
                model.columns.create(&name.name, declared_columns(create));
            }
        }
        NodeEnum::ViewStmt(view) => {
            if let Some(relation) = &view.view {
                let name = gathered.target(relation);
                create_relation(model, &name);
                model.columns.create(&name.name, None);
                model.objects.add(Kind::Type, &name);
                model.replace_user(User::from_uses("view", name, uses));
            }
        }
        NodeEnum::CreateTableAsStmt(create) => {
            if let Some(relation) = create.into.as_ref().and_then(|i| i.rel.as_ref()) {
                let name = gathered.target(relation);
                create_relation(model, &name);
                model.columns.create(&name.name, None);
                model.replace_user(User::from_uses("view", name, uses));
            }
        }
        NodeEnum::CreateSeqStmt(create) => {
            if let Some(relation) = &create.sequence {
                create_relation(model, &gathered.target(relation));
            }
        }
        NodeEnum::CompositeTypeStmt(create) => {
            if let Some(relation) = &create.typevar {
                model.objects.add(Kind::Type, &gathered.target(relation));
            }
        }
        _ => {}
    }
}

/// What follows every statement's own checks: the lock-timeout rule for the table it locks,
/// and every reference it (and a function body it creates) makes must exist.
fn resolve_statement(
    model: &Model,
    state: &mut FileState,
    statement: &Statement,
    mut uses: Uses,
    gathered: Gathered,
    findings: &mut Vec<Finding>,
) {
    let locked = gathered.access_exclusive_on;
    if let Some(name) = locked.filter(|n| model.existing(n) || dropped_now(model, n)) {
        check_lock_timeout(state, statement, &name, findings);
    }
    uses.references
        .retain(|r| !gathered.targets.contains(&r.location));
    resolve(model, statement, &uses, None, findings);
    if let Some((function, inner)) = gathered.body {
        resolve(model, statement, &inner, Some(&function), findings);
    }
}

/// The first table of a TRUNCATE or LOCK.
fn first_relation(relations: &[Node]) -> Option<QualifiedName> {
    relations.iter().find_map(|n| match &n.node {
        Some(NodeEnum::RangeVar(r)) => Some(relation_name(r)),
        _ => None,
    })
}

/// A `CREATE FUNCTION`: the function exists from now on, with its volatility and what its
/// body uses (returned, to be resolved once the statement's own references are).
fn create_function(
    model: &mut Model,
    statement: &Statement,
    function: &pg_query::protobuf::CreateFunctionStmt,
    uses: &Uses,
) -> Option<(QualifiedName, Uses)> {
    let name = QualifiedName::from_parts(&refs::node_strings(&function.funcname))?;
    model.objects.add(Kind::Function, &name);
    match volatility(function).as_str() {
        "volatile" => model.volatile.insert(name.name.clone()),
        _ => model.volatile.remove(&name.name),
    };
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
    Some((name, inner_uses))
}

/// A `CREATE INDEX`: its columns must exist, and on an existing table it should be
/// CONCURRENTLY.
fn check_create_index(
    model: &mut Model,
    statement: &Statement,
    index: &pg_query::protobuf::IndexStmt,
    findings: &mut Vec<Finding>,
) {
    let Some(relation) = &index.relation else {
        return;
    };
    let name = relation_name(relation);
    if !index.idxname.is_empty() {
        model.created_indexes.insert(index.idxname.clone());
    }
    let needed: Vec<String> = index
        .index_params
        .iter()
        .chain(&index.index_including_params)
        .filter_map(|p| match &p.node {
            Some(NodeEnum::IndexElem(e)) if !e.name.is_empty() => Some(e.name.clone()),
            _ => None,
        })
        .collect();
    check_columns(model, statement, &name, &needed, findings);
    if !index.concurrent && model.existing(&name) {
        let (severity, note) = model.severity_by_size(&name);
        findings.extend(statement.finding(
            rule::INDEX_CONCURRENTLY,
            severity,
            statement.line,
            format!(
                "CREATE INDEX on the existing table `{name}` takes a SHARE lock, which blocks its writes \
                 until the whole index is built{note}; fix: CREATE INDEX CONCURRENTLY (devdb then runs \
                 the migration outside a transaction; keep it out of BEGIN/COMMIT)"
            ),
        ));
    }
}

/// An `ALTER TABLE` on a table: each subcommand checked, then applied to the model. Returns the
/// table when a subcommand takes an ACCESS EXCLUSIVE lock.
fn check_alter_table(
    model: &mut Model,
    statement: &Statement,
    alter: &pg_query::protobuf::AlterTableStmt,
    findings: &mut Vec<Finding>,
) -> Option<QualifiedName> {
    let relation = alter.relation.as_ref()?;
    if alter.objtype != ObjectType::ObjectTable as i32 {
        return None;
    }
    let name = relation_name(relation);
    let mut exclusive = false;
    for cmd in &alter.cmds {
        if let Some(NodeEnum::AlterTableCmd(cmd)) = &cmd.node {
            exclusive |= takes_access_exclusive(cmd);
            check_columns(model, statement, &name, &columns_needed(cmd), findings);
            if let Some((other, needed)) = referenced_columns(cmd) {
                check_columns(model, statement, &other, &needed, findings);
            }
            check_alter_cmd(model, statement, &name, cmd, findings);
            track_alter_cmd(model, statement, &name, cmd);
        }
    }
    exclusive.then_some(name)
}

/// A RENAME: the old name is checked against the model before the rename changes it.
fn check_rename_statement(
    model: &mut Model,
    statement: &Statement,
    rename: &pg_query::protobuf::RenameStmt,
    gathered: &mut Gathered,
    findings: &mut Vec<Finding>,
) {
    if let Some(relation) = &rename.relation {
        let name = gathered.target(relation);
        if !rename.missing_ok {
            let mut old = Uses::default();
            old.references.push(refs::Reference {
                kind: Kind::Relation,
                name,
                location: relation.location.max(0) as usize,
            });
            resolve(model, statement, &old, None, findings);
        }
    }
    check_rename(
        model,
        statement,
        rename,
        &mut gathered.access_exclusive_on,
        findings,
    )
}

/// The columns a `CREATE TABLE` declares; `None` when it takes columns from elsewhere.
fn declared_columns(create: &pg_query::protobuf::CreateStmt) -> Option<BTreeSet<String>> {
    if !create.inh_relations.is_empty()
        || create.partbound.is_some()
        || create.of_typename.is_some()
    {
        return None;
    }
    let mut columns = BTreeSet::new();
    for element in &create.table_elts {
        match &element.node {
            Some(NodeEnum::ColumnDef(def)) => {
                columns.insert(def.colname.clone());
            }
            Some(NodeEnum::Constraint(_)) => {}
            _ => return None,
        }
    }
    Some(columns)
}

/// `VOLATILE` unless the function says `STABLE` or `IMMUTABLE`, as Postgres defaults.
fn volatility(function: &pg_query::protobuf::CreateFunctionStmt) -> String {
    function
        .options
        .iter()
        .find_map(|option| match &option.node {
            Some(NodeEnum::DefElem(def)) if def.defname == "volatility" => {
                match def.arg.as_deref().and_then(|a| a.node.as_ref()) {
                    Some(NodeEnum::String(s)) => Some(s.sval.clone()),
                    _ => None,
                }
            }
            _ => None,
        })
        .unwrap_or_else(|| "volatile".to_string())
}

/// The column names of an INSERT's column list or an UPDATE's SET.
fn target_names(targets: &[Node]) -> Vec<String> {
    targets
        .iter()
        .filter_map(|t| match &t.node {
            Some(NodeEnum::ResTarget(r)) if !r.name.is_empty() => Some(r.name.clone()),
            _ => None,
        })
        .collect()
}

/// Columns of its own table an ALTER TABLE subcommand needs to exist.
fn columns_needed(cmd: &AlterTableCmd) -> Vec<String> {
    use AlterTableType::*;
    let subtype = AlterTableType::try_from(cmd.subtype).unwrap_or(Undefined);
    let mut needed = Vec::new();
    let on_column = matches!(
        subtype,
        AtColumnDefault
            | AtDropNotNull
            | AtSetNotNull
            | AtSetExpression
            | AtSetStatistics
            | AtSetStorage
            | AtSetCompression
            | AtSetOptions
            | AtResetOptions
            | AtAlterColumnType
            | AtAddIdentity
            | AtSetIdentity
    ) || (matches!(subtype, AtDropColumn | AtDropIdentity | AtDropExpression)
        && !cmd.missing_ok);
    if on_column && !cmd.name.is_empty() {
        needed.push(cmd.name.clone());
    }
    if let (AtAddConstraint, Some(NodeEnum::Constraint(c))) =
        (subtype, cmd.def.as_deref().and_then(|d| d.node.as_ref()))
    {
        for list in [&c.keys, &c.including, &c.fk_attrs] {
            needed.extend(refs::node_strings(list));
        }
    }
    needed
}

/// The referenced table and columns of a foreign key being added.
fn referenced_columns(cmd: &AlterTableCmd) -> Option<(QualifiedName, Vec<String>)> {
    let Some(NodeEnum::Constraint(c)) = cmd.def.as_deref().and_then(|d| d.node.as_ref()) else {
        return None;
    };
    let table = c.pktable.as_ref()?;
    Some((
        QualifiedName::new(&table.schemaname, &table.relname),
        refs::node_strings(&c.pk_attrs),
    ))
}

/// A statement that needs columns: each must exist as the earlier statements leave the table.
fn check_columns(
    model: &Model,
    statement: &Statement,
    table: &QualifiedName,
    columns: &[String],
    findings: &mut Vec<Finding>,
) {
    if !model.objects.contains(Kind::Relation, table) {
        return; // the missing table itself is reported
    }
    for column in columns {
        let Some(why) = model.columns.missing(&table.name, column) else {
            continue;
        };
        findings.extend(statement.finding(
            rule::DEPENDENCIES,
            Severity::Error,
            statement.line,
            format!(
                "needs the column `{table}.{column}`, which {why}: Postgres fails with 42703 (column does not \
                 exist); fix: use the column's new name, or move this statement before the one that removes it"
            ),
        ));
    }
}

/// What an ALTER TABLE subcommand changes in the model, after it was checked.
fn track_alter_cmd(
    model: &mut Model,
    statement: &Statement,
    table: &QualifiedName,
    cmd: &AlterTableCmd,
) {
    use AlterTableType::*;
    let subtype = AlterTableType::try_from(cmd.subtype).unwrap_or(Undefined);
    let def = cmd.def.as_deref().and_then(|d| d.node.as_ref());
    let key = (table.name.clone(), cmd.name.clone());
    match (subtype, def) {
        (AtAddColumn, Some(NodeEnum::ColumnDef(def))) => {
            model.columns.add(&table.name, &def.colname)
        }
        (AtDropColumn, _) => model
            .columns
            .drop_column(&table.name, &cmd.name, &statement.at()),
        (AtAddConstraint, Some(NodeEnum::Constraint(c))) => {
            if let Some(column) = refs::not_null_check_column(c) {
                model.not_null_checks.insert(
                    (table.name.clone(), c.conname.clone()),
                    (column, !c.skip_validation),
                );
            }
        }
        (AtValidateConstraint, _) => {
            if let Some(check) = model.not_null_checks.get_mut(&key) {
                check.1 = true;
            }
        }
        (AtDropConstraint, _) => {
            model.not_null_checks.remove(&key);
        }
        _ => {}
    }
}

fn dropped_now(model: &Model, name: &QualifiedName) -> bool {
    model.dropped.contains(&name.name) && model.live.table(name).is_some()
}

fn create_relation(model: &mut Model, name: &QualifiedName) {
    model.objects.add(Kind::Relation, name);
    model.created.insert(name.name.clone());
    model.dropped.remove(&name.name);
}

fn add_named(model: &mut Model, kind: Kind, parts: &[Node]) {
    if let Some(name) = QualifiedName::from_parts(&refs::node_strings(parts)) {
        model.objects.add(kind, &name);
    }
}

/// Every reference must exist locally (as the earlier statements leave it).
fn resolve(
    model: &Model,
    statement: &Statement,
    uses: &Uses,
    in_body_of: Option<&QualifiedName>,
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
        let gone = match reference.kind {
            Kind::Relation => model.columns.table_gone(&reference.name.name),
            _ => None,
        };
        let message = match gone {
            Some(gone) => format!(
                "{place} relation `{}`, which was {gone}: Postgres fails with 42P01 (relation does not exist); \
                 fix: use its new name, or move this statement before the one that removes it",
                reference.name
            ),
            None => format!(
                "{place} {} `{}`, which neither the local database nor an earlier pending statement has; \
                 fix: create it in an earlier migration",
                reference.kind.label(),
                reference.name
            ),
        };
        if let Some(mut finding) =
            statement.finding(rule::DEPENDENCIES, Severity::Error, line, message)
        {
            finding.missing = Some((reference.kind, reference.name.clone()));
            findings.push(finding);
        }
    }
}

/// A finding's rule, severity and message, for checks that leave the statement's location to
/// their caller.
type Push<'p> = dyn FnMut(&'static str, Severity, String) + 'p;

fn check_alter_cmd(
    model: &Model,
    statement: &Statement,
    table: &QualifiedName,
    cmd: &AlterTableCmd,
    findings: &mut Vec<Finding>,
) {
    let existing = model.existing(table);
    let subtype = AlterTableType::try_from(cmd.subtype).unwrap_or(AlterTableType::Undefined);
    let def = cmd.def.as_deref().and_then(|d| d.node.as_ref());
    let (sized, note) = model.severity_by_size(table);
    let mut push = |rule, severity, message: String| {
        findings.extend(statement.finding(rule, severity, statement.line, message));
    };
    match (subtype, def) {
        (AlterTableType::AtAddColumn, Some(NodeEnum::ColumnDef(def))) if existing => {
            for (rule, severity, message) in added_column_hazards(model, table, def, &note) {
                push(rule, severity.unwrap_or(sized), message);
            }
        }
        (AlterTableType::AtSetNotNull, _)
            if existing && !model.proven_not_null(table, &cmd.name) =>
        {
            push(
                rule::SET_NOT_NULL,
                sized,
                set_not_null_message(table, &cmd.name, &note),
            );
        }
        (AlterTableType::AtDropColumn, _) => {
            check_drop_column(model, table, &cmd.name, existing, &mut push)
        }
        (AlterTableType::AtAlterColumnType, _) => {
            let new_type = match def {
                Some(NodeEnum::ColumnDef(d)) => d.type_name.as_ref(),
                _ => None,
            };
            let sized = (sized, note.as_str());
            check_type_change(
                model, table, &cmd.name, new_type, existing, sized, &mut push,
            )
        }
        (AlterTableType::AtAddConstraint, Some(NodeEnum::Constraint(constraint))) if existing => {
            if let Some((rule, message)) = constraint_hazard(table, constraint, &note) {
                push(rule, sized, message);
            }
        }
        _ => {}
    }
}

fn set_not_null_message(table: &QualifiedName, column: &str, note: &str) -> String {
    format!(
        "SET NOT NULL on `{table}.{column}` scans every row to check it while holding an ACCESS \
         EXCLUSIVE lock (no reads or writes){note}; fix: ADD CONSTRAINT {0}_{column}_not_null CHECK \
         ({column} IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT it in a later migration (SHARE UPDATE \
         EXCLUSIVE: traffic goes on), then SET NOT NULL (Postgres 12+ trusts the check and skips the \
         scan) and drop the check",
        table.name
    )
}

/// `DROP COLUMN`: running code may still read it, and views and functions must not use it.
fn check_drop_column(
    model: &Model,
    table: &QualifiedName,
    column: &str,
    existing: bool,
    push: &mut Push,
) {
    if existing {
        push(
            rule::DROP_COLUMN,
            Severity::Warning,
            format!(
                "drops the column `{table}.{column}` (ACCESS EXCLUSIVE lock, brief) while running code may still \
                 read it; fix: stop using it in a deployed release first, then drop it in a later migration"
            ),
        );
    }
    for user in column_users(model, table, column, |_| true) {
        push(
            rule::DEPENDENCIES,
            Severity::Error,
            format!(
                "drops the column `{table}.{column}`, which {} `{}` still uses; fix: change or drop the {} first",
                user.kind, user.name, user.kind
            ),
        );
    }
}

/// `ALTER COLUMN TYPE`: a change that rewrites the existing table, and views using the column
/// (Postgres refuses to change it under them). `sized` is the rewrite's severity and its note.
fn check_type_change(
    model: &Model,
    table: &QualifiedName,
    column: &str,
    new_type: Option<&pg_query::protobuf::TypeName>,
    existing: bool,
    (sized, note): (Severity, &str),
    push: &mut Push,
) {
    let old_type = model.live.table(table).and_then(|c| c.get(column));
    if let (true, Some(new_type), Some(old_type)) = (existing, new_type, old_type) {
        if rewrites(old_type, new_type) {
            push(
                rule::TYPE_CHANGE,
                sized,
                format!(
                    "changing `{table}.{column}` from {old_type} rewrites the whole table (and its indexes) under \
                     an ACCESS EXCLUSIVE lock{note}; fix: add a new column, backfill it in batches, and \
                     switch over"
                ),
            );
        }
    }
    for user in column_users(model, table, column, |u| u.kind == "view") {
        push(
            rule::DEPENDENCIES,
            Severity::Error,
            format!(
                "changes the type of `{table}.{column}`, which view `{}` uses (Postgres refuses); \
                 fix: drop the view before and create it again after",
                user.name
            ),
        );
    }
}

/// What adding `def` to the existing `table` risks: each as (rule, fixed severity or `None`
/// for one by the table's size, message).
fn added_column_hazards(
    model: &Model,
    table: &QualifiedName,
    def: &ColumnDef,
    note: &str,
) -> Vec<(&'static str, Option<Severity>, String)> {
    let column = &def.colname;
    let mut hazards = Vec::new();
    if required_without_default(def) {
        hazards.push((
            rule::NOT_NULL,
            Some(Severity::Error),
            format!(
                "adds the NOT NULL column `{column}` without a default to the existing table `{table}`: \
                 it fails (23502) as soon as the table has a row, after taking an ACCESS EXCLUSIVE lock; fix: give it a DEFAULT, or add it nullable, \
                 backfill, then SET NOT NULL in a later migration"
            ),
        ));
    }
    let primary = has_constraint(def, &[ConstrType::ConstrPrimary]);
    if primary && integer_type(def).is_some() {
        let type_name = integer_type(def).unwrap_or_default();
        hazards.push((
            rule::INTEGER_PRIMARY_KEY,
            None,
            format!(
                "adds the {type_name} primary key `{column}` to `{table}`: a 32-bit (or smaller) key runs out \
                 (2,147,483,647 for int), and adding it rewrites the table and builds its index under an ACCESS \
                 EXCLUSIVE lock{note}; fix: use `bigint GENERATED BY DEFAULT AS IDENTITY`; on a big table add it \
                 nullable, backfill in batches, CREATE UNIQUE INDEX CONCURRENTLY, then ADD PRIMARY KEY USING INDEX"
            ),
        ));
    } else if has_constraint(def, &[ConstrType::ConstrPrimary, ConstrType::ConstrUnique]) {
        hazards.push((
            rule::UNIQUE_WITHOUT_INDEX,
            None,
            format!(
                "adds `{column}` with a unique index built on `{table}` under an ACCESS EXCLUSIVE lock{note}; fix: \
                 add the column, CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... UNIQUE USING INDEX"
            ),
        ));
    }
    if let Some(why) = rewriting_default(model, def) {
        hazards.push((
            rule::VOLATILE_DEFAULT,
            None,
            format!(
                "adds `{table}.{column}` with {why}: Postgres rewrites the whole table to fill it in, holding an \
                 ACCESS EXCLUSIVE lock (no reads or writes) until it is done{note}; fix: add the column without \
                 a default (a constant default costs nothing on Postgres 11+), SET DEFAULT for new rows, and \
                 fill existing rows in batches"
            ),
        ));
    }
    hazards
}

/// Why a new column's value makes Postgres rewrite the table: a volatile default, a serial,
/// an identity, or a stored generated expression (Postgres 11+ stores a constant default
/// without touching the rows).
fn rewriting_default(model: &Model, def: &ColumnDef) -> Option<String> {
    if integer_serial(def) {
        return Some("a serial type (its default, nextval(), is volatile)".to_string());
    }
    for constraint in constraints(def) {
        match ConstrType::try_from(constraint.contype).unwrap_or(ConstrType::Undefined) {
            ConstrType::ConstrIdentity => {
                return Some("an identity (every row needs its own value)".to_string())
            }
            ConstrType::ConstrGenerated if constraint.generated_kind != "v" => {
                return Some("a stored generated expression".to_string())
            }
            ConstrType::ConstrDefault => {
                let expression = constraint.raw_expr.as_deref()?;
                let uses = refs::uses_of(expression);
                if let Some(function) = uses
                    .references
                    .iter()
                    .find(|r| r.kind == Kind::Function && model.volatile.contains(&r.name.name))
                {
                    return Some(format!("the volatile default `{}()`", function.name));
                }
            }
            _ => {}
        }
    }
    None
}

fn constraints(def: &ColumnDef) -> impl Iterator<Item = &pg_query::protobuf::Constraint> {
    def.constraints.iter().filter_map(|c| match &c.node {
        Some(NodeEnum::Constraint(c)) => Some(c.as_ref()),
        _ => None,
    })
}

fn has_constraint(def: &ColumnDef, kinds: &[ConstrType]) -> bool {
    constraints(def).any(|c| kinds.iter().any(|k| *k as i32 == c.contype))
}

/// The column's type name when it is a 32-bit or smaller integer (or serial).
fn integer_type(def: &ColumnDef) -> Option<String> {
    let names = refs::node_strings(&def.type_name.as_ref()?.names);
    let last = names.last()?;
    [
        "int4",
        "int2",
        "int",
        "integer",
        "smallint",
        "serial",
        "serial4",
        "serial2",
        "smallserial",
    ]
    .contains(&last.as_str())
    .then(|| last.clone())
}

fn integer_serial(def: &ColumnDef) -> bool {
    def.type_name
        .as_ref()
        .map(|t| refs::node_strings(&t.names))
        .is_some_and(|n| n.len() == 1 && n[0].contains("serial"))
}

/// A constraint added to an existing table that checks or indexes every row under its lock.
fn constraint_hazard(
    table: &QualifiedName,
    constraint: &pg_query::protobuf::Constraint,
    note: &str,
) -> Option<(&'static str, String)> {
    let kind = ConstrType::try_from(constraint.contype).unwrap_or(ConstrType::Undefined);
    let not_valid = constraint.skip_validation;
    match kind {
        ConstrType::ConstrForeign if !not_valid => Some((
            rule::FOREIGN_KEY_NOT_VALID,
            format!(
                "adds a FOREIGN KEY to the existing table `{table}`, which checks every row while holding SHARE ROW \
                 EXCLUSIVE locks on it and on the referenced table (no writes to either){note}; fix: add it NOT \
                 VALID, then VALIDATE CONSTRAINT in a later migration (SHARE UPDATE EXCLUSIVE: writes go on)"
            ),
        )),
        ConstrType::ConstrCheck if !not_valid => Some((
            rule::CHECK_NOT_VALID,
            format!(
                "adds a CHECK constraint to the existing table `{table}`, which checks every row while holding an \
                 ACCESS EXCLUSIVE lock (no reads or writes){note}; fix: add it NOT VALID, then VALIDATE CONSTRAINT \
                 in a later migration (SHARE UPDATE EXCLUSIVE: traffic goes on)"
            ),
        )),
        ConstrType::ConstrUnique | ConstrType::ConstrPrimary if constraint.indexname.is_empty() => {
            let what = match kind {
                ConstrType::ConstrUnique => "UNIQUE",
                _ => "PRIMARY KEY",
            };
            Some((
                rule::UNIQUE_WITHOUT_INDEX,
                format!(
                    "adds a {what} constraint to the existing table `{table}`, which builds its index while holding \
                     an ACCESS EXCLUSIVE lock (no reads or writes){note}; fix: CREATE UNIQUE INDEX CONCURRENTLY \
                     first (a migration of its own), then ADD CONSTRAINT ... {what} USING INDEX, which only takes \
                     the lock briefly"
                ),
            ))
        }
        _ => None,
    }
}

fn column_users<'m>(
    model: &'m Model,
    table: &QualifiedName,
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
    access_exclusive_on: &mut Option<QualifiedName>,
    findings: &mut Vec<Finding>,
) {
    let object_type = ObjectType::try_from(drop.remove_type).unwrap_or(ObjectType::Undefined);
    if object_type == ObjectType::ObjectIndex {
        return check_drop_index(model, statement, drop, access_exclusive_on, findings);
    }
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
    let names: Vec<QualifiedName> = drop.objects.iter().filter_map(object_name).collect();
    for name in &names {
        if kind == Kind::Relation {
            let was_existing = model.existing(name);
            if object_type == ObjectType::ObjectTable && was_existing {
                findings.extend(statement.finding(
                    rule::DROP_TABLE,
                    Severity::Warning,
                    statement.line,
                    format!(
                        "drops the existing table `{name}` (ACCESS EXCLUSIVE lock) while running code may still use it; fix: stop using it \
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
            model.columns.drop_table(&name.name, &statement.at());
        }
        model.objects.remove(kind, name);
        if kind != Kind::Type {
            model.users.retain(|u| u.name.name != name.name);
        }
    }
}

/// DROP INDEX without CONCURRENTLY of an index the live database has, on an existing table.
fn check_drop_index(
    model: &mut Model,
    statement: &Statement,
    drop: &pg_query::protobuf::DropStmt,
    access_exclusive_on: &mut Option<QualifiedName>,
    findings: &mut Vec<Finding>,
) {
    for index in drop.objects.iter().filter_map(object_name) {
        let created = model.created_indexes.remove(&index.name);
        let Some(table) = model.live.indexes.get(&index.name) else {
            continue;
        };
        if drop.concurrent || created || !model.existing(table) {
            continue;
        }
        findings.extend(statement.finding(
            rule::DROP_INDEX_CONCURRENTLY,
            Severity::Warning,
            statement.line,
            format!(
                "DROP INDEX `{index}` takes an ACCESS EXCLUSIVE lock on `{table}`: it waits for every running query \
                 on the table, and every new one waits behind it; fix: DROP INDEX CONCURRENTLY (outside a \
                 transaction: devdb runs such a migration statement by statement)"
            ),
        ));
        access_exclusive_on.get_or_insert(table.clone());
    }
}

/// The name of a DROP's object: a list of strings, a function with arguments, or a type name.
fn object_name(node: &Node) -> Option<QualifiedName> {
    match node.node.as_ref()? {
        NodeEnum::List(list) => QualifiedName::from_parts(&refs::node_strings(&list.items)),
        NodeEnum::ObjectWithArgs(object) => {
            QualifiedName::from_parts(&refs::node_strings(&object.objname))
        }
        NodeEnum::TypeName(type_name) => {
            QualifiedName::from_parts(&refs::node_strings(&type_name.names))
        }
        NodeEnum::String(s) => Some(QualifiedName::new("", &s.sval)),
        _ => None,
    }
}

fn check_rename(
    model: &mut Model,
    statement: &Statement,
    rename: &pg_query::protobuf::RenameStmt,
    access_exclusive_on: &mut Option<QualifiedName>,
    findings: &mut Vec<Finding>,
) {
    let object_type = ObjectType::try_from(rename.rename_type).unwrap_or(ObjectType::Undefined);
    let Some(relation) = &rename.relation else {
        rename_function_or_type(model, rename, object_type);
        return;
    };
    let table = QualifiedName::new(&relation.schemaname, &relation.relname);
    let existing = model.existing(&table);
    if object_type == ObjectType::ObjectColumn && !rename.missing_ok {
        let old = [rename.subname.clone()];
        check_columns(model, statement, &table, &old, findings);
    }
    let what = match object_type {
        ObjectType::ObjectColumn => format!("the column `{table}.{}`", rename.subname),
        _ => format!("`{table}`"),
    };
    check_renamed_in_bodies(model, statement, &table, rename, &what, findings);
    if object_type == ObjectType::ObjectColumn {
        let at = statement.at();
        model
            .columns
            .rename_column(&table.name, &rename.subname, &rename.newname, &at);
    }
    let table_like = matches!(
        object_type,
        ObjectType::ObjectTable | ObjectType::ObjectColumn
    );
    if existing && table_like {
        let rule = match object_type {
            ObjectType::ObjectColumn => rule::RENAME_COLUMN,
            _ => rule::RENAME_TABLE,
        };
        findings.extend(statement.finding(
            rule,
            Severity::Warning,
            statement.line,
            format!(
                "renames {what} (ACCESS EXCLUSIVE lock, brief) while running code still uses the old name; fix: add the new one alongside, \
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
        rename_relation(model, statement, &table, &rename.newname);
    }
}

/// `ALTER FUNCTION|TYPE ... RENAME TO`: the object goes by its new name in the same schema.
fn rename_function_or_type(
    model: &mut Model,
    rename: &pg_query::protobuf::RenameStmt,
    object_type: ObjectType,
) {
    let kind = match object_type {
        ObjectType::ObjectFunction => Kind::Function,
        ObjectType::ObjectType => Kind::Type,
        _ => return,
    };
    if let Some(old) = rename.object.as_deref().and_then(object_name) {
        model.objects.remove(kind, &old);
        model.objects.add(
            kind,
            &QualifiedName {
                schema: old.schema,
                name: rename.newname.clone(),
            },
        );
    }
}

/// Function bodies that name the renamed table or column (they do not follow renames).
fn check_renamed_in_bodies(
    model: &Model,
    statement: &Statement,
    table: &QualifiedName,
    rename: &pg_query::protobuf::RenameStmt,
    what: &str,
    findings: &mut Vec<Finding>,
) {
    let function_users: Vec<&User> = if rename.rename_type == ObjectType::ObjectColumn as i32 {
        column_users(model, table, &rename.subname, |u| u.kind == "function")
    } else {
        model
            .users_of(&table.name, table)
            .into_iter()
            .filter(|u| u.kind == "function")
            .collect()
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
}

/// A renamed relation: it exists under its new name, its columns go with it, and views follow
/// it (they hold its id); function bodies do not.
fn rename_relation(
    model: &mut Model,
    statement: &Statement,
    table: &QualifiedName,
    new_name: &str,
) {
    model.objects.remove(Kind::Relation, table);
    let renamed = QualifiedName {
        schema: table.schema.clone(),
        name: new_name.to_string(),
    };
    model.objects.add(Kind::Relation, &renamed);
    model
        .columns
        .rename_table(&table.name, new_name, &statement.at());
    for user in model.users.iter_mut().filter(|u| u.kind == "view") {
        if user.relations.remove(&table.name) {
            user.relations.insert(new_name.to_string());
        }
    }
    if model.created.remove(&table.name) {
        model.created.insert(new_name.to_string());
    }
}

fn check_lock_timeout(
    state: &mut FileState,
    statement: &Statement,
    table: &QualifiedName,
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
