//! `devdb lint`: the pending migrations checked before they run, with Postgres's own parser.
//! Two families of rules: dependencies (every relation, function and type a statement, view or
//! function body names must exist by then; nothing still used may be dropped), and changes that
//! are unsafe on a live stage (squawk's and Atlas's classics). Each finding names its rule, the
//! file and line, and the fix; `-- devdb:allow RULE` on a statement opts it out.

mod catalog;
mod check;
mod columns;
mod refs;

use std::path::Path;

use serde::Serialize;
use tokio_postgres::Client;

use crate::hint::Hint;
use crate::migrate::{self, MigrationFile};
use crate::pg::QualifiedName;
use refs::Kind;

/// Rule ids, as findings and `-- devdb:allow` comments name them.
pub mod rule {
    pub const DEPENDENCIES: &str = "dependencies";
    pub const NOT_NULL: &str = "not-null-without-default";
    pub const VOLATILE_DEFAULT: &str = "volatile-default";
    pub const SET_NOT_NULL: &str = "set-not-null";
    pub const UNIQUE_WITHOUT_INDEX: &str = "unique-without-index";
    pub const INDEX_CONCURRENTLY: &str = "index-without-concurrently";
    pub const DROP_INDEX_CONCURRENTLY: &str = "drop-index-without-concurrently";
    pub const NON_TRANSACTIONAL: &str = "non-transactional-in-transaction";
    pub const TYPE_CHANGE: &str = "rewriting-type-change";
    pub const FOREIGN_KEY_NOT_VALID: &str = "foreign-key-without-not-valid";
    pub const CHECK_NOT_VALID: &str = "check-without-not-valid";
    pub const INTEGER_PRIMARY_KEY: &str = "integer-primary-key";
    pub const DROP_COLUMN: &str = "drop-column";
    pub const DROP_TABLE: &str = "drop-table";
    pub const RENAME_COLUMN: &str = "rename-column";
    pub const RENAME_TABLE: &str = "rename-table";
    pub const ENUM_VALUE: &str = "enum-value-in-transaction";
    pub const LOCK_TIMEOUT: &str = "lock-timeout";
    pub const SYNTAX: &str = "syntax";
    pub const ALL: [&str; 19] = [
        DEPENDENCIES,
        NOT_NULL,
        VOLATILE_DEFAULT,
        SET_NOT_NULL,
        UNIQUE_WITHOUT_INDEX,
        INDEX_CONCURRENTLY,
        DROP_INDEX_CONCURRENTLY,
        NON_TRANSACTIONAL,
        TYPE_CHANGE,
        FOREIGN_KEY_NOT_VALID,
        CHECK_NOT_VALID,
        INTEGER_PRIMARY_KEY,
        DROP_COLUMN,
        DROP_TABLE,
        RENAME_COLUMN,
        RENAME_TABLE,
        ENUM_VALUE,
        LOCK_TIMEOUT,
        SYNTAX,
    ];

    /// Ids of earlier releases that one rule has since been split into, still accepted in
    /// `-- devdb:allow` and `--allow-lint` so existing migrations keep their opt-outs.
    const ALIASES: [(&str, &[&str]); 2] = [
        (
            "drop-or-rename",
            &[DROP_COLUMN, DROP_TABLE, RENAME_COLUMN, RENAME_TABLE],
        ),
        (
            "constraint-without-not-valid",
            &[FOREIGN_KEY_NOT_VALID, CHECK_NOT_VALID],
        ),
    ];

    /// Whether the id `named` (a rule or an alias) covers `rule`.
    pub fn covers(named: &str, rule: &str) -> bool {
        named == rule
            || ALIASES
                .iter()
                .any(|(alias, rules)| *alias == named && rules.contains(&rule))
    }

