//! `devdb init`: what an existing repository already has (its Compose file and Postgres
//! service, Prisma's schema and migrations, env files above the Compose file, stage URLs in
//! them), turned into an `x-devdb:` block appended as text, so the user's comments and
//! formatting stay byte-identical.

use std::path::{Component, Path, PathBuf};

use super::locate::{locate, read_compose_file};
use super::ConfigError;

/// devdb's own example, written where a repository has no Compose file.
pub const EXAMPLE: &str = include_str!("../../compose/docker-compose.yaml");
/// Where the example goes, relative to the current folder.
pub const EXAMPLE_PATH: &str = "compose/docker-compose.yaml";

/// What `devdb init` found.
#[derive(Debug, Clone, Default)]
pub struct Survey {
    /// The Compose file found (None: the example will be written).
    pub compose_file: Option<PathBuf>,
    /// The service running Postgres.
    pub service: Option<String>,
    pub schema: Option<PathBuf>,
    pub migrations: Option<PathBuf>,
    /// prisma.config.ts's `migrations.seed` command, and that file (the seed runs from its folder).
    pub seed: Option<(String, PathBuf)>,
    /// `.env` files above the Compose file's folder (Compose reads only the one beside it).
    pub env_files: Vec<PathBuf>,
    /// (stage, variable) for each `<STAGE>_DATABASE_URL` in the env files.
    pub stages: Vec<(String, String)>,
    /// Things the user should know (e.g. no port published).
    pub notes: Vec<String>,
    /// DEVDB_POSTGRES_IMAGE when `init` ran: the image the example will run, whose major decides
    /// where the example mounts the data volume.
    pub example_image: Option<String>,
}

/// Where the official image of PostgreSQL `major` keeps its data, which the volume must cover.
const NEW_DATA_MOUNT: &str = "/var/lib/postgresql";
const OLD_DATA_MOUNT: &str = "/var/lib/postgresql/data";
/// The example file's own mount line (for postgres:18, its default image).
const EXAMPLE_MOUNT_LINE: &str = "      - pgdata:/var/lib/postgresql\n";

/// The data volume's target for a PostgreSQL major: 18 moved PGDATA to
/// /var/lib/postgresql/<major>/docker and the image's VOLUME to /var/lib/postgresql.
pub fn data_mount_for_major(major: u32) -> &'static str {
    if major >= 18 {
        NEW_DATA_MOUNT
    } else {
        OLD_DATA_MOUNT
    }
}

