//! Copied rows kept under `.devdb/data/` (`devdb copy --save`), so a reset can restore them
//! without the remote. The folder ignores itself in git. These are production rows on a laptop:
//! folders are 0700 and files 0600 whatever the umask, a file is written beside its final name
//! and renamed only once its table committed (a failed or interrupted re-copy keeps the previous
//! rows), and the manifest is replaced atomically.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use super::plan::{Format, MaskKey, MaskRule, QualifiedName, TablePlan};
use super::transfer::{LocalLoad, SaveTo};
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
    let devdb = config.root().join(".devdb");
    let dir = data_dir(config);
    for folder in [&devdb, &dir] {
        private_dir(folder)?;
    }
    let ignore = devdb.join(".gitignore");
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

/// The project's `hmac` mask key, `.devdb/mask.key` (0600), created on first use; `None` when
/// no mask rule needs it.
pub fn mask_key(config: &Config) -> Result<Option<MaskKey>, CopyError> {
    if !config
        .settings
        .copy
        .mask
        .values()
        .any(|r| *r == MaskRule::Hmac)
    {
        return Ok(None);
    }
    let devdb = config.root().join(".devdb");
    private_dir(&devdb)?;
    let path = devdb.join("mask.key");
    let invalid = |message: &str| CopyError::Io {
        path: path.clone(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, message.to_string()),
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let bytes: Vec<u8> = (0..text.trim().len())
                .step_by(2)
                .filter_map(|i| u8::from_str_radix(text.trim().get(i..i + 2)?, 16).ok())
                .collect();
            let key: [u8; 32] = bytes.try_into().map_err(|_| {
                invalid("not 64 hex digits; restore it from a teammate (masked values then match theirs) or delete it for a new key")
            })?;
            Ok(Some(MaskKey(key)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            rustls::crypto::ring::default_provider()
                .secure_random
                .fill(&mut key)
                .map_err(|_| invalid("the system's random source failed"))?;
            let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
            let partial = devdb.join("mask.key.partial");
            let mut file = private_file(&partial)?;
            let io = |source| CopyError::Io {
                path: path.clone(),
                source,
            };
            file.write_all(format!("{hex}\n").as_bytes()).map_err(io)?;
            file.sync_all().map_err(io)?;
            // Two first copies at once: the first key to land wins, the other reads it.
            match std::fs::hard_link(&partial, &path) {
                Ok(()) => {
                    let _ = std::fs::remove_file(&partial);
                    Ok(Some(MaskKey(key)))
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let _ = std::fs::remove_file(&partial);
                    mask_key(config)
                }
                Err(source) => Err(CopyError::Io { path, source }),
            }
        }
        Err(source) => Err(CopyError::Io { path, source }),
    }
}

/// Creates `dir` (mode 0700) or tightens an existing one to 0700.
pub fn private_dir(dir: &Path) -> Result<(), CopyError> {
    let io = |source| CopyError::Io {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)
}

/// A new file only its owner can read (0600), replacing any file of that name.
pub fn private_file(path: &Path) -> Result<File, CopyError> {
    let _ = std::fs::remove_file(path);
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| CopyError::Io {
            path: path.to_path_buf(),
            source,
        })
}

/// `schema.table.copy`, each part percent-encoded so any table name (`sl/ash`, `..`, a dot)
/// makes one plain file name.
pub fn file_name(table: &QualifiedName) -> String {
    const KEEP: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'_').remove(b'-');
    let encode = |part: &str| percent_encoding::utf8_percent_encode(part, KEEP).to_string();
    format!("{}.{}.copy", encode(&table.schema), encode(&table.name))
}

impl SaveTo {
    fn partial(&self) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(".partial");
        PathBuf::from(name)
    }

    /// The file the rows stream into while the table is copied.
    pub fn create(&self) -> Result<File, CopyError> {
        private_file(&self.partial())
    }

    /// The table committed: the new rows replace the saved ones.
    pub fn commit(&self, file: File) -> Result<(), CopyError> {
        let io = |source| CopyError::Io {
            path: self.path.clone(),
            source,
        };
        file.sync_all().map_err(io)?;
        drop(file);
        std::fs::rename(self.partial(), &self.path).map_err(io)
    }
}

impl Drop for SaveTo {
    /// A copy that failed leaves no partial file behind (after `commit` there is none).
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.partial());
    }
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
    let partial = dir.join(format!("{MANIFEST}.partial"));
    let io = |source| CopyError::Io {
        path: path.clone(),
        source,
    };
    let mut file = private_file(&partial)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&partial, &path).map_err(io)
}

/// Loads every saved table into the local database; returns (table, rows) per table.
pub async fn restore(
    config: &Config,
    local: &crate::db::ConnectionInfo,
) -> Result<Vec<(String, u64)>, CopyError> {
    let dir = data_dir(config);
    let manifest = read_manifest(&dir)?;
    let mut client = local.connect().await?;
    let tables: Vec<QualifiedName> = manifest
        .tables
        .values()
        .map(|saved| QualifiedName {
            schema: saved.schema.clone(),
            name: saved.name.clone(),
        })
        .collect();
    let mut infos = super::catalog::describe(&client, &tables).await?;
    // One transaction for every table, checked like a copy: all of it or nothing.
    let mut load = LocalLoad::begin(&mut client).await?;
    let mut restored = Vec::new();
    for ((key, saved), table) in manifest.tables.iter().zip(&tables) {
        let path = dir.join(&saved.file);
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|source| CopyError::Io {
                path: path.clone(),
                source,
            })?;
        let info = infos.remove(table).unwrap_or_default();
        let rows = load
            .replace(
                table,
                &info,
                &saved.columns,
                saved.format,
                chunks(file, path.clone()),
                |_| Ok(()),
            )
            .await?;
        if rows != saved.rows {
            return Err(CopyError::Io {
                path,
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "holds {rows} rows of {key}, the manifest says {}; copy it again with \
                         `devdb copy {key} --from {} --save`",
                        saved.rows, saved.stage
                    ),
                ),
            });
        }
        restored.push((key.clone(), rows));
    }
    let keys = super::integrity::Keys {
        declared: super::relations::resolve(&config.settings.relations, load.transaction()).await?,
    };
    load.finish(&keys, false).await?;
    Ok(restored)
}

/// The file in 1 MiB chunks, read as COPY consumes them (a saved table can be larger than memory).
fn chunks(file: tokio::fs::File, path: PathBuf) -> impl Stream<Item = Result<Bytes, CopyError>> {
    futures_util::stream::try_unfold(file, move |mut file| {
        let path = path.clone();
        async move {
            let mut buffer = BytesMut::with_capacity(1 << 20);
            while buffer.len() < 1 << 20 {
                let read = file
                    .read_buf(&mut buffer)
                    .await
                    .map_err(|source| CopyError::Io {
                        path: path.clone(),
                        source,
                    })?;
                if read == 0 {
                    break;
                }
            }
            Ok((!buffer.is_empty()).then(|| (buffer.freeze(), file)))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_one_plain_name_for_any_table() {
        let name = |schema: &str, table: &str| {
            file_name(&QualifiedName {
                schema: schema.into(),
                name: table.into(),
            })
        };
        assert_eq!(name("public", "users"), "public.users.copy");
        assert_eq!(name("public", "sl/ash"), "public.sl%2Fash.copy");
        assert_eq!(name("a.b", "c"), "a%2Eb.c.copy");
        assert_eq!(name("public", ".."), "public.%2E%2E.copy");
        assert_ne!(name("a.b", "c"), name("a", "b.c"));
    }
}
