//! `migrate deploy | status | resolve | reset | new`. Deploy's remote policy (a stage gets a
//! plan unless `--confirm`; lint errors block unless waived) is the pure `decide`, so it is
//! tested without a database.

use std::path::PathBuf;

use anyhow::{bail, Result};
use serde::Serialize;

use super::target::{self, Target};
use super::Ctx;
use crate::hint::Hint;
use crate::lint::LintReport;
use crate::migrate::{self, files, Applied, MigrationFile, Status};

fn load_files(ctx: &Ctx) -> Result<Vec<MigrationFile>> {
    let dir = ctx.config.migrations_dir();
    files::ensure_lock_file(&dir)?;
    Ok(files::discover(&dir)?)
}

pub fn new(ctx: &Ctx, name: &str) -> Result<PathBuf> {
    Ok(files::create(
        &ctx.config.migrations_dir(),
        name,
        chrono::Utc::now(),
    )?)
}

/// Lint errors that stop a deploy to a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gate {
    pub errors: usize,
    /// The first blocking finding, rendered, and its rule (what `--allow-lint` takes).
    pub first: Option<(String, String)>,
}

impl Gate {
    pub fn of(report: &LintReport, allowed: &[String]) -> Gate {
        let blocking: Vec<_> = report.blocking(allowed).collect();
        Gate {
            errors: blocking.len(),
            first: blocking.first().map(|f| (f.render(), f.rule.to_string())),
        }
    }
}

/// What deploy does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Show what `--confirm` would apply; change nothing.
    Plan,
    /// Lint found errors (the stage was confirmed); change nothing.
    Blocked {
        errors: usize,
        first: String,
        rule: String,
    },
    Apply,
}

/// The remote policy: locally deploy always applies; a stage gets the plan unless confirmed,
/// and a confirmed deploy is blocked by lint errors that `--allow-lint` did not waive.
pub fn decide(remote: bool, confirm: bool, gate: Option<&Gate>) -> Decision {
    if remote && !confirm {
        return Decision::Plan;
    }
    match gate {
        Some(Gate {
            errors,
            first: Some((first, rule)),
        }) if *errors > 0 => Decision::Blocked {
            errors: *errors,
            first: first.clone(),
            rule: rule.clone(),
        },
        _ => Decision::Apply,
    }
}

/// A deploy's inputs, read before anything changes.
pub struct Prepared {
    pub target: Target,
    pub files: Vec<MigrationFile>,
    /// What is pending on a stage, checked with lint (None locally, or when lint could not run).
    pub lint: Option<LintReport>,
}

/// Opens the target and, for a stage, lints what is pending there. Lint needs the local
/// database; when it cannot run, deploy says so and goes on without it.
pub async fn prepare(ctx: &Ctx, stage: Option<&str>, allowed: &[String]) -> Result<Prepared> {
    let files = load_files(ctx)?;
    let target = target::open(ctx, stage).await?;
    let lint = match target.remote {
        true => {
            crate::lint::check_rules(allowed)?;
            match super::lint::against(ctx, Some(&target)).await {
                Ok(report) => Some(report),
                Err(error) => {
                    ctx.shell.note(format!(
                        "warning: lint could not run ({error:#}); deploying without its checks"
                    ));
                    None
                }
            }
        }
        false => None,
    };
    Ok(Prepared {
        target,
        files,
        lint,
    })
}

/// `migrate deploy` on a stage without `--confirm`: what `--confirm` would do.
#[derive(Debug, Serialize)]
pub struct Plan {
    pub stage: String,
    /// Where it points, password redacted.
    pub target: String,
    /// Always false: a plan changes nothing.
    pub changed: bool,
    /// Pending migrations `--confirm` would apply, in order.
    pub apply: Vec<String>,
    pub modified: Vec<String>,
    pub failed: Vec<String>,
    pub missing_on_disk: Vec<String>,
    #[serde(skip)]
    pub status: Status,
}

impl Plan {
    fn of(target: &Target, status: Status) -> Plan {
        fn names<'a>(entries: impl Iterator<Item = &'a crate::migrate::Entry>) -> Vec<String> {
            entries.map(|e| e.name.clone()).collect()
        }
        Plan {
            stage: target.stage.clone(),
            target: target.description.clone(),
            changed: false,
            apply: names(status.pending()),
            modified: names(status.modified()),
            failed: names(status.failed()),
            missing_on_disk: status.missing_on_disk.clone(),
            status,
        }
    }
}

/// What a deploy applied.
#[derive(Debug, Serialize)]
pub struct Deployed {
    pub stage: String,
    pub target: String,
    pub applied: Vec<Applied>,
    /// Migrations on disk.
    #[serde(skip)]
    pub files: usize,
}

/// A confirmed deploy to a stage stopped by lint errors; nothing was changed.
#[derive(Debug, thiserror::Error)]
#[error(
    "lint found {errors} errors in the migrations pending on {stage} (first: {first}); nothing was changed"
)]
pub struct LintBlocked {
    pub stage: String,
    pub errors: usize,
    pub first: String,
    pub rule: String,
}

impl LintBlocked {
    pub fn hint(&self) -> Option<Hint> {
        Some(Hint::next(format!(
            "fix them, or pass --allow-lint {} to deploy anyway",
            self.rule
        )))
    }
}

