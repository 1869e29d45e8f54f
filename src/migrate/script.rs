//! Splitting a migration into statements and deciding how it may run, with Postgres's own
//! parser (pg_query wraps libpg_query). String search would be fooled by dollar-quoted bodies,
//! `DO` blocks and comments; the parser is not.

use pg_query::protobuf::TransactionStmtKind;
use pg_query::NodeEnum;

/// One top-level statement of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub text: String,
    /// Byte offset of the statement's first token in the script.
    pub offset: usize,
    /// 1-based line of the statement's first token.
    pub line: usize,
    /// Set for BEGIN/COMMIT/ROLLBACK written in the file.
    pub control: Option<TxControl>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxControl {
    Begin,
    Commit,
    Rollback,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Devdb wraps the whole migration in one transaction.
    Transaction,
    /// Statements run one by one, outside a transaction devdb opens; the reason says why.
    NoTransaction { reason: String },
}

#[derive(Debug, Clone)]
pub struct Script {
    pub statements: Vec<Statement>,
    pub mode: Mode,
}

impl Script {
    /// Parses `sql`. Text the parser rejects becomes one statement that runs in a transaction,
    /// so Postgres reports the error (with its position) and nothing is applied.
    pub fn parse(sql: &str) -> Script {
        let parsed = match pg_query::parse(sql, 0) {
            Ok(parsed) => parsed,
            Err(_) => {
                let offset = first_token(sql, 0);
                return Script {
                    statements: vec![Statement {
                        text: sql[offset..].to_string(),
                        offset,
                        line: line_of(sql, offset),
                        control: None,
                    }],
                    mode: Mode::Transaction,
                };
            }
        };
        let mut statements = Vec::new();
        let mut transaction_control = None;
        let mut needs_no_transaction = None;
        let mut added_enum_values: Vec<(String, usize)> = Vec::new();
        let mut enum_value_used = None;
        for raw in &parsed.protobuf.stmts {
            let start = raw.stmt_location.max(0) as usize;
            let end = if raw.stmt_len == 0 {
                sql.len()
            } else {
                start + raw.stmt_len as usize
            };
            let offset = first_token(sql, start);
            let text = sql[offset..end.min(sql.len())].trim_end().to_string();
            let line = line_of(sql, offset);
            let node = raw.stmt.as_ref().and_then(|n| n.node.as_ref());
            let control = node.and_then(transaction_statement);
            if let Some(control) = control {
                let what = match control {
                    TxControl::Begin => "BEGIN",
                    TxControl::Commit => "COMMIT",
                    TxControl::Rollback => "ROLLBACK",
                };
                transaction_control.get_or_insert(format!(
                    "it controls its own transactions ({what} at line {line})"
                ));
            }
            if let Some(what) = node.and_then(refuses_transaction) {
                needs_no_transaction.get_or_insert(format!(
                    "{what} at line {line} cannot run inside a transaction block"
                ));
            }
            for (value, added_line) in &added_enum_values {
                if enum_value_used.is_none() && text.contains(&format!("'{value}'")) {
                    enum_value_used = Some(format!(
                        "the enum value '{value}' added at line {added_line} is used at line {line}, \
                         which Postgres refuses inside one transaction"
                    ));
                }
            }
            if let Some(NodeEnum::AlterEnumStmt(alter)) = node {
                if !alter.new_val.is_empty() && alter.old_val.is_empty() {
                    added_enum_values.push((alter.new_val.clone(), line));
                }
            }
            statements.push(Statement {
                text,
                offset,
                line,
                control,
            });
        }
        let mode = match transaction_control
            .or(needs_no_transaction)
            .or(enum_value_used)
        {
            Some(reason) => Mode::NoTransaction { reason },
            None => Mode::Transaction,
        };
        Script { statements, mode }
    }
}

fn transaction_statement(node: &NodeEnum) -> Option<TxControl> {
    let NodeEnum::TransactionStmt(stmt) = node else {
        return None;
    };
    match TransactionStmtKind::try_from(stmt.kind).ok()? {
        TransactionStmtKind::TransStmtBegin | TransactionStmtKind::TransStmtStart => {
            Some(TxControl::Begin)
        }
        TransactionStmtKind::TransStmtCommit => Some(TxControl::Commit),
        TransactionStmtKind::TransStmtRollback => Some(TxControl::Rollback),
        _ => None,
    }
}

/// Statements Postgres refuses to run inside a transaction block.
pub fn refuses_transaction(node: &NodeEnum) -> Option<&'static str> {
    match node {
        NodeEnum::IndexStmt(index) if index.concurrent => Some("CREATE INDEX CONCURRENTLY"),
        NodeEnum::DropStmt(drop) if drop.concurrent => Some("DROP INDEX CONCURRENTLY"),
        NodeEnum::ReindexStmt(reindex)
            if reindex.params.iter().any(
                |p| matches!(&p.node, Some(NodeEnum::DefElem(d)) if d.defname == "concurrently"),
            ) =>
        {
            Some("REINDEX CONCURRENTLY")
        }
        NodeEnum::VacuumStmt(vacuum) if vacuum.is_vacuumcmd => Some("VACUUM"),
        NodeEnum::CreatedbStmt(_) => Some("CREATE DATABASE"),
        NodeEnum::DropdbStmt(_) => Some("DROP DATABASE"),
        NodeEnum::AlterSystemStmt(_) => Some("ALTER SYSTEM"),
        NodeEnum::CreateTableSpaceStmt(_) => Some("CREATE TABLESPACE"),
        NodeEnum::DropTableSpaceStmt(_) => Some("DROP TABLESPACE"),
        _ => None,
    }
}

