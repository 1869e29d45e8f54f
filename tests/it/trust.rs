//! Issue 9 "Trust": stage passwords never reach output, whatever characters they hold and however
//! the connection fails; hung stages and commands are bounded.

use crate::common;

use std::time::{Duration, Instant};

use common::{connect, TestProject};
use devdb::config::Config;
use devdb::db::stage::Stage;

/// A password with every character the old string-slicing redaction got wrong: `/` and `?`
/// (where it ended the credentials), `@` (encoded in URLs), spaces and both quotes.
const PASSWORD: &str = "Zq8/pa?ss @w'o\"rd";
/// Fragments that must not appear either (the old redaction printed the tail after `/`).
const FRAGMENTS: [&str; 4] = ["Zq8", "pa?ss", "@w'o", "o\"rd"];

fn assert_no_secret(text: &str) {
    for fragment in FRAGMENTS.iter().chain([&PASSWORD]) {
        assert!(
            !text.contains(fragment),
            "`{fragment}` leaked into:\n{text}"
        );
    }
}

/// `@` must be encoded in a URL (tokio-postgres ends the credentials at the first `@`); `/`, `?`,
/// quotes and the space are left as users paste them.
fn url_password() -> String {
    PASSWORD.replace('@', "%40")
}

fn kv_password() -> String {
    PASSWORD.replace('\\', "\\\\").replace('\'', "\\'")
}

/// A stage database with a role whose password is [`PASSWORD`]; returns it and its port.
async fn nasty_stage(label: &str) -> (TestProject, u16) {
    let remote = TestProject::with_database(label, "");
    remote.devdb(&["up"]).ok();
    let url = remote.devdb(&["url"]).ok().stdout.trim().to_string();
    let port: u16 = url
        .rsplit_once(':')
        .and_then(|(_, tail)| tail.split('/').next())
        .and_then(|p| p.parse().ok())
        .expect("port in the URL");
    // The stage has a migration history, as stages do (else P3005 stops migrate commands).
    remote.write_migration(
        "20250101000000_people",
        "CREATE TABLE people (id int PRIMARY KEY, email text);",
    );
    remote.devdb(&["migrate", "deploy"]).ok();
    let client = connect(&remote).await;
    client
        .batch_execute(&format!(
            "CREATE ROLE stage_user LOGIN SUPERUSER PASSWORD '{}';
             INSERT INTO people VALUES (1, 'a@example.com');",
            PASSWORD.replace('\'', "''")
        ))
        .await
        .unwrap();
    (remote, port)
}

/// A local project whose stages read their URLs from files in the project root.
fn local_with_stages(label: &str, stages: &[(&str, String)]) -> TestProject {
    let local = TestProject::new(label);
    let mut yaml = String::from("  stages:\n");
    for (name, url) in stages {
        std::fs::write(local.path().join(format!("{name}.url")), url).unwrap();
        yaml.push_str(&format!(
            "    {name}: {{ url_command: \"cat {name}.url\", sslmode: disable }}\n"
        ));
    }
    local.write_compose(&local.database_yaml(&common::postgres_image(), "\"5432\"", "", &yaml));
    local
}