#[derive(Debug)]
pub enum Deploy {
    Plan(Plan),
    /// Lint errors on a confirmed stage deploy; nothing changed.
    Blocked {
        errors: usize,
        first: String,
        rule: String,
    },
    Applied(Deployed),
}

/// Deploys `prepared` as `decide` says.
pub async fn deploy(
    ctx: &Ctx,
    prepared: &Prepared,
    confirm: bool,
    allowed: &[String],
) -> Result<Deploy> {
    let Prepared {
        target,
        files,
        lint,
    } = prepared;
    let gate = lint.as_ref().map(|report| Gate::of(report, allowed));
    match decide(target.remote, confirm, gate.as_ref()) {
        Decision::Plan => {
            let status = migrate::status(&target.client, files).await?;
            Ok(Deploy::Plan(Plan::of(target, status)))
        }
        Decision::Blocked {
            errors,
            first,
            rule,
        } => Ok(Deploy::Blocked {
            errors,
            first,
            rule,
        }),
        Decision::Apply => {
            let before = migrate::status(&target.client, files).await?;
            for entry in before.modified() {
                ctx.shell.note(format!(
                    "warning: {} was modified after it was applied to {} (its checksum differs); deploy does not re-run it",
                    entry.name, target.stage
                ));
            }
            let dir = ctx.config.migrations_dir();
            let applied = migrate::deploy(&ctx.shell, &target.client, &dir, files).await?;
            Ok(Deploy::Applied(Deployed {
                stage: target.stage.clone(),
                target: target.description.clone(),
                applied,
                files: files.len(),
            }))
        }
    }
}

/// `migrate status`: the ledger against the files.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub stage: String,
    /// Where it points, password redacted.
    pub target: String,
    pub up_to_date: bool,
    #[serde(flatten)]
    pub status: Status,
    /// Migrations on disk.
    #[serde(skip)]
    pub files: usize,
}

pub async fn status(ctx: &Ctx, stage: Option<&str>) -> Result<StatusReport> {
    let files = load_files(ctx)?;
    let target = target::open(ctx, stage).await?;
    let status = migrate::status(&target.client, &files).await?;
    Ok(StatusReport {
        stage: target.stage,
        target: target.description,
        up_to_date: status.is_up_to_date(),
        status,
        files: files.len(),
    })
}

/// How `migrate resolve` records a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Applied,
    RolledBack,
}

pub enum Resolved {
    /// A stage without `--confirm`: nothing was changed.
    Plan {
        target: Target,
    },
    Recorded {
        target: Target,
    },
}

pub async fn resolve(
    ctx: &Ctx,
    stage: Option<&str>,
    name: &str,
    mark: Mark,
    confirm: bool,
) -> Result<Resolved> {
    let files = load_files(ctx)?;
    let target = target::open(ctx, stage).await?;
    if target.remote && !confirm {
        return Ok(Resolved::Plan { target });
    }
    match mark {
        Mark::Applied => migrate::resolve_applied(&target.client, &files, name).await?,
        Mark::RolledBack => migrate::resolve_rolled_back(&target.client, &files, name).await?,
    }
    Ok(Resolved::Recorded { target })
}

/// `migrate reset`: the local database dropped, recreated and migrated (never a stage).
/// `confirm` asks the user (or fails without `--yes`) before anything is dropped.
pub async fn reset(
    ctx: &Ctx,
    stage: Option<&str>,
    confirm: impl FnOnce(&crate::db::ConnectionInfo) -> Result<()>,
) -> Result<usize> {
    if let Some(stage) = stage {
        bail!("`migrate reset` only resets the local database; it never touches a stage (got --stage {stage})");
    }
    let local = ctx.local().await?;
    confirm(local)?;
    let admin = local.maintenance().connect().await?;
    let database = &local.database;
    crate::workflow::snapshot::drop_database(&admin, database, "dropping the local database")
        .await?;
    crate::db::ensure_database(&admin, database, |text| ctx.shell.note(text)).await?;
    ctx.shell
        .note(format!("recreated database {}", local.database));
    let files = load_files(ctx)?;
    let client = local.connect().await?;
    let applied =
        migrate::deploy(&ctx.shell, &client, &ctx.config.migrations_dir(), &files).await?;
    Ok(applied.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(errors: usize) -> Gate {
        Gate {
            errors,
            first: (errors > 0).then(|| ("a.sql:1: drop".to_string(), "drop-table".to_string())),
        }
    }

    #[test]
    fn a_stage_gets_a_plan_unless_confirmed_even_with_lint_errors() {
        assert_eq!(decide(true, false, None), Decision::Plan);
        assert_eq!(decide(true, false, Some(&gate(2))), Decision::Plan);
    }

    #[test]
    fn a_confirmed_deploy_is_blocked_by_unwaived_lint_errors() {
        assert_eq!(
            decide(true, true, Some(&gate(2))),
            Decision::Blocked {
                errors: 2,
                first: "a.sql:1: drop".into(),
                rule: "drop-table".into()
            }
        );
        assert_eq!(decide(true, true, Some(&gate(0))), Decision::Apply);
        // Lint that could not run does not block.
        assert_eq!(decide(true, true, None), Decision::Apply);
    }

    #[test]
    fn locally_deploy_always_applies() {
        assert_eq!(decide(false, false, None), Decision::Apply);
        assert_eq!(decide(false, true, None), Decision::Apply);
    }
}