/// Skips whitespace and comments from `from`, returning the offset of the next token.
fn first_token(sql: &str, from: usize) -> usize {
    let bytes = sql.as_bytes();
    let mut i = from.min(bytes.len());
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if bytes[i..].starts_with(b"--") {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if bytes[i..].starts_with(b"/*") {
            // Block comments nest in Postgres.
            let mut depth = 0;
            while i < bytes.len() {
                if bytes[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if bytes[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else {
            return i;
        }
    }
}

/// 1-based line number of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(script: &Script) -> Vec<usize> {
        script.statements.iter().map(|s| s.line).collect()
    }

    #[test]
    fn plain_ddl_runs_in_one_transaction() {
        let script = Script::parse(
            "-- CreateTable\nCREATE TABLE a (id int);\n\n/* two */\nCREATE INDEX a_id ON a (id);\n",
        );
        assert_eq!(script.mode, Mode::Transaction);
        assert_eq!(lines(&script), [2, 5]);
        assert_eq!(script.statements[1].text, "CREATE INDEX a_id ON a (id)");
    }

    #[test]
    fn dollar_quoting_and_do_blocks_do_not_confuse_it() {
        let sql = "CREATE FUNCTION f() RETURNS text AS $body$\nBEGIN\n  -- COMMIT; VACUUM;\n  RETURN 'x; COMMIT;';\nEND\n$body$ LANGUAGE plpgsql;\n\
                   DO $do$\nBEGIN\n  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'r') THEN\n    EXECUTE $q$CREATE ROLE r$q$;\n  END IF;\nEND\n$do$;\n\
                   SELECT 'BEGIN; CREATE INDEX CONCURRENTLY x ON y (z);';\n";
        let script = Script::parse(sql);
        assert_eq!(script.mode, Mode::Transaction, "{:?}", script.mode);
        assert_eq!(lines(&script), [1, 7, 14]);
    }

    #[test]
    fn nested_dollar_quotes() {
        let sql = "DO $outer$\nBEGIN\n  EXECUTE $inner$ SELECT ';' $inner$;\nEND\n$outer$;\nCREATE TABLE t (id int);";
        let script = Script::parse(sql);
        assert_eq!(script.statements.len(), 2);
        assert_eq!(script.mode, Mode::Transaction);
    }

    #[test]
    fn explicit_transactions_take_over() {
        let script = Script::parse("BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;\n");
        assert!(
            matches!(&script.mode, Mode::NoTransaction { reason } if reason.contains("BEGIN at line 1"))
        );
        assert_eq!(script.statements.len(), 3);
    }

    #[test]
    fn concurrently_and_vacuum_refuse_transactions() {
        let script = Script::parse(
            "CREATE TABLE a (id int);\n-- note\nCREATE INDEX CONCURRENTLY a_id ON a (id);\n",
        );
        assert!(
            matches!(&script.mode, Mode::NoTransaction { reason } if reason.contains("CREATE INDEX CONCURRENTLY at line 3")),
            "{:?}",
            script.mode
        );
        assert!(matches!(
            Script::parse("VACUUM ANALYZE a;").mode,
            Mode::NoTransaction { .. }
        ));
        assert!(matches!(
            Script::parse("DROP INDEX CONCURRENTLY a_id;").mode,
            Mode::NoTransaction { .. }
        ));
        assert!(matches!(
            Script::parse("REINDEX (CONCURRENTLY) INDEX a_id;").mode,
            Mode::NoTransaction { .. }
        ));
        assert_eq!(
            Script::parse("CREATE INDEX a_id ON a (id);").mode,
            Mode::Transaction
        );
    }

    #[test]
    fn enum_value_used_after_adding_it() {
        let added_only = Script::parse("ALTER TYPE mood ADD VALUE 'calm';");
        assert_eq!(added_only.mode, Mode::Transaction);
        let used =
            Script::parse("ALTER TYPE mood ADD VALUE 'calm';\nUPDATE people SET mood = 'calm';");
        assert!(matches!(&used.mode, Mode::NoTransaction { reason } if reason.contains("'calm'")));
    }

    #[test]
    fn unparsable_text_is_left_to_postgres() {
        let script = Script::parse("\n\nCREATE TABLE (;\n");
        assert_eq!(script.statements.len(), 1);
        assert_eq!(script.statements[0].line, 3);
        assert_eq!(script.mode, Mode::Transaction);
    }

    #[test]
    fn empty_script_has_no_statements() {
        assert!(Script::parse("-- nothing yet\n").statements.is_empty());
    }
}