/// A port on 127.0.0.1 that refuses connections (bound, then released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn stage_passwords_never_reach_output_in_any_form_or_failure() {
    let (_remote, port) = nasty_stage("trust-remote").await;
    let refused = closed_port();
    let stages = [
        (
            "URL",
            format!(
                "postgres://stage_user:{}@127.0.0.1:{port}/app",
                url_password()
            ),
        ),
        (
            "KV",
            format!(
                "host=127.0.0.1 port={port} user=stage_user password='{}' dbname=app",
                kv_password()
            ),
        ),
        (
            "WRONG",
            format!(
                "postgres://stage_user:{}x@127.0.0.1:{port}/app",
                url_password()
            ),
        ),
        (
            "REFUSED",
            format!(
                "postgres://stage_user:{}@127.0.0.1:{refused}/app",
                url_password()
            ),
        ),
        // An unencoded `@`: the tail of the password would become the host name.
        (
            "INVALID",
            format!("postgres://stage_user:{PASSWORD}@127.0.0.1:{port}/app"),
        ),
        (
            "UNQUOTED",
            format!("host=127.0.0.1 port={port} user=stage_user password={PASSWORD} dbname=app"),
        ),
    ];
    let local = local_with_stages("trust-local", &stages);
    local.write_migration("20260101000000_init", "CREATE TABLE planned (id int);");
    local.devdb(&["up"]).ok();
    connect(&local)
        .await
        .batch_execute("CREATE TABLE people (id int PRIMARY KEY, email text)")
        .await
        .unwrap();

    for stage in ["URL", "KV"] {
        for args in [
            vec!["migrate", "status", "--stage", stage],
            vec!["migrate", "status", "--stage", stage, "--json"],
            vec!["migrate", "deploy", "--stage", stage],
            vec!["copy", "people", "--from", stage],
            vec!["copy", "people", "--from", stage, "--json"],
        ] {
            let run = local.devdb(&args);
            assert!(
                run.status.code() != Some(2),
                "{args:?} should reach the stage: {}",
                run.all()
            );
            assert_no_secret(&run.all());
        }
        // Without --confirm, --json gets the plan as JSON, and nothing is applied.
        let plan = local
            .devdb(&["migrate", "deploy", "--stage", stage, "--json"])
            .ok();
        let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
        assert_eq!(plan["apply"], serde_json::json!(["20260101000000_init"]));
        assert_eq!(plan["changed"], false);
        let status = local.devdb(&["migrate", "status", "--stage", stage, "--json"]);
        let json: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
        assert_eq!(
            json["target"],
            format!("stage_user@127.0.0.1:{port}/app, sslmode disable"),
            "{}",
            status.stdout
        );
    }
    assert_eq!(
        common::column(&connect(&local).await, "SELECT email FROM people").await,
        ["a@example.com"]
    );

    for (stage, expected) in [
        ("WRONG", "28P01"),
        ("REFUSED", "refused"),
        ("INVALID", "more than one `@`"),
        ("UNQUOTED", "parameter 5 is not `key=value`"),
    ] {
        for args in [
            vec!["migrate", "status", "--stage", stage, "--json"],
            vec!["copy", "people", "--from", stage],
        ] {
            let run = local.devdb(&args).fails();
            // Under --json the error is a JSON document on stdout.
            assert!(run.all().contains(expected), "{args:?}: {}", run.all());
            assert_no_secret(&run.all());
        }
    }

    // Debug of everything that holds a password.
    let config = Config::load(&local.compose_path(), None).unwrap();
    let debug = format!("{config:?} {:?}", config.credentials());
    assert!(!debug.contains("test-secret-pw"), "{debug}");
    for stage in ["URL", "KV"] {
        let resolved = Stage::resolve(&config, stage).await.unwrap();
        assert_no_secret(&format!("{resolved:?} {}", resolved.describe()));
    }
}

/// A "stage" that accepts TCP connections and never says a word.
fn silent_listener() -> (std::net::TcpListener, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

#[tokio::test]
async fn a_stage_that_never_answers_is_given_up_on_in_time() {
    let (_listener, port) = silent_listener();
    let local = local_with_stages(
        "trust-silent",
        &[
            (
                "TIMEOUT",
                format!("postgres://u:secret@127.0.0.1:{port}/app?connect_timeout=2"),
            ),
            (
                "DEFAULT",
                format!("postgres://u:secret@127.0.0.1:{port}/app"),
            ),
        ],
    );
    let config = Config::load(&local.compose_path(), None).unwrap();
    let stage = Stage::resolve(&config, "TIMEOUT").await.unwrap();
    let started = Instant::now();
    let error = stage.connect(true).await.expect_err("nothing answers");
    let waited = started.elapsed();
    // A timer never fires early, so the lower bound holds on any machine; the upper one only has
    // to tell the URL's 2 s from the 10 s default, which leaves a loaded machine 8 s of slack.
    let default = Stage::resolve(&config, "DEFAULT").await.unwrap();
    assert_eq!(default.connect_timeout(), Duration::from_secs(10));
    assert!(
        waited >= Duration::from_secs(2) && waited < default.connect_timeout(),
        "{waited:?}"
    );
    assert!(error.to_string().contains("within 2 s"), "{error}");

    let run = local
        .devdb(&["migrate", "status", "--stage", "TIMEOUT"])
        .fails();
    assert!(run.stderr.contains("within 2 s"), "{}", run.stderr);
}

/// Whether a process whose command line is `sleep SECONDS` still runs (a zombie has none).
fn sleep_runs(seconds: &str) -> bool {
    let wanted = format!("sleep\0{seconds}\0");
    std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
        std::fs::read(entry.path().join("cmdline")).is_ok_and(|line| line == wanted.as_bytes())
    })
}