    pub fn known(named: &str) -> bool {
        ALL.contains(&named) || ALIASES.iter().any(|(alias, _)| *alias == named)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The migration fails, or breaks something that uses what it changes.
    Error,
    /// The migration works but hurts a live database (locks, rewrites, running code).
    Warning,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub file: String,
    pub line: usize,
    pub message: String,
    /// For a missing reference: what is missing (looked up on the stage).
    #[serde(skip)]
    missing: Option<(Kind, QualifiedName)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LintReport {
    /// The migrations checked: pending on the stage, or locally.
    pub pending: Vec<String>,
    pub findings: Vec<Finding>,
}

impl LintReport {
    /// Errors not waived by `--allow-lint RULE`.
    pub fn blocking<'a>(&'a self, allowed: &'a [String]) -> impl Iterator<Item = &'a Finding> {
        self.findings.iter().filter(move |f| {
            f.severity == Severity::Error && !allowed.iter().any(|a| rule::covers(a, f.rule))
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LintError {
    #[error(transparent)]
    Migrate(#[from] migrate::MigrateError),
    #[error("reading the catalog of {target}: {}", crate::db::describe(error))]
    Catalog {
        target: String,
        error: tokio_postgres::Error,
    },
    #[error("unknown lint rule `{rule}`; the rules are: {}", rule::ALL.join(", "))]
    UnknownRule { rule: String },
}

impl LintError {
    /// What to do about it, shown apart from the message.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            LintError::Migrate(e) => e.hint(),
            LintError::Catalog { error, .. } => crate::db::postgres_hint(error),
            _ => None,
        }
    }
}

/// Where the pending migrations go: a stage (by name, with a read-only session) or local.
pub struct StageTarget<'a> {
    pub name: &'a str,
    pub client: &'a Client,
}

/// Checks the migrations pending on `stage` (or locally) against the local database's state,
/// and, with a stage, the live rules against the stage's tables.
pub async fn lint(
    files: &[MigrationFile],
    migrations_dir: &Path,
    root: &Path,
    local: &Client,
    stage: Option<StageTarget<'_>>,
) -> Result<LintReport, LintError> {
    let ledger = stage.as_ref().map_or(local, |s| s.client);
    let status = migrate::status(ledger, files).await?;
    let pending_names: Vec<String> = status.pending().map(|e| e.name.clone()).collect();
    let pending: Vec<check::Pending> = files
        .iter()
        .filter(|f| pending_names.contains(&f.name))
        .map(|f| {
            let path = migrations_dir
                .join(&f.name)
                .join(migrate::files::SCRIPT_FILE);
            let shown = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
            check::Pending {
                file: crate::config::clean_path(&shown).display().to_string(),
                text: f.script.clone(),
            }
        })
        .collect();
    if pending.is_empty() {
        return Ok(LintReport {
            pending: pending_names,
            findings: Vec::new(),
        });
    }
    let local_catalog = catalog::load(local)
        .await
        .map_err(|error| LintError::Catalog {
            target: "the local database".to_string(),
            error,
        })?;
    let stage_catalog = match &stage {
        Some(stage) => {
            Some(
                catalog::load(stage.client)
                    .await
                    .map_err(|error| LintError::Catalog {
                        target: format!("stage {}", stage.name),
                        error,
                    })?,
            )
        }
        None => None,
    };
    let live = stage_catalog.as_ref().unwrap_or(&local_catalog);
    let mut findings = check::run(
        &local_catalog,
        live,
        stage.as_ref().map(|s| s.name),
        &pending,
    );
    if let (Some(stage), Some(on_stage)) = (&stage, &stage_catalog) {
        for finding in &mut findings {
            point_at_stage(finding, stage.name, on_stage);
        }
    }
    Ok(LintReport {
        pending: pending_names,
        findings,
    })
}

/// A reference missing locally that the stage has: deploying to the stage works, the local
/// database needs it first, and `fix-missing` copies it.
fn point_at_stage(finding: &mut Finding, stage: &str, on_stage: &catalog::Catalog) {
    let Some((kind, name)) = &finding.missing else {
        return;
    };
    if !on_stage.objects.contains(*kind, name) {
        return;
    }
    let head = finding
        .message
        .split_once(", which neither")
        .map_or(finding.message.as_str(), |(head, _)| head)
        .to_string();
    let fix = match kind {
        Kind::Relation => format!("run `devdb fix-missing {name} --from {stage}`"),
        _ => format!(
            "copy its definition from {stage} into an earlier migration (`devdb fix-missing` copies \
             relations with the functions and types they need)"
        ),
    };
    finding.severity = Severity::Warning;
    finding.message = format!(
        "{head}, which stage {stage} has but the local database lacks: locally this migration fails \
         with \"{} does not exist\"; fix: {fix}",
        kind.label()
    );
}

/// Checks that every `--allow-lint` names a rule.
pub fn check_rules(rules: &[String]) -> Result<(), LintError> {
    match rules.iter().find(|r| !rule::known(r)) {
        Some(unknown) => Err(LintError::UnknownRule {
            rule: unknown.clone(),
        }),
        None => Ok(()),
    }
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

impl Finding {
    /// `file:line: severity [rule] message`, the way compilers print.
    pub fn render(&self) -> String {
        format!(
            "{}:{}: {} [{}] {}",
            self.file,
            self.line,
            self.severity.label(),
            self.rule,
            self.message
        )
    }
}
