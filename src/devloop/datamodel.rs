//! The migration history as a Prisma datamodel: devdb renders the history copy's schema.prisma
//! itself (the `prisma` generator's renderer, what `prisma db pull` writes) and caches it under
//! `.devdb/prisma-history/<key>.prisma`, so Prisma diffs two files (`--from-schema`) and needs no
//! database, and a warm run does no database work at all. The key names the history (the hash
//! chained over every migration, as snapshots use), the server's version and devdb's version.
//! Where a datamodel cannot say everything the history holds (views, partial indexes, identity,
//! extensions, other schemas, anything the renderer warns about), the reason is cached instead
//! and the caller falls back to Prisma's diff from the history's database.

use std::path::{Path, PathBuf};

use tokio_postgres::Client;

use super::DevloopError;
use crate::generate::introspect::{RelationKind, Schema};

/// The cache folder, under the project root.
pub const DIR: &str = ".devdb/prisma-history";
/// Entries kept (the newest): the current history, and a few others to switch back to.
const KEEP: usize = 8;

/// What devdb hands Prisma as the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// A datamodel file that says all of it.
    Datamodel(PathBuf),
    /// Why no datamodel can: Prisma diffs from the history's database instead.
    Fallback(String),
}

/// The cache key: which history, on which server, rendered by which devdb.
pub fn key(history_hash: Option<&str>, server_version: &str) -> String {
    let history = history_hash.map_or("empty", |h| &h[..h.len().min(24)]);
    let server: String = server_version
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
        .collect();
    format!("{history}-pg{server}-devdb{}", env!("CARGO_PKG_VERSION"))
}

fn datamodel_path(root: &Path, key: &str) -> PathBuf {
    root.join(DIR).join(format!("{key}.prisma"))
}

fn fallback_path(root: &Path, key: &str) -> PathBuf {
    root.join(DIR).join(format!("{key}.fallback"))
}

/// The plan an earlier run cached for `key`, if any.
pub fn cached(root: &Path, key: &str) -> Option<Plan> {
    let datamodel = datamodel_path(root, key);
    if datamodel.is_file() {
        return Some(Plan::Datamodel(datamodel));
    }
    std::fs::read_to_string(fallback_path(root, key))
        .ok()
        .map(|reason| Plan::Fallback(reason.trim().to_string()))
}

/// Reads the history copy, renders its datamodel or finds why it cannot, and caches the result.
pub async fn plan(client: &Client, root: &Path, key: &str) -> Result<Plan, DevloopError> {
    let schema = crate::generate::introspect::read(client).await?;
    let (text, warnings) = crate::generate::prisma_datamodel(&schema);
    let plan = match fallback_reason(&schema, &warnings) {
        Some(reason) => {
            write_atomically(&fallback_path(root, key), &format!("{reason}\n"))?;
            Plan::Fallback(reason)
        }
        None => {
            let path = datamodel_path(root, key);
            write_atomically(&path, &text)?;
            Plan::Datamodel(path)
        }
    };
    prune(&root.join(DIR));
    Ok(plan)
}

/// Removes all but the `KEEP` newest entries (best effort: a cache, not a record).
fn prune(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    for (_, path) in files.into_iter().skip(KEEP) {
        let _ = std::fs::remove_file(path);
    }
}

/// Renamed into place whole (`crate::atomic`), so a concurrent run never reads half.
fn write_atomically(path: &Path, text: &str) -> Result<(), DevloopError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DevloopError::Io { path, source }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    crate::atomic::write(path, text.as_bytes(), crate::atomic::Mode::KeepOr0644).map_err(io(path))
}

/// Why a datamodel would not say everything `schema` holds (None: it says all of it).
pub fn fallback_reason(schema: &Schema, warnings: &[String]) -> Option<String> {
    if let Some((name, _)) = schema.extensions.first() {
        return Some(format!("the extension {name}"));
    }
    if let Some(f) = schema.functions.first() {
        return Some(format!("the function {}.{}", f.schema, f.name));
    }
    if let Some(e) = schema.enums.iter().find(|e| e.schema != "public") {
        return Some(format!("the enum {}.{} outside public", e.schema, e.name));
    }
    schema
        .relations
        .iter()
        .find_map(relation_reason)
        .or_else(|| {
            warnings
                .first()
                .map(|w| format!("Prisma's warning: {}", w.lines().next().unwrap_or(w)))
        })
}

