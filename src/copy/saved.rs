//! Copied rows kept under `.devdb/data/` (`devdb copy --save`), so a reset can restore them
//! without the remote, and how they were made (the subset, conditions, children), so
//! `reset --recopy` runs the same closure again. What is saved is what the copy committed:
//! every table it loaded, followed parents, cut keys and pruned rows included, read back from
//! the copy's own transaction, so a restore keeps every FK true too. The folder ignores itself
//! in git. These are production rows on a laptop: folders are 0700 and files 0600 whatever the
//! umask, a file is written beside its final name and renamed only once the copy committed (a
//! failed or interrupted re-copy keeps the previous rows), and the manifest is replaced
//! atomically.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use super::plan::{Format, MaskKey, MaskRule, QualifiedName};
use super::transfer::LocalLoad;
use super::{CopyError, CopyOptions};
use crate::config::Config;
use crate::db::quote_ident;

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
    /// The copies that saved them, oldest first (manifests from before recipes have none).
    #[serde(default)]
    pub copies: Vec<Recipe>,
}

/// How one `copy --save` chose its rows: `reset --recopy` runs it again, so the new rows are
/// the same closure (parents followed, children restricted or reached) read afresh.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipe {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subset: Option<String>,
    /// The tables (or globs) as named on the command line.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<String>,
    /// `--where` arguments (TABLE:CONDITION).
    #[serde(default, rename = "where", skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with_children: Option<usize>,
    #[serde(default)]
    pub no_follow: bool,
    #[serde(default)]
    pub prune_dangling: bool,
    /// The saved tables this copy still provides (a later copy of a table takes it over).
    #[serde(default)]
    pub saved: Vec<String>,
}

impl Recipe {
    pub fn of(options: &CopyOptions) -> Recipe {
        Recipe {
            subset: options.subset.clone(),
            tables: options.tables.clone(),
            filters: options.filters.clone(),
            with_children: options.with_children,
            no_follow: options.no_follow,
            prune_dangling: options.prune_dangling,
            saved: Vec::new(),
        }
    }

    /// The copy to run again (saving its rows again).
    pub fn options(&self) -> CopyOptions {
        CopyOptions {
            tables: self.tables.clone(),
            filters: self.filters.clone(),
            save: true,
            prune_dangling: self.prune_dangling,
            no_follow: self.no_follow,
            with_children: self.with_children,
            subset: self.subset.clone(),
            jobs: None,
        }
    }

    /// What `reset` reports for it.
    pub fn describe(&self) -> String {
        match &self.subset {
            Some(name) => format!("subset {name}"),
            None if self.filters.is_empty() => self.tables.join(" "),
            None => format!(
                "{} --where {}",
                self.tables.join(" "),
                self.filters.join(" ")
            ),
        }
    }
}

impl Manifest {
    /// The copies `reset --recopy` runs, in the order they were made. Saved tables no recipe
    /// provides (saved before devdb kept recipes) are copied whole first, as they were then.
    pub fn recipes(&self) -> Vec<Recipe> {
        let provided: Vec<&String> = self.copies.iter().flat_map(|c| &c.saved).collect();
        let orphans: Vec<String> = self
            .tables
            .keys()
            .filter(|t| !provided.contains(t))
            .cloned()
            .collect();
        let mut recipes = Vec::new();
        if !orphans.is_empty() {
            recipes.push(Recipe {
                tables: orphans.clone(),
                saved: orphans,
                ..Recipe::default()
            });
        }
        recipes.extend(self.copies.iter().cloned());
        recipes
    }

    /// Adds a copy that saved `tables`: earlier copies no longer provide them (and go once
    /// they provide nothing).
    fn add(&mut self, mut recipe: Recipe, tables: Vec<SavedTable>) {
        let names: Vec<String> = tables.iter().map(SavedTable::key).collect();
        for copy in &mut self.copies {
            copy.saved.retain(|t| !names.contains(t));
        }
        self.copies.retain(|c| !c.saved.is_empty());
        for table in tables {
            self.tables.insert(table.key(), table);
        }
        recipe.saved = names;
        self.copies.push(recipe);
    }
}

impl SavedTable {
    fn key(&self) -> String {
        QualifiedName {
            schema: self.schema.clone(),
            name: self.name.clone(),
        }
        .to_string()
    }
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

/// A saved table's file while the copy runs: written beside its final name, renamed into
/// place only after the copy committed.
struct SaveTo {
    path: PathBuf,
}

impl SaveTo {
    fn partial(&self) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(".partial");
        PathBuf::from(name)
    }

    /// The copy committed: the new rows replace the saved ones.
    fn commit(&self) -> Result<(), CopyError> {
        std::fs::rename(self.partial(), &self.path).map_err(|source| CopyError::Io {
            path: self.path.clone(),
            source,
        })
    }
}

impl Drop for SaveTo {
    /// A copy that failed leaves no partial file behind (after `commit` there is none).
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.partial());
    }
}

/// The rows a `--save` copy is about to commit, written to partial files; `commit` puts them
/// in place and records them once the copy's transaction committed.
pub struct Pending {
    dir: PathBuf,
    files: Vec<SaveTo>,
    tables: Vec<SavedTable>,
}

