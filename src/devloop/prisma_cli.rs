//! The project's own Prisma CLI, found as the project runs it: `DEVDB_PRISMA` (a program, for
//! tests and unusual setups), else `node_modules/.bin/prisma` in the schema's folder or a folder
//! above it up to the project root, else `npx --no-install prisma`. devdb only ever runs
//! `prisma migrate diff`, with a config file of its own (Prisma 7 reads the datasource URL only
//! from prisma.config.ts) whose URL comes from the environment, never from a file or argument.

use std::path::{Path, PathBuf};

use super::DevloopError;
use crate::db::{command, ConnectionInfo};

/// How to start Prisma: a program and the arguments before Prisma's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrismaCli {
    pub program: PathBuf,
    pub leading: Vec<String>,
}

impl PrismaCli {
    pub fn describe(&self) -> String {
        let mut words = vec![self.program.display().to_string()];
        words.extend(self.leading.iter().cloned());
        words.join(" ")
    }
}

/// Finds Prisma for a schema in `schema_dir`, looking for node_modules up to `root`.
pub fn find(
    explicit: Option<&str>,
    schema_dir: &Path,
    root: &Path,
) -> Result<PrismaCli, DevloopError> {
    if let Some(program) = explicit.filter(|p| !p.is_empty()) {
        return Ok(PrismaCli {
            program: program.into(),
            leading: Vec::new(),
        });
    }
    for dir in schema_dir.ancestors() {
        let candidate = dir.join("node_modules/.bin/prisma");
        if candidate.is_file() {
            return Ok(PrismaCli {
                program: candidate,
                leading: Vec::new(),
            });
        }
        if dir == root || !dir.starts_with(root) {
            break;
        }
    }
    let root_candidate = root.join("node_modules/.bin/prisma");
    if root_candidate.is_file() {
        return Ok(PrismaCli {
            program: root_candidate,
            leading: Vec::new(),
        });
    }
    match which::which("npx") {
        Ok(npx) => Ok(PrismaCli {
            program: npx,
            leading: vec!["--no-install".into(), "prisma".into()],
        }),
        Err(_) => Err(DevloopError::NoPrisma {
            start: schema_dir.to_path_buf(),
        }),
    }
}

/// The arguments of `prisma migrate diff` from the config's datasource to `schema`, as SQL.
pub fn diff_arguments(schema: &Path, config: &Path) -> Vec<String> {
    diff_from(&["--from-config-datasource".to_string()], schema, config)
}

/// `prisma migrate diff FROM... --to-schema schema --script --config config`.
fn diff_from(from: &[String], schema: &Path, config: &Path) -> Vec<String> {
    let mut args = vec!["migrate".to_string(), "diff".to_string()];
    args.extend_from_slice(from);
    args.extend([
        "--to-schema".to_string(),
        schema.display().to_string(),
        "--script".to_string(),
        "--config".to_string(),
        config.display().to_string(),
    ]);
    args
}

/// The temporary prisma.config.ts: the datasource URL from DATABASE_URL, set for the child only.
pub fn config_text(schema: &Path) -> String {
    format!(
        "// written by devdb for one `prisma migrate diff`; removed when it ends\n\
         export default {{\n  schema: {},\n  datasource: {{ url: process.env.DATABASE_URL }},\n}};\n",
        serde_json::to_string(&schema.display().to_string()).unwrap_or_default()
    )
}

/// The arguments of `prisma migrate diff` from the datamodel `from` to `schema`, as SQL: two
/// files, no database.
pub fn schema_diff_arguments(from: &Path, schema: &Path, config: &Path) -> Vec<String> {
    let from = ["--from-schema".to_string(), from.display().to_string()];
    diff_from(&from, schema, config)
}

/// Runs `prisma migrate diff` from `database` to `schema` in `cwd`; returns Prisma's script.
pub async fn migrate_diff(
    prisma: &PrismaCli,
    schema: &Path,
    database: &ConnectionInfo,
    cwd: &Path,
) -> Result<String, DevloopError> {
    with_config(schema, |config| {
        run(
            prisma,
            diff_arguments(schema, config),
            database,
            cwd,
            schema,
        )
    })
    .await
}