/// The PostgreSQL major an image reference names in its tag: `postgres:18`, `postgres:17.2-alpine`,
/// `postgis/postgis:16-3.4`, `timescale/timescaledb:2.17.2-pg17`. None for `latest`, no tag, a
/// digest, or a variable left in the text.
pub fn image_major(image: &str) -> Option<u32> {
    let reference = image.split('@').next()?;
    let name_end = reference.rfind('/').map_or(0, |slash| slash + 1);
    let (_, tag) = reference[name_end..].split_once(':')?;
    let leading = |text: &str| -> Option<u32> {
        let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    // An extension image's own version comes first (`2.17.2-pg17`): its `pg<major>` wins.
    let major = match tag.rfind("pg") {
        Some(at) => leading(&tag[at + 2..])?,
        None => leading(tag)?,
    };
    (9..100).contains(&major).then_some(major)
}

/// Looks around `start` (the current folder) for what devdb needs.
pub fn survey(start: &Path) -> Result<Survey, ConfigError> {
    let mut survey = Survey {
        example_image: std::env::var("DEVDB_POSTGRES_IMAGE").ok(),
        ..Survey::default()
    };
    let compose_file = match locate(None, start) {
        Ok(path) => Some(path),
        Err(ConfigError::NotFound { .. }) => None,
        Err(other) => return Err(other),
    };
    let base = compose_file
        .as_deref()
        .and_then(Path::parent)
        .map_or_else(|| start.to_path_buf(), Path::to_path_buf);
    let root = repository_root(&base);
    if let Some(path) = &compose_file {
        let text = read_compose_file(path)?;
        if has_devdb_block(&text) {
            return Err(ConfigError::Invalid {
                path: path.clone(),
                message: "already has an `x-devdb:` block; edit it, or remove it to run `devdb init` again".into(),
                hint: None,
            });
        }
        inspect_services(path, &text, &mut survey)?;
    }
    survey.compose_file = compose_file;
    survey.schema = find_schema(&root, &base);
    let prisma_config = match survey.schema.as_deref() {
        Some(schema) => prisma_config_near(schema, &root)?,
        None => None,
    };
    if let Some(prisma) = &prisma_config {
        survey.seed = prisma
            .require(&prisma.seed, "migrations.seed", "set x-devdb.seed")?
            .map(|command| (command.clone(), prisma.file.clone()));
    }
    let configured = match &prisma_config {
        Some(prisma) => prisma
            .require(
                &prisma.migrations,
                "migrations.path",
                "set x-devdb.migrations",
            )?
            .cloned(),
        None => None,
    };
    survey.migrations = configured.or_else(|| {
        let dir = survey.schema.as_deref()?.parent()?.join("migrations");
        dir.is_dir().then_some(dir)
    });
    for dir in base.ancestors().skip(1) {
        let env = dir.join(".env");
        if env.is_file() {
            survey.env_files.insert(0, env);
        }
        if dir == root {
            break;
        }
    }
    let mut all_env = survey.env_files.clone();
    all_env.push(base.join(".env"));
    survey.stages = stage_variables(&all_env);
    Ok(survey)
}

impl Survey {
    /// The `x-devdb:` block, paths relative to the Compose file's folder `dir`.
    pub fn block(&self, dir: &Path) -> String {
        let mut out = String::from(
            "\n# devdb's settings (added by `devdb init`; Compose ignores `x-` keys).\nx-devdb:\n",
        );
        let service = self.service.as_deref().unwrap_or("postgres");
        out.push_str(&format!("  service: {}\n", quote(service)));
        if let Some(migrations) = &self.migrations {
            out.push_str(&format!(
                "  migrations: {}\n",
                quote(&relative(dir, migrations))
            ));
        }
        if let Some((command, file)) = &self.seed {
            out.push_str(&format!(
                "  seed:   # migrations.seed of {}\n    - run: [sh, -c, {}]\n",
                relative(dir, file),
                quote(&seed_line(dir, file, command))
            ));
        }
        if !self.env_files.is_empty() {
            let files: Vec<String> = self
                .env_files
                .iter()
                .map(|f| quote(&relative(dir, f)))
                .collect();
            out.push_str(&format!(
                "  env_files: [{}]   # read after .env, as `--env-file` would be\n",
                files.join(", ")
            ));
        }
        if !self.stages.is_empty() {
            out.push_str("  stages:\n");
            for (stage, variable) in &self.stages {
                out.push_str(&format!("    {stage}: {{ url_env: {variable} }}\n"));
            }
        }
        out
    }

    /// devdb's example Compose file, its migrations folder set to what was found and its data
    /// volume where the major of DEVDB_POSTGRES_IMAGE (when set) expects it.
    pub fn example(&self, dir: &Path) -> String {
        let mut example = match &self.migrations {
            Some(migrations) => EXAMPLE.replace(
                "  migrations: ../migrations\n",
                &format!("  migrations: {}\n", quote(&relative(dir, migrations))),
            ),
            None => EXAMPLE.to_string(),
        };
        if let Some((command, file)) = &self.seed {
            let at = example.find("  migrations: ").unwrap_or(example.len());
            let end = example[at..]
                .find('\n')
                .map_or(example.len(), |n| at + n + 1);
            let seed = format!(
                "  seed:   # migrations.seed of {}\n    - run: [sh, -c, {}]\n",
                relative(dir, file),
                quote(&seed_line(dir, file, command))
            );
            example.insert_str(end, &seed);
        }
        if let Some(major) = self.example_image.as_deref().and_then(image_major) {
            let mount = format!("      - pgdata:{}\n", data_mount_for_major(major));
            example = example.replace(EXAMPLE_MOUNT_LINE, &mount);
        }
        example
    }
}

/// `text` with `block` appended; the original bytes are kept as they are.
pub fn append_block(text: &str, block: &str) -> String {
    let mut out = text.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(block);
    out
}

fn has_devdb_block(text: &str) -> bool {
    text.lines().any(|line| line.starts_with("x-devdb:"))
}

/// The Postgres service: an image naming postgres (or PostGIS, TimescaleDB), else the service
/// with POSTGRES_* variables; `postgres`/`db` preferred when several match.
fn inspect_services(path: &Path, text: &str, survey: &mut Survey) -> Result<(), ConfigError> {
    let tree: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| ConfigError::Invalid {
        path: path.to_path_buf(),
        message: format!("cannot read it as YAML: {e}"),
        hint: None,
    })?;
    let Some(services) = tree.get("services").and_then(|s| s.as_mapping()) else {
        return Ok(());
    };
    let mut candidates: Vec<(u8, String, &serde_yaml::Value)> = Vec::new();
    for (name, service) in services {
        let Some(name) = name.as_str() else { continue };
        let image = service.get("image").and_then(|i| i.as_str()).unwrap_or("");
        let by_image = ["postgres", "postgis", "timescale"]
            .iter()
            .any(|needle| image.to_lowercase().contains(needle));
        let by_env = serde_yaml::to_string(
            service
                .get("environment")
                .unwrap_or(&serde_yaml::Value::Null),
        )
        .unwrap_or_default()
        .contains("POSTGRES_");
        if by_image || by_env {
            let rank = u8::from(!matches!(name, "postgres" | "db" | "database"));
            candidates.push((rank, name.to_string(), service));
        }
    }
    candidates.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let Some((_, name, service)) = candidates.first() else {
        survey.notes.push(format!(
            "no service in {} looks like Postgres (an image named postgres, or POSTGRES_* variables); \
             set x-devdb.service to the one that is",
            path.display()
        ));
        return Ok(());
    };
    if service.get("ports").is_none() {
        survey.notes.push(format!(
            "service `{name}` publishes no port; devdb needs one: add `ports: [\"127.0.0.1:5432:5432\"]`"
        ));
    }
    if let Some(note) = data_volume_note(name, service, text) {
        survey.notes.push(format!("{}{note}", path.display()));
    }
    survey.service = Some(name.clone());
    Ok(())
}

