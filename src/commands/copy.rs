//! `devdb copy` and `devdb fix-missing`: thin glue between the CLI and `crate::copy`.

use anyhow::{bail, Result};

use crate::cli::{CopyArgs, FixMissingArgs};
use crate::config::Config;
use crate::copy::plan::QualifiedName;
use crate::copy::{self, structure, CopyOptions};
use crate::db::stage::Stage;
use crate::docker::Engine;
use crate::migrate::{self, files};
use crate::progress;
use crate::target;

pub async fn copy(config: &Config, args: CopyArgs) -> Result<()> {
    let local = target::local_database(config).await?;
    let mut tables = args.tables.clone();
    if args.schema || args.schema_only {
        let [relation] = args.tables.as_slice() else {
            bail!("--schema and --schema-only take exactly one relation");
        };
        let relation = QualifiedName::parse(relation);
        let engine = Engine::connect().await?;
        let stage = Stage::resolve(config, &args.stage)?;
        let remote = stage.connect(true).await?;
        let local_client = local.connect().await?;
        let structure =
            structure::dump(&engine, config, &stage, &remote, &local_client, &relation).await?;
        structure::apply(&local_client, &structure.sql).await?;
        let names: Vec<String> = structure
            .relations
            .iter()
            .map(ToString::to_string)
            .collect();
        progress::note(format!(
            "created {} locally from stage {}",
            names.join(", "),
            stage.name
        ));
        if args.schema_only || structure.tables.is_empty() {
            return Ok(());
        }
        tables = structure.tables.iter().map(ToString::to_string).collect();
    }
    let options = CopyOptions {
        tables,
        stage: args.stage,
        jobs: args.jobs,
        filters: args.filters,
        save: args.save,
        prune_dangling: args.prune_dangling,
        no_follow: args.no_follow,
        with_children: args.with_children.map(|depth| depth.unwrap_or(usize::MAX)),
        subset: args.subset,
    };
    let report = copy::copy_data(config, &local, &options).await?;
    if args.json {
        progress::result(serde_json::to_string_pretty(&report)?);
    } else {
        progress::result_text(&copy::summary(&report));
    }
    Ok(())
}

pub async fn fix_missing(config: &Config, args: FixMissingArgs) -> Result<()> {
    let relation = QualifiedName::parse(&args.relation);
    let local = target::local_database(config).await?;
    let local_client = local.connect().await?;
    let dir = config.migrations_dir();
    files::ensure_lock_file(&dir)?;
    let before = files::discover(&dir)?;
    let status = migrate::status(&local_client, &before).await?;

    let engine = Engine::connect().await?;
    let stage = Stage::resolve(config, &args.stage)?;
    let remote = stage.connect(true).await?;
    let structure =
        structure::dump(&engine, config, &stage, &remote, &local_client, &relation).await?;
    let path = copy::write_structure(
        &dir,
        &before,
        &status,
        &relation,
        &stage.name,
        &structure.sql,
        args.into.as_deref(),
    )?;
    progress::note(format!(
        "wrote the structure of {relation} to {}",
        path.display()
    ));

    let after = files::discover(&dir)?;
    let applied = migrate::deploy(&local_client, &dir, &after).await?;
    progress::note(format!(
        "applied {} migrations; {relation} now exists locally",
        applied.len()
    ));
    progress::result(path.display());
    Ok(())
}