/// What of one table no datamodel says (None: all of it can be said).
fn relation_reason(r: &crate::generate::introspect::Relation) -> Option<String> {
    let name = format!("{}.{}", r.schema, r.name);
    let table = match r.kind {
        RelationKind::View | RelationKind::MaterializedView => Some("is a view"),
        RelationKind::PartitionedTable => Some("is partitioned"),
        RelationKind::Table if r.schema != "public" => Some("is outside public"),
        RelationKind::Table if r.partition_of.is_some() => Some("is a partition"),
        RelationKind::Table if r.has_subclass => Some("has subclasses"),
        RelationKind::Table if r.row_security => Some("has row level security"),
        RelationKind::Table if !r.triggers.is_empty() => Some("has triggers"),
        RelationKind::Table if r.comment.is_some() => Some("has a comment"),
        RelationKind::Table => None,
    };
    if let Some(what) = table {
        return Some(format!("{name} {what}"));
    }
    let column = r.columns.iter().find_map(|c| {
        let what = match () {
            _ if !c.identity.is_empty() => "an identity column",
            _ if c.generated => "a generated column",
            _ if c.comment.is_some() => "a column comment",
            _ if c.type_kind == "d" || c.element_kind.as_deref() == Some("d") => "a domain",
            _ if c.type_kind == "c" => "a composite type",
            _ => return None,
        };
        Some(format!("{name}.{} is {what}", c.name))
    });
    column
        .or_else(|| constraint_reason(r, &name))
        .or_else(|| index_reason(r, &name))
}

fn constraint_reason(r: &crate::generate::introspect::Relation, name: &str) -> Option<String> {
    r.constraints.iter().find_map(|c| {
        let what = match c.kind {
            'c' => "a check constraint",
            'x' => "an exclusion constraint",
            'f' if c.definition.contains("DEFERRABLE") => "a deferrable foreign key",
            _ => return None,
        };
        Some(format!("{name} has {what} ({})", c.name))
    })
}

fn index_reason(r: &crate::generate::introspect::Relation, name: &str) -> Option<String> {
    r.index_details.iter().find_map(|i| {
        let what = match () {
            _ if i.predicate.is_some() => "a partial index",
            _ if i.custom_opclass => "an index with an operator class",
            _ if i.parts.iter().any(|p| p.0.is_none()) => "an expression index",
            _ => return None,
        };
        Some(format!("{name} has {what} ({})", i.name))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_names_history_server_and_devdb() {
        let key = key(Some(&"ab".repeat(32)), "15.8 (Debian 15.8-1.pgdg120+1)");
        assert!(
            key.starts_with(&format!("{}-pg15.8Debian15.8", "ab".repeat(12))),
            "{key}"
        );
        assert!(key.ends_with(env!("CARGO_PKG_VERSION")), "{key}");
        assert!(super::key(None, "17").starts_with("empty-pg17-"));
    }

    #[test]
    fn a_cached_plan_is_read_back_and_a_fallback_keeps_its_reason() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(cached(root.path(), "k"), None);
        write_atomically(&fallback_path(root.path(), "k"), "the extension citext\n").unwrap();
        assert_eq!(
            cached(root.path(), "k"),
            Some(Plan::Fallback("the extension citext".into()))
        );
        write_atomically(&datamodel_path(root.path(), "k"), "model a {}\n").unwrap();
        assert_eq!(
            cached(root.path(), "k"),
            Some(Plan::Datamodel(datamodel_path(root.path(), "k")))
        );
        let left: Vec<_> = std::fs::read_dir(root.path().join(DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(left.is_empty(), "temporary files left: {left:?}");
    }

    #[test]
    fn the_cache_keeps_the_newest_entries() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join(DIR);
        for i in 0..KEEP + 3 {
            write_atomically(&datamodel_path(root.path(), &format!("k{i}")), "").unwrap();
            let at =
                std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1000 + i as u64);
            std::fs::File::options()
                .write(true)
                .open(datamodel_path(root.path(), &format!("k{i}")))
                .unwrap()
                .set_modified(at)
                .unwrap();
        }
        prune(&dir);
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left.len(), KEEP, "{left:?}");
        assert!(!left.contains(&"k0.prisma".to_string()), "{left:?}");
        assert!(left.contains(&format!("k{}.prisma", KEEP + 2)), "{left:?}");
    }
}
