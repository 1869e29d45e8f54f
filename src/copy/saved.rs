//! Copied rows kept under `.devdb/data/` (`devdb copy --save`), so a reset can restore them
//! without the remote. The folder ignores itself in git.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::plan::{Format, TableName, TablePlan};
use super::transfer::replace_rows;
use super::CopyError;
use crate::config::Config;

const MANIFEST: &str = "manifest.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedTable {
    pub schema: String,
    pub name: String,
    pub columns: Vec<String>,
    pub format: Format,
    pub file: String,
    pub rows: u64,
    pub stage: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Manifest {
    pub tables: BTreeMap<String, SavedTable>,
}

pub fn data_dir(config: &Config) -> PathBuf {
    config.root().join(".devdb").join("data")
}

pub fn prepare_dir(config: &Config) -> Result<PathBuf, CopyError> {
    let dir = data_dir(config);
    std::fs::create_dir_all(&dir).map_err(|source| CopyError::Io {
        path: dir.clone(),
        source,
    })?;
    let ignore = config.root().join(".devdb").join(".gitignore");
    if !ignore.exists() {
        std::fs::write(
            &ignore,
            "# devdb's local cache: copied rows, never committed\n*\n",
        )
        .map_err(|source| CopyError::Io {
            path: ignore,
            source,
        })?;
    }
    Ok(dir)
}

pub fn file_name(table: &TableName) -> String {
    format!("{}.{}.copy", table.schema, table.name)
}

pub fn read_manifest(dir: &Path) -> Result<Manifest, CopyError> {
    let path = dir.join(MANIFEST);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| CopyError::Io {
            path,
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
        Err(source) => Err(CopyError::Io { path, source }),
    }
}

/// Adds (or replaces) the saved tables in the manifest.
pub fn record<'a>(
    dir: &Path,
    stage: &str,
    tables: impl Iterator<Item = (&'a TablePlan, u64)>,
) -> Result<(), CopyError> {
    let mut manifest = read_manifest(dir)?;
    for (plan, rows) in tables {
        manifest.tables.insert(
            plan.table.to_string(),
            SavedTable {
                schema: plan.table.schema.clone(),
                name: plan.table.name.clone(),
                columns: plan.columns.clone(),
                format: plan.format,
                file: file_name(&plan.table),
                rows,
                stage: stage.to_string(),
            },
        );
    }
    let path = dir.join(MANIFEST);
    let text = serde_json::to_string_pretty(&manifest).unwrap_or_default();
    std::fs::write(&path, text).map_err(|source| CopyError::Io { path, source })
}

/// Loads every saved table into the local database; returns (table, rows) per table.
pub async fn restore(
    config: &Config,
    local: &crate::db::ConnectionInfo,
) -> Result<Vec<(String, u64)>, CopyError> {
    let dir = data_dir(config);
    let manifest = read_manifest(&dir)?;
    let mut client = local.connect().await?;
    let mut restored = Vec::new();
    for (key, saved) in &manifest.tables {
        let path = dir.join(&saved.file);
        let data = tokio::fs::read(&path)
            .await
            .map_err(|source| CopyError::Io {
                path: path.clone(),
                source,
            })?;
        let table = TableName {
            schema: saved.schema.clone(),
            name: saved.name.clone(),
        };
        let chunks: Vec<Result<Bytes, CopyError>> = Bytes::from(data)
            .chunks(1 << 20)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let rows = replace_rows(
            &mut client,
            &table,
            &saved.columns,
            saved.format,
            futures_util::stream::iter(chunks),
            |_| Ok(()),
        )
        .await?;
        restored.push((key.clone(), rows));
    }
    Ok(restored)
}
