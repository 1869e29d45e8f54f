//! `init` as text: what it found, one line each, and the next command to run.

use crate::config::adopt::Survey;
use crate::ops::init::Init;
use crate::shell::Shell;

pub fn init(shell: &Shell, init: &Init) {
    match init {
        Init::DryRun(text) => shell.result_text(text),
        Init::WroteExample { path, survey } => {
            found(shell, survey);
            shell.note(format!(
                "no Compose file found; wrote devdb's example to {}\nnext: devdb up",
                path.display()
            ));
        }
        Init::Appended { file, survey } => {
            found(shell, survey);
            shell.note(format!(
                "appended an x-devdb block to {}\nnext: devdb up && devdb migrate deploy",
                file.display()
            ));
        }
    }
}

fn found(shell: &Shell, survey: &Survey) {
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
