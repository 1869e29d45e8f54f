//! `devdb fix-missing X --from STAGE`: the one-command repair for a migration that fails with
//! `relation "X" does not exist` because X exists only on the stage.

use std::path::{Path, PathBuf};

use chrono::{NaiveDateTime, TimeZone, Utc};

use super::plan::QualifiedName;
use super::structure;
use super::CopyError;
use crate::migrate::{self, files, MigrationFile, State};

/// Where the structure should go: a new migration just before the first one not yet applied
/// (so it runs before the statement that needs it), or the start of `--into MIGRATION`.
pub fn write_structure(
    dir: &Path,
    files: &[MigrationFile],
    status: &migrate::Status,
    relation: &QualifiedName,
    stage: &str,
    ddl: &str,
    into: Option<&str>,
) -> Result<PathBuf, CopyError> {
    let idempotent = structure::idempotent_migration(ddl)?;
    let header =
        format!("-- Structure of {relation} copied from stage {stage} by `devdb fix-missing`.\n");
    match into {
        Some(name) => {
            let file = files.iter().find(|f| f.name == name).ok_or_else(|| {
                CopyError::Structure(format!(
                    "--into {name}: no such migration in {}",
                    dir.display()
                ))
            })?;
            if status
                .migrations
                .iter()
                .any(|e| e.name == name && e.state == State::Applied)
            {
                return Err(CopyError::Structure(format!(
                    "--into {name}: that migration is already applied; editing it would not run the structure anywhere"
                )));
            }
            // Before the migration's own statements, which are the ones that need it.
            let text = format!("{header}{idempotent}\n{}", file.script);
            std::fs::write(&file.path, text).map_err(|source| CopyError::Io {
                path: file.path.clone(),
                source,
            })?;
            Ok(file.path.clone())
        }
        None => {
            let first_pending = status.pending().next().map(|e| e.name.as_str());
            let stamp = first_pending
                .and_then(timestamp_of)
                .map(|t| t - chrono::Duration::seconds(1))
                .unwrap_or_else(Utc::now);
            let safe = files::sanitize_name(&format!("add_missing_{}", relation.name));
            let folder = dir.join(format!("{}_{safe}", stamp.format("%Y%m%d%H%M%S")));
            std::fs::create_dir_all(&folder).map_err(|source| CopyError::Io {
                path: folder.clone(),
                source,
            })?;
            let path = folder.join(files::SCRIPT_FILE);
            std::fs::write(&path, format!("{header}\n{idempotent}")).map_err(|source| {
                CopyError::Io {
                    path: path.clone(),
                    source,
                }
            })?;
            Ok(path)
        }
    }
}

/// The UTC time in a `YYYYMMDDHHMMSS_name` folder name.
fn timestamp_of(name: &str) -> Option<chrono::DateTime<Utc>> {
    let digits = name.get(..14)?;
    let naive = NaiveDateTime::parse_from_str(digits, "%Y%m%d%H%M%S").ok()?;
    Some(Utc.from_utc_datetime(&naive))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_from_folder_names() {
        let t = timestamp_of("20240301090000_price_history").unwrap();
        assert_eq!(t.format("%Y%m%d%H%M%S").to_string(), "20240301090000");
        assert!(timestamp_of("0_init").is_none());
    }
}