/// Runs `prisma migrate diff` from the datamodel file `from` to `schema` in `cwd`. Prisma reads
/// no database; `database` is only the config's URL (Prisma 7 wants one; it is not used).
pub async fn migrate_diff_schemas(
    prisma: &PrismaCli,
    from: &Path,
    schema: &Path,
    database: &ConnectionInfo,
    cwd: &Path,
) -> Result<String, DevloopError> {
    with_config(schema, |config| {
        run(
            prisma,
            schema_diff_arguments(from, schema, config),
            database,
            cwd,
            schema,
        )
    })
    .await
}

/// Runs `body` with devdb's own prisma.config.ts for `schema` in a temporary folder, removed after.
async fn with_config<F, Fut>(schema: &Path, body: F) -> Result<String, DevloopError>
where
    F: FnOnce(&Path) -> Fut,
    Fut: std::future::Future<Output = Result<String, DevloopError>>,
{
    let folder = std::env::temp_dir().join(format!(
        "devdb-prisma-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    ));
    let config = folder.join("prisma.config.ts");
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DevloopError::Io { path, source }
    };
    std::fs::create_dir_all(&folder).map_err(io(&folder))?;
    let result = match std::fs::write(&config, config_text(schema)).map_err(io(&config)) {
        Ok(()) => body(&config).await,
        Err(error) => Err(error),
    };
    let _ = std::fs::remove_dir_all(&folder);
    result
}

/// Runs Prisma through devdb's one runner of user commands (`db::command`): DATABASE_URL set
/// for the child only, stdout kept as the script, stderr kept masked for the error.
async fn run(
    prisma: &PrismaCli,
    arguments: Vec<String>,
    database: &ConnectionInfo,
    cwd: &Path,
    schema: &Path,
) -> Result<String, DevloopError> {
    let mut all = prisma.leading.clone();
    all.extend(arguments);
    let env = [
        ("CHECKPOINT_DISABLE", "1"),
        ("PRISMA_HIDE_UPDATE_MESSAGE", "1"),
    ];
    let done = command::capture(cwd, &prisma.program, &all, database, &env)
        .await
        .map_err(|source| DevloopError::Spawn {
            program: prisma.describe(),
            source,
        })?;
    if !done.status.success() {
        let stderr = done.stderr_tail.join("\n");
        if stderr.contains("npx canceled due to missing packages") {
            return Err(DevloopError::NoPrisma {
                start: cwd.to_path_buf(),
            });
        }
        return Err(DevloopError::PrismaFailed {
            status: done.status.to_string(),
            schema: schema.to_path_buf(),
            stderr: format!("{stderr}\n{}", command::mask(&done.stdout, database))
                .trim()
                .to_string(),
        });
    }
    Ok(done.stdout)
}

/// True when Prisma's script changes nothing: only comments (Prisma writes
/// `-- This is an empty migration.`) and blank lines.
pub fn is_empty_script(script: &str) -> bool {
    script
        .lines()
        .map(str::trim)
        .all(|line| line.is_empty() || line.starts_with("--"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_migration_is_recognised() {
        assert!(is_empty_script("-- This is an empty migration.\n\n"));
        assert!(is_empty_script(""));
        assert!(!is_empty_script(
            "-- AlterTable\nALTER TABLE \"users\" ADD COLUMN \"bio\" TEXT;\n"
        ));
    }

    #[test]
    fn explicit_prisma_wins_then_node_modules_then_npx() {
        let root = tempfile::tempdir().unwrap();
        let schema_dir = root.path().join("prisma");
        std::fs::create_dir_all(&schema_dir).unwrap();
        let found = find(Some("/opt/prisma"), &schema_dir, root.path()).unwrap();
        assert_eq!(found.program, PathBuf::from("/opt/prisma"));
        let bin = root.path().join("node_modules/.bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("prisma"), "").unwrap();
        let found = find(None, &schema_dir, root.path()).unwrap();
        assert_eq!(found.program, bin.join("prisma"));
        assert!(found.leading.is_empty());
    }

    #[test]
    fn the_config_reads_the_url_from_the_environment_only() {
        let text = config_text(Path::new("/p/a \"b\"/schema.prisma"));
        assert!(
            text.contains(r#"schema: "/p/a \"b\"/schema.prisma""#),
            "{text}"
        );
        assert!(text.contains("process.env.DATABASE_URL"), "{text}");
        let args = diff_arguments(Path::new("/s.prisma"), Path::new("/c.ts"));
        assert_eq!(
            args.join(" "),
            "migrate diff --from-config-datasource --to-schema /s.prisma --script --config /c.ts"
        );
    }
}