#[tokio::test]
async fn url_command_runs_in_the_project_root_and_is_bounded() {
    let local = TestProject::new("trust-urlcmd");
    std::fs::write(local.path().join("where"), "postgres://u@127.0.0.1:1/app").unwrap();
    // A sleep this test alone starts (GNU sleep takes fractions), to find it among processes.
    let seconds = format!("600.{}", std::process::id());
    let hang = format!("echo waiting for the token >&2; sleep {seconds}");
    local.write_compose(&local.database_yaml(
        &common::postgres_image(),
        "\"5432\"",
        "",
        &format!(
            "  stages:\n    ROOT: {{ url_command: \"cat where\" }}\n    HANG: {{ url_command: \"{hang}\" }}\n"
        ),
    ));
    let config = Config::load(&local.compose_path(), None).unwrap();
    let root = Stage::resolve(&config, "ROOT")
        .await
        .expect("url_command runs in the project root");
    assert_eq!(root.describe(), "u@127.0.0.1:1/app, sslmode prefer");

    let started = Instant::now();
    // While the command hangs, its sleep is seen (so the check below can see it too).
    let (error, seen) = tokio::join!(Stage::resolve(&config, "HANG"), async {
        while !sleep_runs(&seconds) && started.elapsed() < Duration::from_secs(20) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        sleep_runs(&seconds)
    });
    assert!(seen, "`sleep {seconds}` was never seen running");
    let error = error.expect_err("a hung command is stopped");
    // Not before the bound (a timer never fires early); that it ends at all, nextest's
    // slow-timeout checks.
    assert!(started.elapsed() >= devdb::db::stage::URL_COMMAND_TIMEOUT);
    let error = error.to_string();
    assert!(
        error.contains(&format!("url_command `{hang}`"))
            && error.contains("did not finish within 30 s")
            && error.contains("waiting for the token"),
        "{error}"
    );
    // Stopped means the whole group: the sleep `sh` started is gone too (SIGKILL lands at once,
    // its exit may take the scheduler a moment).
    let killed = Instant::now();
    while sleep_runs(&seconds) {
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "`sleep {seconds}` outlived its url_command"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn mistyped_mask_or_where_tables_stop_the_copy_before_any_row_moves() {
    let tables = "CREATE TABLE users (id int PRIMARY KEY, email text);
                  CREATE TABLE \"MixedCase\" (id int PRIMARY KEY);";
    let pair = common::StagePair::new(
        "trust-masks",
        &format!(
            "{tables} INSERT INTO users VALUES (1, 'alice@example.com'), (2, 'bob@example.com');
             INSERT INTO \"MixedCase\" VALUES (1), (2);"
        ),
        tables,
        "  copy:\n    mask:\n      usres.email: hash\n",
    )
    .await;
    let local = connect(&pair.local).await;
    let run = pair
        .local
        .devdb(&["copy", "users", "--from", "CODE"])
        .fails();
    assert!(
        run.stderr.contains("x-devdb.copy.mask `usres.email`")
            && run.stderr.contains("did you mean public.users"),
        "{}",
        run.stderr
    );
    assert_eq!(
        common::column(&local, "SELECT count(*) FROM users").await,
        ["0"]
    );

    // With the mask spelled right: a --where naming a table that is not copied is refused, a
    // SQL-quoted name is understood, and a second statement is not a condition.
    let yaml = std::fs::read_to_string(pair.local.compose_path())
        .unwrap()
        .replace("usres.email", "users.email");
    pair.local.write_compose(&yaml);
    for (filter, expected) in [
        ("user:id = 1", "did you mean public.users"),
        ("users:true; DELETE FROM users", "one condition"),
        (
            "users:true) UNION SELECT 1, '' WHERE (true",
            "is not valid SQL",
        ),
    ] {
        let run = pair
            .local
            .devdb(&["copy", "users", "--from", "CODE", "--where", filter])
            .fails();
        assert!(run.stderr.contains(expected), "{filter}: {}", run.stderr);
    }
    assert_eq!(
        common::column(&local, "SELECT count(*) FROM users").await,
        ["0"]
    );
    pair.local
        .devdb(&[
            "copy",
            "users",
            "MixedCase",
            "--from",
            "CODE",
            "--where",
            "\"MixedCase\":id = 2",
        ])
        .ok();
    assert_eq!(
        common::column(&local, "SELECT id::text FROM \"MixedCase\"").await,
        ["2"]
    );
    let emails = common::column(&local, "SELECT email FROM users ORDER BY id").await;
    assert!(
        emails.iter().all(|e| !e.contains("example.com")),
        "{emails:?}"
    );
}

#[tokio::test]
async fn saved_copies_are_private_and_a_failed_recopy_keeps_the_previous_rows() {
    use std::os::unix::fs::PermissionsExt;
    let tables = "CREATE TABLE items (id int PRIMARY KEY, name text);
                  CREATE TABLE \"sl/ash\" (id int PRIMARY KEY);";
    let pair = common::StagePair::new(
        "trust-saved",
        &format!(
            "{tables} INSERT INTO items SELECT g, 'r' || g FROM generate_series(1, 5) g;
             INSERT INTO \"sl/ash\" VALUES (7);"
        ),
        "",
        "",
    )
    .await;
    pair.local.write_migration("20260101000000_init", tables);
    pair.local.devdb(&["migrate", "deploy"]).ok();
    pair.local
        .devdb(&["copy", "items", "sl/ash", "--from", "CODE", "--save"])
        .ok();

    let devdb = pair.local.path().join(".devdb");
    let data = devdb.join("data");
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&devdb), 0o700);
    assert_eq!(mode(&data), 0o700);
    let files: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        files.iter().any(|f| f.ends_with("public.sl%2Fash.copy")),
        "{files:?}"
    );
    for file in &files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
    let items = data.join("public.items.copy");
    let before = std::fs::read(&items).unwrap();

    // Row 3 fails the stage's query after the file was started.
    pair.local
        .devdb(&[
            "copy",
            "items",
            "--from",
            "CODE",
            "--save",
            "--where",
            "items:1 / (id - 3) IS NOT NULL",
        ])
        .fails();
    assert_eq!(std::fs::read(&items).unwrap(), before);
    let leftovers: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    pair.local.devdb(&["reset", "--no-generate"]).ok();
    let client = connect(&pair.local).await;
    assert_eq!(
        common::column(&client, "SELECT count(*) FROM items").await,
        ["5"]
    );
    assert_eq!(
        common::column(&client, "SELECT id::text FROM \"sl/ash\"").await,
        ["7"]
    );
}