/// A note when the service's data volume is not where its image's major keeps the data (18+:
/// /var/lib/postgresql; 17 and older: /var/lib/postgresql/data). The user's file is not edited:
/// the note names the line and the entry to write.
fn data_volume_note(name: &str, service: &serde_yaml::Value, text: &str) -> Option<String> {
    let image = service.get("image")?.as_str()?;
    let major = image_major(image)?;
    let expected = data_mount_for_major(major);
    let volumes = service.get("volumes").and_then(|v| v.as_sequence());
    let Some(volumes) = volumes else {
        return Some(format!(
            ": service `{name}` ({image}) keeps its data in no volume, so a recreate loses it; \
             add `volumes: [\"pgdata:{expected}\"]` to it and `pgdata:` under a top-level `volumes:`"
        ));
    };
    for volume in volumes {
        let (entry, source, target) = match volume {
            serde_yaml::Value::String(entry) => {
                let mut parts = entry.split(':');
                let source = parts.next().unwrap_or_default();
                (entry.clone(), source.to_string(), parts.next()?.to_string())
            }
            other => {
                let field = |key: &str| other.get(key).and_then(|v| v.as_str()).map(str::to_string);
                (
                    field("target")?,
                    field("source").unwrap_or_default(),
                    field("target")?,
                )
            }
        };
        let target = target.trim_end_matches('/');
        if ![OLD_DATA_MOUNT, NEW_DATA_MOUNT].contains(&target) || target == expected {
            continue;
        }
        let line = text
            .lines()
            .position(|line| line.contains(&entry))
            .map_or_else(String::new, |at| format!(":{}", at + 1));
        return Some(format!(
            "{line}: service `{name}` runs {image} (PostgreSQL {major}), which keeps its data under \
             {expected}, but mounts a volume at {target}; change `{entry}` to `{source}:{expected}` \
             (PostgreSQL 18 moved the data folder; `devdb up` refuses the old mount)"
        ));
    }
    None
}

/// The folder holding `.git` above `start`, else `start`.
fn repository_root(start: &Path) -> PathBuf {
    start
        .ancestors()
        .find(|dir| dir.join(".git").exists())
        .unwrap_or(start)
        .to_path_buf()
}

