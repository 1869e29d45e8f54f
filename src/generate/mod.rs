//! Client artifacts regenerated from the local database after migrations: built-in generators
//! (`schema-sql`, `typescript`, `prisma`) from one introspection, and external commands.

pub mod introspect;
mod prisma;
mod schema_sql;
mod typescript;

use std::path::{Path, PathBuf};

use serde::Serialize;
use tokio_postgres::Client;

use crate::config::Config;
use crate::db::{command, ConnectionInfo};
use crate::hint::Hint;
use crate::shell::Shell;

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("generator #{index} (`{entry}`): `{program}` is not installed or not on PATH")]
    NotInstalled {
        index: usize,
        entry: String,
        program: String,
    },
    #[error("generator #{index} (`{entry}`) failed ({status})")]
    CommandFailed {
        index: usize,
        entry: String,
        status: String,
    },
    #[error("generator #{index}: `run` is empty; give the program and its arguments, e.g. [npx, prisma, generate]")]
    EmptyCommand { index: usize },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{action}: {}", crate::db::describe(error))]
    Database {
        action: String,
        error: tokio_postgres::Error,
    },
    #[error(transparent)]
    Config(Box<crate::config::ConfigError>),
}

impl GenerateError {
    /// What to do about it, shown apart from the message.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            GenerateError::NotInstalled { .. } => Some(Hint::suggest(
                "install it, or remove the entry from x-devdb.generate",
            )),
            GenerateError::Config(e) => e.hint().map(Hint::suggest),
            GenerateError::Database { error, .. } => crate::db::postgres_hint(error),
            _ => None,
        }
    }
}

impl From<crate::config::ConfigError> for GenerateError {
    fn from(error: crate::config::ConfigError) -> Self {
        GenerateError::Config(Box::new(error))
    }
}

/// Where the `prisma` generator writes the views' SQL: prisma.config.ts's `views.path` when
/// the project root has one, else `views/` next to schema.prisma (Prisma's default).
fn views_dir(config: &Config, schema: &Path) -> Result<PathBuf, GenerateError> {
    let configured = match crate::config::prisma_config::find(config.root())? {
        Some(prisma) => prisma
            .require(
                &prisma.views,
                "views.path",
                "remove it: views/ next to schema.prisma is Prisma's default",
            )?
            .cloned(),
        None => None,
    };
    Ok(configured.unwrap_or_else(|| schema.parent().unwrap_or(Path::new(".")).join("views")))
}

/// The generator entries are configuration (`x-devdb.generate`), defined in `config/`.
pub use crate::config::GeneratorSettings;

impl GeneratorSettings {
    fn describe(&self) -> String {
        match self {
            GeneratorSettings::SchemaSql { output } => format!("schema-sql → {output}"),
            GeneratorSettings::Typescript { output } => format!("typescript → {output}"),
            GeneratorSettings::Prisma { schema, .. } => format!("prisma → {schema}"),
            GeneratorSettings::Command { run } => format!("command: {}", run.join(" ")),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub generator: String,
    /// The file written (built-in generators).
    pub output: Option<PathBuf>,
    /// Whether the file's content changed (None for commands: devdb cannot tell).
    pub changed: Option<bool>,
}

/// Runs every configured generator in order; stops at the first failure.
pub async fn run(
    shell: &Shell,
    config: &Config,
    client: &Client,
    local: &ConnectionInfo,
) -> Result<Vec<Outcome>, GenerateError> {
    let generators = &config.settings.generate;
    let needs_schema = generators
        .iter()
        .any(|g| !matches!(g, GeneratorSettings::Command { .. }));
    let schema = if needs_schema {
        Some(introspect::read(client).await?)
    } else {
        None
    };
    let mut outcomes = Vec::new();
    for (position, generator) in generators.iter().enumerate() {
        let index = position + 1;
        let resolve = |path: &str| crate::config::clean_path(&config.dir().join(path));
        let outcome = match (generator, &schema) {
            (GeneratorSettings::SchemaSql { output }, Some(schema)) => {
                let path = resolve(output);
                let changed = write_if_changed(&path, &schema_sql::render(schema))?;
                Outcome {
                    generator: generator.describe(),
                    output: Some(path),
                    changed: Some(changed),
                }
            }
            (GeneratorSettings::Typescript { output }, Some(schema)) => {
                let path = resolve(output);
                let changed = write_if_changed(&path, &typescript::render(schema))?;
                Outcome {
                    generator: generator.describe(),
                    output: Some(path),
                    changed: Some(changed),
                }
            }
            (
                GeneratorSettings::Prisma {
                    schema: file,
                    ignore,
                },
                Some(schema),
            ) => {
                let path = resolve(file);
                let existing = std::fs::read_to_string(&path).ok();
                let rendered = prisma::render(schema, existing.as_deref(), ignore);
                // The same warnings `prisma db pull` prints, on stderr.
                for warning in &rendered.warnings {
                    shell.note(warning);
                }
                let mut changed = write_if_changed(&path, &rendered.text)?;
                if let Some(views) = &rendered.views {
                    changed |= prisma::views::write(&views_dir(config, &path)?, views)?;
                }
                Outcome {
                    generator: generator.describe(),
                    output: Some(path),
                    changed: Some(changed),
                }
            }
            (GeneratorSettings::Command { run }, _) => {
                run_command(shell, config, index, generator, run, local).await?;
                Outcome {
                    generator: generator.describe(),
                    output: None,
                    changed: None,
                }
            }
            (_, None) => {
                unreachable!("the schema is read whenever a built-in generator is configured")
            }
        };
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// schema.prisma as `prisma db pull` writes it for `schema` with no file before (devdb's default
/// generator and datasource blocks), and the warnings Prisma would print: the dev loop hands
/// Prisma the migration history as this datamodel instead of as a database.
pub fn prisma_datamodel(schema: &introspect::Schema) -> (String, Vec<String>) {
    let rendered = prisma::render(schema, None, &[]);
    (rendered.text, rendered.warnings)
}

/// Reads the schema and renders it as `schema-sql` text (used to compare databases).
pub async fn schema_sql(client: &Client) -> Result<String, GenerateError> {
    Ok(schema_sql::render(&introspect::read(client).await?))
}

fn write_if_changed(path: &Path, content: &str) -> Result<bool, GenerateError> {
    if std::fs::read_to_string(path).is_ok_and(|existing| existing == content) {
        return Ok(false);
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| GenerateError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(path, content).map_err(|source| GenerateError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(true)
}

/// A command generator, run through `db::command` (DATABASE_URL set, its output relayed to
/// stderr with the password masked).
async fn run_command(
    shell: &Shell,
    config: &Config,
    index: usize,
    generator: &GeneratorSettings,
    run: &[String],
    local: &ConnectionInfo,
) -> Result<(), GenerateError> {
    let (program, arguments) = run
        .split_first()
        .ok_or(GenerateError::EmptyCommand { index })?;
    let resolved =
        which::which_in(program, std::env::var_os("PATH"), config.root()).map_err(|_| {
            GenerateError::NotInstalled {
                index,
                entry: generator.describe(),
                program: program.clone(),
            }
        })?;
    let status = command::run_with_url(shell, config.root(), &resolved, arguments, local)
        .await
        .map_err(|source| GenerateError::Io {
            path: resolved.clone(),
            source,
        })?
        .status;
    if !status.success() {
        return Err(GenerateError::CommandFailed {
            index,
            entry: generator.describe(),
            status: status.to_string(),
        });
    }
    Ok(())
}