#[tokio::test]
async fn hmac_masks_are_keyed_per_project_and_stable_across_tables_and_runs() {
    use hmac::{Hmac, KeyInit, Mac};
    use std::os::unix::fs::PermissionsExt;
    let tables = "CREATE TABLE users (id int PRIMARY KEY, email text);
                  CREATE TABLE orders (id int PRIMARY KEY, email varchar(200));";
    let pair = common::StagePair::new(
        "trust-hmac",
        &format!(
            "{tables} INSERT INTO users VALUES (1, 'alice@example.com'), (2, NULL);
             INSERT INTO orders VALUES (10, 'alice@example.com');"
        ),
        tables,
        "  copy:\n    mask:\n      users.email: hmac\n      orders.email: hmac\n",
    )
    .await;
    pair.local
        .devdb(&["copy", "users", "orders", "--from", "CODE"])
        .ok();
    let key_file = pair.local.path().join(".devdb/mask.key");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let hex = std::fs::read_to_string(&key_file).unwrap();
    let key: Vec<u8> = (0..64)
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(b"alice@example.com");
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();

    let client = connect(&pair.local).await;
    let users = "SELECT coalesce(email, 'NULL') FROM users ORDER BY id";
    let orders = "SELECT email FROM orders";
    assert_eq!(
        common::column(&client, users).await,
        [expected.as_str(), "NULL"]
    );
    assert_eq!(common::column(&client, orders).await, [expected.as_str()]);
    // A second run with the same key gives the same values.
    pair.local.devdb(&["copy", "users", "--from", "CODE"]).ok();
    assert_eq!(common::column(&client, users).await[0], expected);
}

