//! The house's floors, checked by reading the sources (no Docker needed): `config/` imports no
//! other devdb module, `docker/` knows no Postgres (`db`), only the Shell (`shell.rs`) and
//! `main.rs` print or draw progress bars, and only `ops/` resolves stages or opens the local
//! database, so each happens once per command.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read src dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

fn src(folder: &str) -> Vec<PathBuf> {
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src")
            .join(folder),
    )
}

/// `use crate::X` lines (and `crate::X::` paths) naming a top-level module outside `allowed`.
fn foreign_imports(files: &[PathBuf], allowed: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).expect("read source");
        for (number, line) in text.lines().enumerate() {
            for (at, _) in line.match_indices("crate::") {
                let module: String = line[at + 7..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !module.is_empty() && !allowed.contains(&module.as_str()) {
                    found.push(format!(
                        "{}:{}: {}",
                        file.display(),
                        number + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    found
}

#[test]
fn config_imports_nothing_else_of_devdb() {
    let found: Vec<String> = foreign_imports(&src("config"), &["config"]);
    assert!(found.is_empty(), "config/ imports:\n{}", found.join("\n"));
}

#[test]
fn docker_knows_no_postgres() {
    let found: Vec<String> = foreign_imports(
        &src("docker"),
        &[
            "docker", "config", "atomic", "digest", "hint", "shell", "tls",
        ],
    );
    assert!(found.is_empty(), "docker/ imports:\n{}", found.join("\n"));
}

#[test]
fn only_the_output_layer_prints() {
    let mut found = Vec::new();
    for file in src("") {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if file.parent().unwrap().ends_with("src") && (name == "shell.rs" || name == "main.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read source");
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if [
                "print!(",
                "println!(",
                "eprint!(",
                "eprintln!(",
                "indicatif::",
                // Writing to the process's streams around the Shell (`devdb logs` did).
                "io::stdout()",
                "io::stderr()",
            ]
            .iter()
            .any(|needle| code.contains(needle))
            {
                found.push(format!(
                    "{}:{}: {}",
                    file.display(),
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "print outside shell.rs/main.rs:\n{}",
        found.join("\n")
    );
}

/// Lines of `src/` (outside `allowed` files/folders) whose code contains one of `needles`.
fn uses_outside(needles: &[&str], allowed: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for file in src("") {
        let relative = file
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if allowed.iter().any(|a| relative.starts_with(a)) {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read source");
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if needles.iter().any(|needle| code.contains(needle)) {
                found.push(format!("{relative}:{}: {}", number + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn only_ops_resolves_stages() {
    // db/stage.rs defines it.
    let found = uses_outside(&["Stage::resolve("], &["ops/", "db/stage.rs"]);
    assert!(
        found.is_empty(),
        "Stage::resolve outside ops/:\n{}",
        found.join("\n")
    );
}

#[test]
fn only_ops_brings_up_the_local_database_or_the_engine() {
    let found = uses_outside(
        &["local::database(", "Engine::connect(", "connection_info("],
        &[
            "ops/",
            // Defines them.
            "local/mod.rs",
            "docker/mod.rs",
            // `reset` times bringing the database up as its first step, on the engine ops gave it.
            "workflow/mod.rs",
        ],
    );
    assert!(
        found.is_empty(),
        "local database or engine opened outside ops/:\n{}",
        found.join("\n")
    );
}

#[test]
fn commands_stay_thin() {
    let lines: usize = src("commands")
        .iter()
        .map(|f| {
            std::fs::read_to_string(f)
                .expect("read source")
                .lines()
                .count()
        })
        .sum();
    // A ratchet: the text and JSON went to render/, the work of `init` to ops/init.rs.
    // +33 for `devdb branch` (commands/branch.rs and its dispatch, the branch part of status).
    // +16 for `migrate new|diff --from-db` (its dispatch and two thin functions).
    // +1 for `devdb branch prune` (its dispatch line).
    assert!(
        lines <= 470,
        "src/commands/ has {lines} lines; move the work into ops/"
    );
}

#[test]
fn render_does_no_work() {
    // Rendering reads a finished report: nothing awaited, no files, no context to reach the
    // engine or a database through.
    let mut found = Vec::new();
    for file in src("render") {
        let text = std::fs::read_to_string(&file).expect("read source");
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if [".await", "std::fs::", "Ctx"]
                .iter()
                .any(|n| code.contains(n))
            {
                found.push(format!(
                    "{}:{}: {}",
                    file.display(),
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(found.is_empty(), "work in render/:\n{}", found.join("\n"));
}

#[test]
fn pg_imports_nothing_else_of_devdb() {
    let found: Vec<String> = foreign_imports(&src("pg"), &["pg"]);
    assert!(found.is_empty(), "pg/ imports:\n{}", found.join("\n"));
}

#[test]
fn catalog_sql_stays_in_pg() {
    // Relations, columns, constraints and indexes are read by `pg::catalog`, one reader per
    // fact, so copy, lint and generate see the same facts through the same user-schema filter.
    // An entry here needs a reason (a reader that cannot be a shared fact); none does today.
    let allowed: &[&str] = &["pg/"];
    let found = uses_outside(&["pg_attribute", "pg_constraint", "pg_index"], allowed);
    assert!(
        found.is_empty(),
        "catalog SQL outside src/pg/ (add a reader to pg::catalog):\n{}",
        found.join("\n")
    );
}
