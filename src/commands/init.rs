//! `devdb init` (adopting devdb in an existing repository) and `devdb completions`.

use anyhow::{Context as _, Result};
use clap::CommandFactory;

use crate::cli::{Cli, InitArgs};
use crate::config::adopt;
use crate::shell::Shell;

pub fn init(shell: &Shell, args: &InitArgs) -> Result<()> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let survey = adopt::survey(&cwd)?;
    let Some(file) = &survey.compose_file else {
        let path = cwd.join(adopt::EXAMPLE_PATH);
        let example = survey.example(path.parent().unwrap_or(&cwd));
        if args.dry_run {
            shell.result_text(&example);
            return Ok(());
        }
        std::fs::create_dir_all(path.parent().unwrap_or(&cwd))
            .with_context(|| format!("creating {}", path.display()))?;
        write_atomically(&path, &example)?;
        report(shell, &survey);
        shell.note(format!(
            "no Compose file found; wrote devdb's example to {}\nnext: devdb up",
            path.display()
        ));
        return Ok(());
    };
    let dir = file.parent().unwrap_or(&cwd);
    let block = survey.block(dir);
    if args.dry_run {
        shell.result_text(&block);
        return Ok(());
    }
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    write_atomically(file, &adopt::append_block(&text, &block))?;
    report(shell, &survey);
    shell.note(format!(
        "appended an x-devdb block to {}\nnext: devdb up && devdb migrate deploy",
        file.display()
    ));
    Ok(())
}

/// Writes through a temporary file in the same folder renamed into place (keeping the old
/// file's permissions), so an interrupted `init` leaves the user's Compose file as it was.
fn write_atomically(path: &std::path::Path, text: &str) -> Result<()> {
    use std::io::Write as _;
    let what = || format!("writing {}", path.display());
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir).with_context(what)?;
    file.write_all(text.as_bytes()).with_context(what)?;
    if let Ok(meta) = std::fs::metadata(path) {
        file.as_file()
            .set_permissions(meta.permissions())
            .with_context(what)?;
    }
    file.persist(path).map_err(|e| e.error).with_context(what)?;
    Ok(())
}

/// What `init` found, one line each.
fn report(shell: &Shell, survey: &adopt::Survey) {
    let shown = |path: &Option<std::path::PathBuf>| {
        path.as_ref()
            .map_or_else(|| "none found".to_string(), |p| p.display().to_string())
    };
    shell.note(format!("compose file:  {}", shown(&survey.compose_file)));
    shell.note(format!(
        "database:      service `{}`",
        survey.service.as_deref().unwrap_or("postgres")
    ));
    shell.note(format!("prisma schema: {}", shown(&survey.schema)));
    shell.note(format!("migrations:    {}", shown(&survey.migrations)));
    for file in &survey.env_files {
        shell.note(format!("env file:      {}", file.display()));
    }
    for (stage, variable) in &survey.stages {
        shell.note(format!("stage:         {stage} (url from {variable})"));
    }
    for note in &survey.notes {
        shell.note(format!("note: {note}"));
    }
}

/// Prints the completion script for `shell` on stdout.
pub fn completions(shell: &Shell, kind: clap_complete::Shell) -> Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(kind, &mut Cli::command(), "devdb", &mut script);
    shell.result_text(&String::from_utf8_lossy(&script));
    Ok(())
}