#[tokio::test]
async fn a_stage_that_is_the_local_database_is_refused() {
    let local = TestProject::with_database("trust-self", "");
    let yaml = std::fs::read_to_string(local.compose_path()).unwrap()
        + "  stages:\n    SELF: { url_command: \"cat self.url\", sslmode: disable }\n";
    local.write_compose(&yaml);
    local.devdb(&["up"]).ok();
    let url = local.devdb(&["url"]).ok().stdout;
    std::fs::write(local.path().join("self.url"), url.trim()).unwrap();
    connect(&local)
        .await
        .batch_execute("CREATE TABLE people (id int); INSERT INTO people VALUES (1);")
        .await
        .unwrap();
    let run = local.devdb(&["copy", "people", "--from", "SELF"]).fails();
    assert!(
        run.stderr.contains("points at the local database itself"),
        "{}",
        run.stderr
    );
    assert_no_secret(&run.all());
    assert!(!run.all().contains("test-secret-pw"), "{}", run.all());
    assert_eq!(
        common::column(&connect(&local).await, "SELECT count(*) FROM people").await,
        ["1"]
    );
}

#[tokio::test]
async fn recreating_the_database_container_keeps_asynchronous_commits() {
    // Asynchronous commits reach the disk only when the WAL writer wakes (here: every 10 s) or
    // Postgres shuts down cleanly; a force-removed container loses them.
    let command =
        "    command: [postgres, -c, synchronous_commit=off, -c, wal_writer_delay=10000ms]\n";
    let project = TestProject::with_database("trust-graceful", command);
    project.devdb(&["up"]).ok();
    let client = connect(&project).await;
    client
        .batch_execute("CREATE TABLE commits (id int)")
        .await
        .unwrap();
    for id in 0..200 {
        client
            .execute("INSERT INTO commits VALUES ($1)", &[&id])
            .await
            .unwrap();
    }
    drop(client);
    // A configuration change recreates the container.
    let yaml = std::fs::read_to_string(project.compose_path())
        .unwrap()
        .replace(
            "POSTGRES_DB: app\n",
            "POSTGRES_DB: app\n      CHANGED: \"1\"\n",
        );
    project.write_compose(&yaml);
    let up = project.devdb(&["up", "--json"]).ok();
    assert!(up.stdout.contains("recreated"), "{}", up.stdout);
    assert_eq!(
        common::column(&connect(&project).await, "SELECT count(*) FROM commits").await,
        ["200"]
    );
}

#[test]
fn an_engine_that_never_answers_is_given_up_on_after_ten_seconds() {
    let (_listener, port) = silent_listener();
    let project = TestProject::with_database("trust-engine", "");
    let started = Instant::now();
    let run = project
        .devdb_with_env(
            &["status"],
            &[("DOCKER_HOST", &format!("tcp://127.0.0.1:{port}"))],
        )
        .fails();
    // At least the 10 s (a timer never fires early); the upper bound only rules out a wait of
    // another order (retries, bollard's own 120 s), with room for a loaded machine.
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(10) && waited < Duration::from_secs(60),
        "{waited:?}"
    );
    assert!(
        run.stderr.contains("did not answer within 10 s"),
        "{}",
        run.stderr
    );
}

/// The ids of the networks named exactly `name`.
async fn networks_named(name: &str) -> Vec<String> {
    use bollard::query_parameters::ListNetworksOptionsBuilder;
    let filter = std::collections::HashMap::from([("name".to_string(), vec![name.to_string()])]);
    common::docker()
        .await
        .list_networks(Some(
            ListNetworksOptionsBuilder::default()
                .filters(&filter)
                .build(),
        ))
        .await
        .unwrap()
        .into_iter()
        .filter(|n| n.name.as_deref() == Some(name))
        .filter_map(|n| n.id)
        .collect()
}

/// What a lost race between two `up`s leaves: a second network of the project's name.
async fn duplicate_network(project: &TestProject) {
    let request = bollard::models::NetworkCreateRequest {
        name: format!("{}_default", project.name),
        driver: Some("bridge".to_string()),
        labels: Some(std::collections::HashMap::from([
            (
                "com.docker.compose.project".to_string(),
                project.name.clone(),
            ),
            (
                "com.docker.compose.network".to_string(),
                "default".to_string(),
            ),
        ])),
        ..Default::default()
    };
    common::docker()
        .await
        .create_network(request)
        .await
        .unwrap();
}

