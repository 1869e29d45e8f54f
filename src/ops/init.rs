//! `init`: adopts devdb in an existing repository by appending an `x-devdb` block to its
//! Compose file (or writing devdb's example when there is none). It runs before any
//! configuration exists, so it takes the folder instead of a context.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::config::adopt::{self, Survey};

/// What `init` did, with what it found.
pub enum Init {
    /// `--dry-run`: the text it would write; nothing was written.
    DryRun(String),
    /// No Compose file: devdb's example was written here.
    WroteExample { path: PathBuf, survey: Survey },
    /// An `x-devdb` block was appended to this Compose file.
    Appended { file: PathBuf, survey: Survey },
}

pub fn init(cwd: &Path, dry_run: bool) -> Result<Init> {
    let survey = adopt::survey(cwd)?;
    let Some(file) = survey.compose_file.clone() else {
        let path = cwd.join(adopt::EXAMPLE_PATH);
        let dir = path.parent().unwrap_or(cwd);
        let example = survey.example(dir);
        if dry_run {
            return Ok(Init::DryRun(example));
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", path.display()))?;
        write_atomically(&path, &example)?;
        return Ok(Init::WroteExample { path, survey });
    };
    let block = survey.block(file.parent().unwrap_or(cwd));
    if dry_run {
        return Ok(Init::DryRun(block));
    }
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    write_atomically(&file, &adopt::append_block(&text, &block))?;
    Ok(Init::Appended { file, survey })
}

/// Writes through a temporary file in the same folder renamed into place (keeping the old
/// file's permissions), so an interrupted `init` leaves the user's Compose file as it was.
fn write_atomically(path: &Path, text: &str) -> Result<()> {
    crate::atomic::write(path, text.as_bytes(), crate::atomic::Mode::KeepOr0644)
        .with_context(|| format!("writing {}", path.display()))
}