/// The `schema.prisma` under `root` nearest to `base` (node_modules and hidden folders skipped).
fn find_schema(root: &Path, base: &Path) -> Option<PathBuf> {
    let mut found = Vec::new();
    collect_named(root, "schema.prisma", 6, &mut found);
    found.into_iter().min_by_key(|path| {
        let shared = path
            .components()
            .zip(base.components())
            .take_while(|(a, b)| a == b)
            .count();
        (usize::MAX - shared, path.components().count())
    })
}

fn collect_named(dir: &Path, name: &str, depth: usize, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if depth > 0 && !file_name.starts_with('.') && file_name != "node_modules" {
                collect_named(&path, name, depth - 1, found);
            }
        } else if file_name == name {
            found.push(path);
        }
    }
}

/// Prisma runs the seed from the config file's folder; devdb runs `run:` from the project
/// root (the folder above `compose/`, or the Compose file's).
fn seed_line(dir: &Path, file: &Path, command: &str) -> String {
    let root = match dir.file_name() {
        Some(name) if name == "compose" => dir.parent().unwrap_or(dir),
        _ => dir,
    };
    let config_dir = file.parent().unwrap_or(root);
    match relative(root, config_dir).as_str() {
        "" | "." => command.to_string(),
        folder => format!("cd {} && {command}", quote(folder)),
    }
}

/// The prisma.config.* at or above the schema (up to `root`), read by `prisma_config`.
fn prisma_config_near(
    schema: &Path,
    root: &Path,
) -> Result<Option<super::prisma_config::PrismaConfig>, ConfigError> {
    for dir in schema.ancestors().skip(1) {
        if let Some(config) = super::prisma_config::find(dir)? {
            return Ok(Some(config));
        }
        if dir == root {
            break;
        }
    }
    Ok(None)
}

/// `<STAGE>_DATABASE_URL` variables in the env files, as (STAGE, variable).
fn stage_variables(files: &[PathBuf]) -> Vec<(String, String)> {
    let mut stages: Vec<(String, String)> = Vec::new();
    for file in files {
        let Ok(iter) = dotenvy::from_path_iter(file) else {
            continue;
        };
        for (key, _) in iter.flatten() {
            let Some(stage) = key.strip_suffix("_DATABASE_URL") else {
                continue;
            };
            let local = ["DEV", "LOCAL", "TEST", "SHADOW", "DIRECT"].contains(&stage);
            let valid = !stage.is_empty()
                && stage
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if valid && !local && !stages.iter().any(|(s, _)| s == stage) {
                stages.push((stage.to_string(), key.clone()));
            }
        }
    }
    stages
}

/// `path` relative to `dir` (both absolute), with `..` where needed.
pub fn relative(dir: &Path, path: &Path) -> String {
    let dir: Vec<Component> = dir.components().collect();
    let path_parts: Vec<Component> = path.components().collect();
    let shared = dir
        .iter()
        .zip(&path_parts)
        .take_while(|(a, b)| a == b)
        .count();
    let mut out = PathBuf::new();
    for _ in shared..dir.len() {
        out.push("..");
    }
    for part in &path_parts[shared..] {
        out.push(part);
    }
    if out.as_os_str().is_empty() {
        ".".to_string()
    } else {
        out.to_string_lossy().into_owned()
    }
}