#[tokio::test]
async fn concurrent_ups_converge_on_one_network_and_destroy_removes_duplicates() {
    let project = TestProject::with_database("trust-net", "");
    let network = format!("{}_default", project.name);
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| project.devdb(&["up"]));
        let b = scope.spawn(|| project.devdb(&["up"]));
        (a.join().unwrap(), b.join().unwrap())
    });
    for run in [&a, &b] {
        assert!(!run.all().contains("409"), "{}", run.all());
    }
    assert_eq!(networks_named(&network).await.len(), 1);

    // Duplicates left by an older devdb: up still works, destroy removes them all.
    duplicate_network(&project).await;
    duplicate_network(&project).await;
    project.devdb(&["up"]).ok();
    project.devdb(&["destroy", "--yes"]).ok();
    assert!(networks_named(&network).await.is_empty());
}

#[tokio::test]
async fn concurrent_resets_are_serialized() {
    let project = TestProject::with_database("trust-reset", "");
    project.write_migration(
        "20260101000000_init",
        "CREATE TABLE items (id int PRIMARY KEY);",
    );
    project.devdb(&["up"]).ok();
    project.devdb(&["reset", "--no-generate"]).ok();
    let runs = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| project.devdb(&["reset", "--no-generate"])))
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect::<Vec<_>>()
    });
    for run in &runs {
        assert!(run.status.success(), "{}", run.all());
    }
    assert!(
        runs.iter().any(|r| r.stderr.contains("another reset")),
        "no reset waited: {:?}",
        runs.iter().map(|r| r.all()).collect::<Vec<_>>()
    );
    assert_eq!(
        common::column(&connect(&project).await, "SELECT count(*) FROM items").await,
        ["0"]
    );
}

/// An `up` that finds the database missing while a reset has it renamed aside waits for that
/// reset: an empty database created in the gap took the name the reset was about to put its
/// copy under (seen as a reset failing with 23505 while another command ran `up`).
#[test]
fn up_waits_for_a_reset_that_has_the_database_aside() {
    let project = TestProject::with_database("trust-up-aside", "");
    project.devdb(&["up"]).ok();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = runtime.block_on(connect(&project));
    runtime
        .block_on(client.batch_execute("CREATE TABLE marker (id int)"))
        .unwrap();
    drop(client);
    let url = project.devdb(&["url"]).ok().stdout.trim().to_string();
    let admin_url = format!("{}/postgres", url.rsplit_once('/').unwrap().0);
    let (admin, connection) = runtime
        .block_on(tokio_postgres::connect(&admin_url, tokio_postgres::NoTls))
        .unwrap();
    runtime.spawn(connection);
    let sql = |statement: &str| runtime.block_on(admin.batch_execute(statement)).unwrap();
    let column = |query: &str| runtime.block_on(common::column(&admin, query));
    // What a reset does first: take its lock, then move the database aside.
    sql("SELECT pg_advisory_lock(hashtext('devdb reset app'))");
    sql("ALTER DATABASE app RENAME TO app_aside");
    let up = std::thread::scope(|scope| {
        let up = scope.spawn(|| project.devdb(&["up"]));
        let waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted";
        let deadline = Instant::now() + Duration::from_secs(30);
        while column(waiting) != ["1"] {
            let names = column("SELECT string_agg(datname, ',') FROM pg_database");
            assert!(
                Instant::now() < deadline && !up.is_finished(),
                "up never waited for the reset lock; databases now: {names:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let app = "SELECT count(*) FROM pg_database WHERE datname = 'app'";
        assert_eq!(column(app), ["0"], "up created a database while waiting");
        // The reset puts its database in place and ends.
        sql("ALTER DATABASE app_aside RENAME TO app");
        sql("SELECT pg_advisory_unlock(hashtext('devdb reset app'))");
        up.join().unwrap()
    });
    let up = up.ok();
    assert!(
        up.stderr
            .contains("a reset of database app is running; waiting for it to finish"),
        "{}",
        up.stderr
    );
    let client = runtime.block_on(connect(&project));
    let marker = runtime.block_on(common::column(&client, "SELECT count(*) FROM marker"));
    assert_eq!(marker, ["0"], "up's database is the one the reset put back");
}
