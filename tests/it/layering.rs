//! The house's floors, checked by reading the sources (no Docker needed): `config/` imports no
//! other devdb module, `docker/` knows no Postgres (`db`), and only the output layer
//! (`progress.rs`) and `main.rs` print or draw progress bars.

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
    let found: Vec<String> =
        foreign_imports(&src("docker"), &["docker", "config", "digest", "progress"]);
    assert!(found.is_empty(), "docker/ imports:\n{}", found.join("\n"));
}

#[test]
fn only_the_output_layer_prints() {
    let mut found = Vec::new();
    for file in src("") {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if file.parent().unwrap().ends_with("src") && (name == "progress.rs" || name == "main.rs") {
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
        "print outside progress.rs/main.rs:\n{}",
        found.join("\n")
    );
}

#[test]
fn pg_imports_nothing_else_of_devdb() {
    let found: Vec<String> = foreign_imports(&src("pg"), &["pg"]);
    assert!(found.is_empty(), "pg/ imports:\n{}", found.join("\n"));
}
