//! devdb's `prisma` generator against the real `prisma db pull` (Prisma 7.8, prisma-oracle) on
//! the same database and the same input file: the fixture under tests/fixtures/prisma holds
//! several dozen tables, views and enums, and a schema other than `public` that both ignore.

use crate::common;
use crate::oracle;

use std::collections::BTreeMap;
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

/// A small shop and the schema.prisma its user edited (see the migration's comment).
fn edited_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/prisma/edited")
}

/// Copies the fixture migrations into the project; returns how many there are.
fn copy_fixture(project: &TestProject, dir: &Path) -> usize {
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
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
    fn new(label: &str, migrations: &Path, image: &str) -> Option<Setup> {
        let oracle = Oracle::find()?;
        let project = TestProject::new(label);
        let yaml = project.database_yaml(image, "\"5432\"", "", GENERATE);
        project.write_compose(&oracle::mount_for_image(&yaml, image));
        copy_fixture(&project, migrations);
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

    /// Puts the same stale files into both `views/` folders (Prisma removes some of them).
    fn plant_stale_views(&self) {
        let devdb = self.project.path().join("prisma/views");
        for dir in [devdb, self.pull_dir.path().join("views")] {
            for (path, text) in [
                ("public/dropped_view.sql", "SELECT 1;"),
                ("gone/old.sql", "SELECT 2;"),
                ("public/nested/deeper.sql", "SELECT 3;"),
                ("top_level.sql", "SELECT 4;"),
                ("public/README.txt", "notes"),
            ] {
                let path = dir.join(path);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, text).unwrap();
            }
        }
    }

    /// Asserts both `views/` folders hold the same files with the same bytes; returns them.
    #[track_caller]
    fn assert_same_views(&self, what: &str) -> BTreeMap<String, String> {
        let devdb = files_below(&self.project.path().join("prisma/views"));
        let prisma = files_below(&self.pull_dir.path().join("views"));
        let names = |m: &BTreeMap<String, String>| m.keys().cloned().collect::<Vec<_>>();
        assert_eq!(names(&devdb), names(&prisma), "{what}: views/ files differ");
        for (path, text) in &prisma {
            assert_same(&devdb[path], text, &format!("{what}: views/{path}"));
        }
        prisma
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

/// Every file below `dir` (relative path, content); empty when `dir` does not exist.
fn files_below(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(relative, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    out
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
    equals_db_pull_on_the_big_fixture("pgen", &common::postgres_image());
}

#[tokio::test]
async fn generate_equals_prisma_db_pull_on_postgres_18() {
    let Some(image) = oracle::postgres_image_18() else {
        return;
    };
    equals_db_pull_on_the_big_fixture("pgen18", &image);
}

fn equals_db_pull_on_the_big_fixture(label: &str, image: &str) {
    let Some(setup) = Setup::new(label, &fixture_dir(), image) else {
        return;
    };
    for (label, input) in [
        ("with views", INPUT_WITH_VIEWS),
        ("without views", INPUT_PLAIN),
    ] {
        let (devdb, prisma, stderr, warnings) = setup.introspect_both(input);
        assert_same(&devdb, &prisma, &format!("first introspection, {label}"));
        // Without the preview feature both leave the first run's views/ alone.
        let views = setup.assert_same_views(label);
        assert!(views.len() >= 3, "{views:#?}");
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
    setup.assert_same_views("re-introspection of an edited schema");
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

#[tokio::test]
async fn reintrospecting_an_edited_schema_keeps_what_db_pull_keeps() {
    keeps_what_db_pull_keeps("pedit", &common::postgres_image());
}

#[tokio::test]
async fn reintrospecting_an_edited_schema_on_postgres_18() {
    let Some(image) = oracle::postgres_image_18() else {
        return;
    };
    keeps_what_db_pull_keeps("pedit18", &image);
}

/// The edited shop schema (tests/fixtures/prisma/edited): view fields the user made required
/// or unique, relation fields of views, client-side defaults, `@updatedAt`, renamed relation
/// fields, and the `views/` files with stale ones planted beforehand.
fn keeps_what_db_pull_keeps(label: &str, image: &str) {
    let Some(setup) = Setup::new(label, &edited_dir().join("migrations"), image) else {
        return;
    };
    let input = std::fs::read_to_string(edited_dir().join("schema.prisma")).unwrap();
    setup.assert_valid(&input);
    setup.plant_stale_views();
    let (devdb, prisma, stderr, warnings) = setup.introspect_both(&input);
    assert_same(&devdb, &prisma, "re-introspection of the edited shop");
    assert!(warnings.len() >= 5, "{warnings:#?}");
    for section in &warnings {
        assert!(
            stderr.contains(section.as_str()),
            "devdb does not print Prisma's warning:\n{section}\n--- devdb printed:\n{stderr}"
        );
    }
    let views = setup.assert_same_views("re-introspection of the edited shop");
    setup.assert_valid(&devdb);
    // What the comparison covers, so a fixture that stops exercising a class fails here.
    for kept in [
        // (a) a view's fields keep the arity and `@unique` the file gives them
        "  email   String\n",
        "  coupons BigInt\n",
        "  id      String  @unique @db.Uuid\n",
        "  @@unique([accountId, email])\n",
        "  account   Account @relation(fields: [accountId], references: [id])\n",
        // (b) client-side defaults and @updatedAt stay; a DB default wins over the file's
        "@id @default(cuid())",
        "@default(uuid(7)) @db.Uuid",
        "@default(nanoid(8))",
        "@default(cuid(2))",
        "@updatedAt @map(\"updated_at\")",
        "@default(dbgenerated(\"gen_random_uuid()\"))",
        // (c) names from the file
        "  buyer     Account   @relation(\"orders_buyer_idToaccounts\"",
        "  purchases Order[]       @relation(\"orders_buyer_idToaccounts\")",
        "  stats     AccountStat[]\n",
        "  vouchers  coupons[]\n",
    ] {
        assert!(devdb.contains(kept), "`{kept}` missing:\n{devdb}");
    }
    // Prisma drops `now()` and literals the database does not have.
    assert!(
        devdb.contains("  createdAt DateTime      @map(\"created_at\")\n"),
        "{devdb}"
    );
    assert!(!devdb.contains("@default(3)"), "{devdb}");
    // (d) views/<schema>/<Prisma name>.sql, stale files below the top level removed.
    let paths: Vec<&str> = views.keys().map(String::as_str).collect();
    assert_eq!(
        paths,
        [
            "public/AccountStat.sql",
            "public/OrderSummary.sql",
            "public/README.txt",
            "public/new_view.sql",
            "top_level.sql",
        ]
    );
    assert!(
        // (Postgres 16+ no longer qualifies the columns of a one-table view: `id`, not
        // `accounts.id`.)
        views["public/AccountStat.sql"].starts_with("SELECT\n  ")
            && views["public/AccountStat.sql"].contains("id AS account_id,\n")
            && views["public/AccountStat.sql"].ends_with("n > 0);"),
        "{:?}",
        views["public/AccountStat.sql"]
    );

    // Pulling its own output again changes nothing, for either tool.
    let (again, prisma_again, _, _) = setup.introspect_both(&devdb);
    assert_same(&again, &prisma_again, "second re-introspection");
    assert_same(&again, &devdb, "second re-introspection is stable");
    setup.assert_same_views("second re-introspection");
}

/// Item 7 of issue 20: without the oracle a Prisma test skips on a user's clone and fails in
/// CI. Runs this binary's own comparison test with a missing oracle, both ways.
#[test]
fn a_missing_oracle_fails_in_ci_and_skips_elsewhere() {
    let run = |ci: Option<&str>| {
        let mut command = std::process::Command::new(std::env::current_exe().unwrap());
        command
            .args([
                "--exact",
                "--nocapture",
                "prisma_generate::reintrospecting_an_edited_schema_keeps_what_db_pull_keeps",
            ])
            .env("PRISMA_ORACLE", "/nonexistent/prisma-oracle/prisma")
            .env_remove("CI");
        if let Some(value) = ci {
            command.env("CI", value);
        }
        let output = command.output().unwrap();
        (
            output.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        )
    };
    let (passed, text) = run(None);
    assert!(
        passed && text.contains("SKIP: prisma-oracle not found"),
        "{text}"
    );
    assert!(text.contains("1 passed"), "the test ran: {text}");
    let (passed, text) = run(Some("true"));
    assert!(!passed, "CI=true must fail without the oracle:\n{text}");
    assert!(
        text.contains("prisma-oracle not found at /nonexistent") && text.contains("CI is set"),
        "{text}"
    );
}
