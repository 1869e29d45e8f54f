//! devdb's `prisma` generator against the real `prisma db pull` (Prisma 7.8, prisma-oracle) on
//! the same database and the same input file: the fixture under tests/fixtures/prisma holds
//! several dozen tables, views and enums, and a schema other than `public` that both ignore.

mod common;
#[path = "fixtures/prisma/oracle.rs"]
mod oracle;

use std::path::{Path, PathBuf};
use std::time::Instant;

use common::TestProject;
use oracle::Oracle;

const GENERATE: &str = "  generate:\n    - { kind: prisma, schema: ../prisma/schema.prisma }\n";
const INPUT_WITH_VIEWS: &str = "// the project's own comment\ngenerator client {\n  provider = \"prisma-client\"\n  output = \"../generated/prisma\"\n  previewFeatures = [\"views\"]\n}\n\ndatasource db {\n  provider = \"postgresql\"\n}\n";
const INPUT_PLAIN: &str =
    "generator client {\n  provider = \"prisma-client\"\n}\n\ndatasource db {\n  provider = \"postgresql\"\n}\n";

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/prisma/migrations")
}

/// Copies the fixture migrations into the project; returns how many there are.
fn copy_fixture(project: &TestProject) -> usize {
    let mut count = 0;
    for entry in std::fs::read_dir(fixture_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            let script = std::fs::read_to_string(path.join("migration.sql")).unwrap();
            project.write_migration(&path.file_name().unwrap().to_string_lossy(), &script);
            count += 1;
        }
    }
    count
}

struct Setup {
    project: TestProject,
    oracle: Oracle,
    url: String,
    /// Where Prisma's copy of the schema lives (db pull rewrites it, and writes views/ beside).
    pull_dir: tempfile::TempDir,
}

impl Setup {
    fn new(label: &str) -> Option<Setup> {
        let oracle = Oracle::find()?;
        let project = TestProject::new(label);
        project.write_compose(&project.database_yaml(
            &common::postgres_image(),
            "\"5432\"",
            "",
            GENERATE,
        ));
        copy_fixture(&project);
        project.devdb(&["migrate", "deploy"]).ok();
        let url = project.devdb(&["url"]).ok().stdout.trim().to_string();
        std::fs::create_dir_all(project.path().join("prisma")).unwrap();
        Some(Setup {
            project,
            oracle,
            url,
            pull_dir: tempfile::tempdir().unwrap(),
        })
    }

    fn devdb_schema(&self) -> PathBuf {
        self.project.path().join("prisma/schema.prisma")
    }

    /// Runs both on copies of `input`; returns (devdb's file, Prisma's file, devdb's stderr,
    /// Prisma's warning sections).
    fn introspect_both(&self, input: &str) -> (String, String, String, Vec<String>) {
        std::fs::write(self.devdb_schema(), input).unwrap();
        let started = Instant::now();
        let run = self.project.devdb(&["generate"]).ok();
        let devdb_time = started.elapsed();

        let pulled = self.pull_dir.path().join("schema.prisma");
        std::fs::write(&pulled, input).unwrap();
        let started = Instant::now();
        let pull = self.oracle.run(&pulled, None, &self.url, &["db", "pull"]);
        let prisma_time = started.elapsed();
        assert!(pull.success, "prisma db pull failed:\n{}", pull.all());
        eprintln!(
            "MEASURE: devdb generate (prisma) {} ms, prisma db pull {} ms",
            devdb_time.as_millis(),
            prisma_time.as_millis()
        );
        (
            std::fs::read_to_string(self.devdb_schema()).unwrap(),
            std::fs::read_to_string(&pulled).unwrap(),
            run.stderr,
            warning_sections(&pull.stdout),
        )
    }

    fn assert_valid(&self, schema: &str) {
        let errors = self.validation_errors(schema);
        assert!(
            errors.is_empty(),
            "prisma validate rejects devdb's schema: {errors:#?}"
        );
    }

    /// The messages of the errors `prisma validate` reports (none when it accepts the file).
    fn validation_errors(&self, schema: &str) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("schema.prisma");
        std::fs::write(&path, schema).unwrap();
        let run = self.oracle.run(&path, None, &self.url, &["validate"]);
        let text = strip_ansi(&run.all());
        let errors: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("error: "))
            .map(str::to_string)
            .collect();
        assert_eq!(
            run.success,
            errors.is_empty(),
            "unexpected validate output:\n{text}"
        );
        errors
    }
}