/// Writes every table `load` holds, as its transaction sees it (every column but generated
/// ones, binary), to partial files beside the saved ones.
pub async fn write(
    config: &Config,
    load: &LocalLoad<'_>,
    stage: &str,
) -> Result<Pending, CopyError> {
    let dir = prepare_dir(config)?;
    let local = load.transaction();
    let mut infos = super::catalog::describe(local, load.loaded()).await?;
    let mut pending = Pending {
        dir,
        files: Vec::new(),
        tables: Vec::new(),
    };
    for table in load.loaded() {
        let info = infos.remove(table).unwrap_or_default();
        // A table's own rows, not those of tables inheriting from it (a partitioned table's
        // rows are all in its partitions).
        let source = match info.partitioned {
            true => table.quoted(),
            false => format!("ONLY {}", table.quoted()),
        };
        let columns: Vec<String> = info
            .columns
            .into_iter()
            .filter(|c| !c.generated)
            .map(|c| c.name)
            .collect();
        let save = SaveTo {
            path: pending.dir.join(file_name(table)),
        };
        let rows = dump(local, &source, &columns, &save.partial()).await?;
        pending.files.push(save);
        pending.tables.push(SavedTable {
            schema: table.schema.clone(),
            name: table.name.clone(),
            columns,
            format: Format::Binary,
            file: file_name(table),
            rows,
            stage: stage.to_string(),
        });
    }
    Ok(pending)
}

/// The rows of `source` (a table, as FROM names it), from the copy's transaction into `path`;
/// returns the rows.
async fn dump(
    local: &tokio_postgres::Transaction<'_>,
    source: &str,
    columns: &[String],
    path: &Path,
) -> Result<u64, CopyError> {
    use futures_util::StreamExt;
    let quoted: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    let fail = |error| CopyError::Database {
        action: format!("reading back the rows of {source} to save them"),
        error,
    };
    let sql = format!(
        "COPY (SELECT {} FROM {source}) TO STDOUT (FORMAT binary)",
        quoted.join(", ")
    );
    let stream = local.copy_out(&sql).await.map_err(fail)?;
    futures_util::pin_mut!(stream);
    let mut file = private_file(path)?;
    let io = |source| CopyError::Io {
        path: path.to_path_buf(),
        source,
    };
    while let Some(chunk) = stream.next().await {
        file.write_all(&chunk.map_err(fail)?).map_err(io)?;
    }
    file.sync_all().map_err(io)?;
    let count = format!("SELECT count(*) FROM {source}");
    let rows: i64 = local.query_one(&count, &[]).await.map_err(fail)?.get(0);
    Ok(rows as u64)
}

impl Pending {
    /// The copy committed: its files replace the saved ones and the manifest records them
    /// with how they were made.
    pub fn commit(self, recipe: Recipe) -> Result<(), CopyError> {
        for file in &self.files {
            file.commit()?;
        }
        let mut manifest = read_manifest(&self.dir)?;
        manifest.add(recipe, self.tables);
        write_manifest(&self.dir, &manifest)
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

fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<(), CopyError> {
    let path = dir.join(MANIFEST);
    let text = serde_json::to_string_pretty(manifest).unwrap_or_default();
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
                        "holds {rows} rows of {key}, the manifest says {}; copy the saved \
                         tables again with `devdb reset --recopy {}`",
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

    fn saved(name: &str) -> SavedTable {
        SavedTable {
            schema: "public".into(),
            name: name.into(),
            columns: vec!["id".into()],
            format: Format::Binary,
            file: format!("public.{name}.copy"),
            rows: 1,
            stage: "CODE".into(),
        }
    }

    #[test]
    fn a_later_copy_takes_over_its_tables_and_recopies_run_in_order() {
        let mut manifest = Manifest::default();
        manifest
            .tables
            .insert("public.legacy".into(), saved("legacy"));
        let subset = Recipe {
            subset: Some("one_user".into()),
            with_children: Some(3),
            ..Recipe::default()
        };
        manifest.add(subset.clone(), vec![saved("users"), saved("teams")]);
        let filtered = Recipe {
            tables: vec!["users".into()],
            filters: vec!["users:id < 5".into()],
            ..Recipe::default()
        };
        manifest.add(filtered, vec![saved("users")]);
        let recipes = manifest.recipes();
        let described: Vec<(String, Vec<String>)> = recipes
            .iter()
            .map(|r| (r.describe(), r.saved.clone()))
            .collect();
        assert_eq!(
            described,
            [
                (
                    "public.legacy".to_string(),
                    vec!["public.legacy".to_string()]
                ),
                (
                    "subset one_user".to_string(),
                    vec!["public.teams".to_string()]
                ),
                (
                    "users --where users:id < 5".to_string(),
                    vec!["public.users".to_string()]
                ),
            ]
        );
        let options = recipes[1].options();
        assert!(options.save);
        assert_eq!(options.subset.as_deref(), Some("one_user"));
        assert_eq!(options.with_children, Some(3));
        // A copy that takes over every table of an earlier one leaves no empty recipe behind.
        manifest.add(Recipe::default(), vec![saved("teams")]);
        assert!(manifest.copies.iter().all(|c| !c.saved.is_empty()));
        assert_eq!(manifest.copies.len(), 2);
        let text = serde_json::to_string(&manifest).unwrap();
        let back: Manifest = serde_json::from_str(&text).unwrap();
        assert_eq!(back.copies, manifest.copies);
        let old: Manifest = serde_json::from_str(r#"{"tables": {}}"#).unwrap();
        assert!(old.copies.is_empty());
    }
}