/// A YAML scalar: plain when safe, else double-quoted (JSON strings are YAML).
fn quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/-".contains(c))
        && !text.starts_with('-');
    if plain {
        text.to_string()
    } else {
        serde_json::to_string(text).unwrap_or_else(|_| format!("\"{text}\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, path: &str, text: &str) {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn finds_what_a_prisma_monorepo_has() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join(".git")).unwrap();
        write(root, ".env", "CODE_DATABASE_URL=postgres://x\nDATABASE_URL=postgres://local\nSHADOW_DATABASE_URL=x\n");
        write(
            root,
            "packages/app/docker-compose.yml",
            "services:\n  cache:\n    image: redis\n  pg:\n    image: postgres:16\n    ports: [\"5432:5432\"]\n",
        );
        write(
            root,
            "packages/app/prisma/schema.prisma",
            "datasource db {}\n",
        );
        std::fs::create_dir_all(root.join("packages/app/prisma/migrations")).unwrap();
        write(root, "node_modules/x/schema.prisma", "");
        let survey = survey(&root.join("packages/app")).unwrap();
        let dir = root.join("packages/app");
        assert_eq!(survey.service.as_deref(), Some("pg"));
        assert_eq!(survey.schema, Some(dir.join("prisma/schema.prisma")));
        let block = survey.block(&dir);
        assert!(block.contains("  service: pg\n"), "{block}");
        assert!(
            block.contains("  migrations: prisma/migrations\n"),
            "{block}"
        );
        assert!(block.contains("  env_files: [../../.env]"), "{block}");
        assert!(
            block.contains("    CODE: { url_env: CODE_DATABASE_URL }\n"),
            "{block}"
        );
        assert!(!block.contains("SHADOW"), "{block}");
        let parsed: serde_yaml::Value = serde_yaml::from_str(&block).unwrap();
        assert!(parsed.get("x-devdb").is_some());
    }

    #[test]
    fn prisma_config_names_the_migrations_folder() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "db/schema.prisma", "");
        write(
            root,
            "prisma.config.ts",
            "export default defineConfig({\n  schema: 'db/schema.prisma',\n  migrations: { path: \"db/history\" },\n});\n",
        );
        let config = prisma_config_near(&root.join("db/schema.prisma"), root)
            .unwrap()
            .unwrap();
        assert_eq!(
            config.migrations,
            Some(super::super::prisma_config::Setting::Value(
                root.join("db/history")
            ))
        );
    }

    #[test]
    fn init_takes_migrations_and_seed_from_prisma_config() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        write(root, "prisma/schema.prisma", "");
        write(
            root,
            "prisma.config.ts",
            "import path from 'node:path';\nexport default defineConfig({\n  migrations: { path: path.join('prisma', 'history'), seed: 'tsx prisma/seed.ts' },\n});\n",
        );
        let survey = survey(root).unwrap();
        assert_eq!(survey.migrations, Some(root.join("prisma/history")));
        let block = survey.block(&root.join("compose"));
        assert!(
            block.contains("  migrations: ../prisma/history\n"),
            "{block}"
        );
        assert!(
            block.contains("    - run: [sh, -c, tsx prisma/seed.ts]\n")
                || block.contains("    - run: [sh, -c, \"tsx prisma/seed.ts\"]\n"),
            "{block}"
        );
        let parsed: serde_yaml::Value = serde_yaml::from_str(&block).unwrap();
        assert!(parsed["x-devdb"]["seed"][0]["run"].is_sequence(), "{block}");
    }

    #[test]
    fn init_names_the_line_of_a_computed_migrations_path() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        write(root, "prisma/schema.prisma", "");
        write(
            root,
            "prisma.config.ts",
            "export default defineConfig({\n  schema: 'prisma/schema.prisma',\n  migrations: { path: process.env.MIGRATIONS },\n});\n",
        );
        let err = survey(root).unwrap_err();
        let hint = err.hint().unwrap_or_default();
        let err = err.to_string();
        assert!(
            err.contains("prisma.config.ts:3:") && hint.contains("x-devdb.migrations"),
            "{err}"
        );
    }

    #[test]
    fn the_block_is_appended_and_nothing_else_changes() {
        let text = "services:\n  db:   # keep me\n    image: postgres\n  # trailing comment";
        let out = append_block(text, "\nx-devdb:\n  service: db\n");
        assert!(out.starts_with(text));
        assert_eq!(&out[text.len()..], "\n\nx-devdb:\n  service: db\n");
        assert_eq!(relative(Path::new("/a/b"), Path::new("/a/c/d")), "../c/d");
        assert_eq!(relative(Path::new("/a"), Path::new("/a/m")), "m");
    }

    #[test]
    fn the_major_comes_from_the_image_tag_when_it_names_one() {
        for (image, major) in [
            ("postgres:18", Some(18)),
            ("postgres:18.1-alpine", Some(18)),
            ("docker.io/library/postgres:17.2-bookworm", Some(17)),
            ("127.0.0.1:5000/devdb/postgres:15", Some(15)),
            ("postgis/postgis:16-3.4", Some(16)),
            ("timescale/timescaledb:2.17.2-pg17", Some(17)),
            ("timescale/timescaledb:latest-pg18", Some(18)),
            ("postgres", None),
            ("postgres:latest", None),
            ("postgres:alpine3.20", None),
            ("postgres@sha256:0123abcd", None),
            ("${PG_IMAGE}", None),
            ("registry:5000/postgres", None),
        ] {
            assert_eq!(image_major(image), major, "{image}");
        }
        assert_eq!(data_mount_for_major(18), "/var/lib/postgresql");
        assert_eq!(data_mount_for_major(19), "/var/lib/postgresql");
        assert_eq!(data_mount_for_major(17), "/var/lib/postgresql/data");
    }

    #[test]
    fn the_example_mounts_the_data_where_its_image_major_keeps_it() {
        let dir = Path::new("/repo/compose");
        let survey = |image: Option<&str>| Survey {
            example_image: image.map(str::to_string),
            ..Survey::default()
        };
        let mounts = |text: &str| -> Vec<String> {
            let tree: serde_yaml::Value = serde_yaml::from_str(text).unwrap();
            tree["services"]["postgres"]["volumes"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect()
        };
        let default = survey(None).example(dir);
        assert!(default.contains("image: ${DEVDB_POSTGRES_IMAGE:-postgres:18}"));
        assert_eq!(mounts(&default), ["pgdata:/var/lib/postgresql"]);
        assert_eq!(
            mounts(&survey(Some("postgres:18.1")).example(dir)),
            ["pgdata:/var/lib/postgresql"]
        );
        assert_eq!(
            mounts(&survey(Some("postgres:17")).example(dir)),
            ["pgdata:/var/lib/postgresql/data"]
        );
        assert_eq!(
            mounts(&survey(Some("devdb-postgres:15")).example(dir)),
            ["pgdata:/var/lib/postgresql/data"]
        );
        assert_eq!(
            mounts(&survey(Some("postgres:latest")).example(dir)),
            ["pgdata:/var/lib/postgresql"],
            "an unknown major keeps the default image's layout"
        );
    }

    #[test]
    fn an_adopted_service_with_the_wrong_data_mount_gets_a_note_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("docker-compose.yml");
        let note_for = |text: &str| {
            std::fs::write(&file, text).unwrap();
            let mut survey = Survey::default();
            inspect_services(&file, text, &mut survey).unwrap();
            survey.notes
        };
        let notes = note_for(
            "services:\n  db:\n    image: postgres:18.1\n    ports: [\"5432\"]\n    volumes:\n      - dbdata:/var/lib/postgresql/data\nvolumes:\n  dbdata:\n",
        );
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0].starts_with(&format!(
                "{}:6: service `db` runs postgres:18.1",
                file.display()
            )),
            "{notes:?}"
        );
        assert!(
            notes[0].contains(
                "change `dbdata:/var/lib/postgresql/data` to `dbdata:/var/lib/postgresql`"
            ),
            "{notes:?}"
        );
        let notes = note_for(
            "services:\n  db:\n    image: postgres:16\n    ports: [\"5432\"]\n    volumes:\n      - type: volume\n        source: d\n        target: /var/lib/postgresql\n",
        );
        assert!(
            notes[0].contains("change `/var/lib/postgresql` to `d:/var/lib/postgresql/data`"),
            "{notes:?}"
        );
        for fine in [
            "services:\n  db:\n    image: postgres:18\n    ports: [\"5432\"]\n    volumes: [\"d:/var/lib/postgresql\"]\n",
            "services:\n  db:\n    image: postgres:17\n    ports: [\"5432\"]\n    volumes: [\"d:/var/lib/postgresql/data/\"]\n",
            "services:\n  db:\n    image: ${PG_IMAGE}\n    environment: { POSTGRES_PASSWORD: x }\n    ports: [\"5432\"]\n    volumes: [\"d:/var/lib/postgresql/data\"]\n",
        ] {
            assert!(note_for(fine).is_empty(), "{fine}: {:?}", note_for(fine));
        }
        let notes = note_for("services:\n  db:\n    image: postgres:18\n    ports: [\"5432\"]\n");
        assert!(
            notes[0].contains("keeps its data in no volume")
                && notes[0].contains("pgdata:/var/lib/postgresql\""),
            "{notes:?}"
        );
    }
}
