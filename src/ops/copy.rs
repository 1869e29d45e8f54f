//! `copy` (rows, or a relation's structure and then its rows) and `fix-missing` (a relation's
//! structure as a migration). The stage is resolved once and one local session serves the
//! whole command: the structure work and then the row copy (`crate::copy::copy_data_in`).

use std::path::PathBuf;

use anyhow::{bail, Result};
use tokio_postgres::Client;

use super::Ctx;
use crate::copy::{self, structure, CopyOptions, CopyReport};
use crate::db::stage::Stage;
use crate::migrate::{self, files};
use crate::pg::QualifiedName;

/// Whether `copy` creates the relation's structure first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Structure {
    /// Rows only (the tables must exist locally).
    No,
    /// The structure, then the rows (`--schema`).
    ThenRows,
    /// The structure only (`--schema-only`).
    Only,
}

/// Copies rows of `options.tables` from `stage`; with `structure`, `options.tables` is one
/// relation whose structure is created first. None when no rows were to be copied.
pub async fn copy(
    ctx: &Ctx,
    stage: &str,
    structure: Structure,
    mut options: CopyOptions,
) -> Result<Option<CopyReport>> {
    let mut local = ctx.local().await?.connect().await?;
    if structure != Structure::No {
        let [relation] = options.tables.as_slice() else {
            bail!("--schema and --schema-only take exactly one relation");
        };
        let relation = QualifiedName::parse(relation);
        let stage = ctx.stage(stage).await?;
        let tables = create_structure(ctx, &stage, &local, &relation).await?;
        if structure == Structure::Only || tables.is_empty() {
            return Ok(None);
        }
        options.tables = tables.iter().map(ToString::to_string).collect();
        return Ok(Some(copy_rows(ctx, &stage, &mut local, &options).await?));
    }
    let stage = ctx.stage(stage).await?;
    Ok(Some(copy_rows(ctx, &stage, &mut local, &options).await?))
}

async fn copy_rows(
    ctx: &Ctx,
    stage: &Stage,
    local: &mut Client,
    options: &CopyOptions,
) -> Result<CopyReport> {
    Ok(copy::copy_data_in(&ctx.shell, &ctx.config, local, stage, options).await?)
}

/// Dumps `relation` (and what it needs that is missing locally) from the stage and creates it
/// locally; returns the tables among what was created.
async fn create_structure(
    ctx: &Ctx,
    stage: &Stage,
    local: &Client,
    relation: &QualifiedName,
) -> Result<Vec<QualifiedName>> {
    let engine = ctx.engine().await?;
    let remote = stage.connect(true).await?;
    let structure = structure::dump(engine, &ctx.config, stage, &remote, local, relation).await?;
    structure::apply(local, &structure.sql).await?;
    let names: Vec<String> = structure
        .relations
        .iter()
        .map(ToString::to_string)
        .collect();
    ctx.shell.note(format!(
        "created {} locally from stage {}",
        names.join(", "),
        stage.name
    ));
    Ok(structure.tables)
}

/// What `fix-missing` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FixMissingReport {
    /// The migration that now holds the structure.
    pub migration: PathBuf,
    /// Migrations applied locally afterwards (the new one among them).
    pub applied: usize,
}

/// Writes the structure of `relation` on `stage` into a migration and applies it locally.
pub async fn fix_missing(
    ctx: &Ctx,
    relation: &str,
    stage: &str,
    into: Option<&str>,
) -> Result<FixMissingReport> {
    let relation = QualifiedName::parse(relation);
    let local = ctx.local().await?.connect().await?;
    let dir = ctx.config.migrations_dir();
    files::ensure_lock_file(&dir)?;
    let before = files::discover(&dir)?;
    let status = migrate::status(&local, &before).await?;

    let engine = ctx.engine().await?;
    let stage = ctx.stage(stage).await?;
    let remote = stage.connect(true).await?;
    let structure =
        structure::dump(engine, &ctx.config, &stage, &remote, &local, &relation).await?;
    let path = copy::write_structure(
        &dir,
        &before,
        &status,
        &relation,
        &stage.name,
        &structure.sql,
        into,
    )?;
    ctx.shell.note(format!(
        "wrote the structure of {relation} to {}",
        path.display()
    ));

    let after = files::discover(&dir)?;
    let applied = migrate::deploy(&ctx.shell, &local, &dir, &after).await?;
    ctx.shell.note(format!(
        "applied {} migrations; {relation} now exists locally",
        applied.len()
    ));
    Ok(FixMissingReport {
        migration: path,
        applied: applied.len(),
    })
}