/// The sections of the `*** WARNING ***` block `prisma db pull` prints.
fn warning_sections(stdout: &str) -> Vec<String> {
    let Some((_, rest)) = stdout.split_once("*** WARNING ***\n") else {
        return Vec::new();
    };
    let block = rest.split("\nRun prisma generate").next().unwrap_or(rest);
    block
        .split("\n\n")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Asserts byte equality, showing a unified diff (devdb vs Prisma) when they differ.
#[track_caller]
fn assert_same(devdb: &str, prisma: &str, what: &str) {
    if devdb == prisma {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        dir.path().join("devdb.prisma"),
        dir.path().join("prisma.prisma"),
    );
    std::fs::write(&a, devdb).unwrap();
    std::fs::write(&b, prisma).unwrap();
    let diff = std::process::Command::new("diff")
        .arg("-u")
        .arg(&a)
        .arg(&b)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_else(|e| format!("(no diff: {e})"));
    panic!("{what}: devdb's schema.prisma differs from prisma db pull's:\n{diff}");
}

/// The user's edits Prisma keeps on re-introspection: renamed model (with `@@map`), renamed
/// field (with `@map`), renamed enum, custom relation field names, `///` comments, `@@ignore`.
fn edit(schema: &str) -> String {
    let mut out = Vec::new();
    let mut model = String::new();
    for line in schema.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let Some(name) = line
            .strip_prefix("model ")
            .and_then(|l| l.strip_suffix(" {"))
        {
            model = name.to_string();
            match name {
                "users" => {
                    out.push("/// People who write posts".to_string());
                    out.push("model User {".to_string());
                    continue;
                }
                "kinds" => {
                    out.push(line.to_string());
                    continue;
                }
                _ => {}
            }
        }
        if line == "enum mood {" {
            out.push("enum Mood {".to_string());
            model = "mood".to_string();
            continue;
        }
        if line == "}" {
            match model.as_str() {
                "users" => out.push("\n  @@map(\"users\")".to_string()),
                "mood" => out.push("\n  @@map(\"mood\")".to_string()),
                "kinds" => out.push("\n  @@ignore".to_string()),
                _ => {}
            }
            model.clear();
        }
        let mut line = line.to_string();
        if words.len() >= 2 {
            let retyped = match words[1] {
                "users" => Some("User"),
                "users?" => Some("User?"),
                "users[]" => Some("User[]"),
                "mood" => Some("Mood"),
                "mood[]" => Some("Mood[]"),
                "mood?" => Some("Mood?"),
                _ => None,
            };
            if let Some(new_type) = retyped {
                // Replace the second word (the type), keeping the alignment's spaces.
                let name_end = line.find(words[0]).unwrap() + words[0].len();
                let type_start = name_end + line[name_end..].find(words[1]).unwrap();
                line = format!(
                    "{}{new_type}{}",
                    &line[..type_start],
                    &line[type_start + words[1].len()..]
                );
            }
            match (model.as_str(), words[0]) {
                ("posts", "created_at") => {
                    line = line.replacen("created_at", "createdAt ", 1) + " @map(\"created_at\")";
                }
                ("posts", "title") => out.push("  /// Shown in lists".to_string()),
                ("posts", "users_posts_author_idTousers") => {
                    line = line.replacen("users_posts_author_idTousers", "author", 1);
                }
                ("users", "posts_posts_author_idTousers") => {
                    line = line.replacen("posts_posts_author_idTousers", "authoredPosts", 1);
                }
                _ => {}
            }
        }
        out.push(line);
    }
    out.join("\n") + "\n"
}

#[tokio::test]
async fn generate_equals_prisma_db_pull_and_keeps_edits_like_it() {
    let Some(setup) = Setup::new("pgen") else {
        return;
    };
    for (label, input) in [
        ("with views", INPUT_WITH_VIEWS),
        ("without views", INPUT_PLAIN),
    ] {
        let (devdb, prisma, stderr, warnings) = setup.introspect_both(input);
        assert_same(&devdb, &prisma, &format!("first introspection, {label}"));
        assert!(warnings.len() >= 5, "{warnings:#?}");
        for section in &warnings {
            assert!(
                stderr.contains(section.as_str()),
                "devdb does not print Prisma's warning:\n{section}\n--- devdb printed:\n{stderr}"
            );
        }
        setup.assert_valid(&devdb);
        assert!(
            !devdb.contains("things") && !devdb.contains("hidden_enum"),
            "the `other` schema must be ignored:\n{devdb}"
        );
        assert!(
            stderr.contains("These fields are not supported by Prisma Client"),
            "devdb prints Prisma's warnings:\n{stderr}"
        );
    }

    // Re-introspection keeps the user's edits, as Prisma keeps them.
    let (first, _, _, _) = setup.introspect_both(INPUT_WITH_VIEWS);
    let edited = edit(&first);
    assert!(
        edited.contains("model User {") && edited.contains("authoredPosts"),
        "{edited}"
    );
    setup.assert_valid(&edited);
    let (devdb, prisma, _, _) = setup.introspect_both(&edited);
    assert_same(&devdb, &prisma, "re-introspection of an edited schema");
    // Prisma 7.8 drops `@ignore` from relation fields to a model the file marks `@@ignore`
    // (page_views here) and then rejects its own output; devdb writes the same bytes. Exactly
    // those errors, and no others, are expected (see README, "Prisma").
    let errors = setup.validation_errors(&devdb);
    assert_eq!(errors.len(), 2, "{errors:#?}");
    for error in &errors {
        assert!(
            error.contains("must specify the `@ignore` attribute, because the model page_views it is pointing to is marked ignored"),
            "{errors:#?}"
        );
    }
    for kept in [
        "model User {",
        "@@map(\"users\")",
        "createdAt",
        "/// Shown in lists",
        "authoredPosts",
        "enum Mood {",
    ] {
        assert!(
            devdb.contains(kept),
            "re-introspection lost `{kept}`:\n{devdb}"
        );
    }
}

#[tokio::test]
async fn fixture_size() {
    // Counted from the migrations, so the report's figures stay true to the fixture.
    let mut sql = String::new();
    for entry in std::fs::read_dir(fixture_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sql.push_str(&std::fs::read_to_string(path.join("migration.sql")).unwrap());
        }
    }
    let count = |prefix: &str| sql.lines().filter(|l| l.starts_with(prefix)).count();
    let tables = count("CREATE TABLE");
    let views = count("CREATE VIEW") + count("CREATE MATERIALIZED VIEW");
    let enums = count("CREATE TYPE");
    eprintln!("MEASURE: fixture has {tables} tables, {views} views, {enums} enums");
    assert!(
        tables >= 40 && views >= 4 && enums >= 5,
        "{tables} {views} {enums}"
    );
}
