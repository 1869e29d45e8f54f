//! `devdb copy` keeps every foreign key true: after a copy commits, a join-based check (not
//! `pg_constraint`) finds no row pointing at a row that is not there; a copy that would break
//! one stops with the FK, the rows and the ways out, and changes nothing.

use crate::common;

use common::{column, connect, StagePair};

const SHOP: &str = "CREATE TABLE users (id int PRIMARY KEY, name text);
     CREATE TABLE orders (id int PRIMARY KEY, user_id int NOT NULL REFERENCES users (id), total int);
     CREATE TABLE notes (id int PRIMARY KEY, order_id int REFERENCES orders (id), body text);";

/// Child rows whose parent row is missing, for each FK of the shop, by joins.
async fn dangling(client: &tokio_postgres::Client) -> Vec<String> {
    column(
        client,
        "SELECT (SELECT count(*) FROM orders o LEFT JOIN users u ON u.id = o.user_id WHERE u.id IS NULL)
         || ' ' || (SELECT count(*) FROM notes n LEFT JOIN orders o ON o.id = n.order_id
                    WHERE n.order_id IS NOT NULL AND o.id IS NULL)",
    )
    .await
}

/// A digest of every local row of the shop, to show a refused copy changed nothing.
async fn contents(client: &tokio_postgres::Client) -> Vec<String> {
    column(
        client,
        "SELECT md5(coalesce((SELECT string_agg(u::text, ',' ORDER BY id) FROM users u), '')
                 || '|' || coalesce((SELECT string_agg(o::text, ',' ORDER BY id) FROM orders o), '')
                 || '|' || coalesce((SELECT string_agg(n::text, ',' ORDER BY id) FROM notes n), ''))",
    )
    .await
}

async fn shop() -> StagePair {
    StagePair::new(
        "fkcheck",
        &format!(
            "{SHOP} INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 50) g;
             INSERT INTO orders SELECT g, 1 + g % 50, g FROM generate_series(1, 400) g;"
        ),
        &format!(
            "{SHOP} INSERT INTO users VALUES (1, 'local'), (900, 'only local');
             INSERT INTO orders VALUES (1, 1, 5), (900, 900, 7);
             INSERT INTO notes VALUES (1, 900, 'about a local order'), (2, NULL, 'loose');"
        ),
        "",
    )
    .await
}

#[tokio::test]
async fn a_copy_that_would_leave_rows_pointing_nowhere_changes_nothing() {
    let pair = shop().await;
    let client = connect(&pair.local).await;
    let before = contents(&client).await;

    // Orders without their users (--no-follow): the copied orders would point at users 2..50.
    let run = pair
        .local
        .devdb(&[
            "copy",
            "orders",
            "--from",
            "CODE",
            "--where",
            "orders:id <= 200",
            "--no-follow",
        ])
        .fails();
    assert_eq!(run.status.code(), Some(2), "{}", run.stderr);
    let text = &run.stderr;
    assert!(
        text.contains("orders_user_id_fkey public.orders (user_id) → public.users (id): 196 rows of public.orders point at rows public.users will not have, e.g. ("),
        "{text}"
    );
    assert!(text.contains("nothing was copied"), "{text}");
    assert!(text.contains("copy public.users too"), "{text}");
    // The local notes pointing at order 900 would dangle too once orders is replaced.
    assert!(
        text.contains("notes_order_id_fkey public.notes (order_id) → public.orders (id): 1 rows of public.notes")
            && text.contains("local rows of public.notes, which is not copied"),
        "{text}"
    );
    assert_eq!(
        contents(&client).await,
        before,
        "a refused copy changed rows"
    );

    // Without --no-follow the users those orders reference come too; the note still dangles.
    let run = pair
        .local
        .devdb(&[
            "copy",
            "orders",
            "--from",
            "CODE",
            "--where",
            "orders:id <= 200",
        ])
        .fails();
    assert!(
        run.stderr
            .contains("1 rows of public.notes point at rows public.orders will not have")
            && !run.stderr.contains("rows of public.orders point at"),
        "{}",
        run.stderr
    );
    assert_eq!(contents(&client).await, before);

    // Both tables: the orders hold, the local note on order 900 still would not.
    let run = pair
        .local
        .devdb(&["copy", "users", "orders", "--from", "CODE"])
        .fails();
    assert!(
        run.stderr.contains(
            "1 rows of public.notes point at rows public.orders will not have, e.g. (900)"
        ),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("orders_user_id_fkey"),
        "{}",
        run.stderr
    );
    assert_eq!(contents(&client).await, before);

    // --prune-dangling deletes that note, says so, and the copy lands.
    let run = pair
        .local
        .devdb(&[
            "copy",
            "users",
            "orders",
            "--from",
            "CODE",
            "--prune-dangling",
            "--json",
        ])
        .ok();
    assert!(
        run.stderr
            .contains("deleted 1 rows of public.notes that broke notes_order_id_fkey"),
        "{}",
        run.stderr
    );
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        report["pruned"],
        serde_json::json!([{"table": "public.notes", "foreign_key": "notes_order_id_fkey", "rows": 1}])
    );
    assert_eq!(dangling(&client).await, ["0 0"]);
    assert_eq!(
        column(
            &client,
            "SELECT (SELECT count(*) FROM users) || ' ' || (SELECT count(*) FROM orders) || ' '
                    || (SELECT string_agg(body, ',') FROM notes)"
        )
        .await,
        ["50 400 loose"]
    );

    // Pruning follows what it deletes: orders without users go, and so do their notes.
    client
        .batch_execute("INSERT INTO notes VALUES (3, 6, 'on order 6, of user 7')")
        .await
        .unwrap();
    let run = pair
        .local
        .devdb(&[
            "copy",
            "users",
            "--from",
            "CODE",
            "--where",
            "users:id <> 7",
            "--prune-dangling",
        ])
        .ok();
    assert!(
        run.stderr
            .contains("deleted 8 rows of public.orders that broke orders_user_id_fkey")
            && run
                .stderr
                .contains("deleted 1 rows of public.notes that broke notes_order_id_fkey"),
        "{}",
        run.stderr
    );
    assert_eq!(dangling(&client).await, ["0 0"]);
}

#[tokio::test]
async fn a_mask_on_one_side_of_a_key_is_refused_and_the_same_hmac_on_both_sides_joins() {
    let schema = "CREATE TABLE accounts (id int PRIMARY KEY, email text NOT NULL UNIQUE);
                  CREATE TABLE invoices (id int PRIMARY KEY, email text REFERENCES accounts (email));";
    let pair = StagePair::new(
        "fkmask",
        &format!(
            "{schema} INSERT INTO accounts SELECT g, 'p' || g || '@x.io' FROM generate_series(1, 30) g;
             INSERT INTO invoices SELECT g, 'p' || (1 + g % 30) || '@x.io' FROM generate_series(1, 90) g;"
        ),
        &format!("{schema} INSERT INTO accounts VALUES (1, 'kept@x.io'); INSERT INTO invoices VALUES (1, 'kept@x.io');"),
        "  copy:\n    mask:\n      accounts.email: hash\n",
    )
    .await;
    let client = connect(&pair.local).await;
    let snapshot = "SELECT (SELECT string_agg(a::text, ',') FROM accounts a) || '|' || (SELECT string_agg(i::text, ',') FROM invoices i)";
    let before = column(&client, snapshot).await;
    let run = pair
        .local
        .devdb(&["copy", "accounts", "invoices", "--from", "CODE"])
        .fails();
    assert!(
        run.stderr.contains("public.invoices.email is not masked but public.accounts.email, which it references through invoices_email_fkey, is masked with hmac")
            && run.stderr.contains("mask both columns with `hmac`"),
        "{}",
        run.stderr
    );
    assert_eq!(column(&client, snapshot).await, before, "nothing changed");

    // The same keyed mask on both sides: every invoice still finds its account.
    let compose = std::fs::read_to_string(pair.local.compose_path()).unwrap();
    pair.local.write_compose(&compose.replace(
        "      accounts.email: hash\n",
        "      accounts.email: hash\n      invoices.email: hmac\n",
    ));
    pair.local
        .devdb(&["copy", "accounts", "invoices", "--from", "CODE"])
        .ok();
    assert_eq!(
        column(
            &client,
            "SELECT count(*) || ' ' || count(a.id) || ' ' || count(*) FILTER (WHERE i.email LIKE '%@x.io')
             FROM invoices i LEFT JOIN accounts a ON a.email = i.email"
        )
        .await,
        ["90 90 0"]
    );

    // Invoices restricted to filtered accounts whose key is masked: the local keys are not the
    // stage's, so the invoices are chosen on the stage (3 for each of accounts 1..5).
    pair.local
        .devdb(&[
            "copy",
            "accounts",
            "invoices",
            "--from",
            "CODE",
            "--where",
            "accounts:id <= 5",
        ])
        .ok();
    assert_eq!(
        column(
            &client,
            "SELECT count(*) || ' ' || count(a.id) || ' ' || (SELECT count(*) FROM accounts)
             FROM invoices i LEFT JOIN accounts a ON a.email = i.email"
        )
        .await,
        ["15 15 5"]
    );
}

/// Teams and users in a cycle (a deferrable FK), a self-reference, an FK to a unique non-key
/// column, a composite FK into a partitioned table in another schema, and a nullable FK.
pub(crate) const GRAPH: &str = "CREATE SCHEMA billing;
    CREATE TABLE teams (id int PRIMARY KEY, lead_id int, name text);
    CREATE TABLE users (id int PRIMARY KEY, team_id int NOT NULL REFERENCES teams (id),
                        manager_id int REFERENCES users (id), email text NOT NULL UNIQUE);
    ALTER TABLE teams ADD CONSTRAINT teams_lead_fk FOREIGN KEY (lead_id) REFERENCES users (id)
        DEFERRABLE INITIALLY DEFERRED;
    CREATE TABLE products (id serial PRIMARY KEY, sku text NOT NULL UNIQUE, title text);
    CREATE TABLE billing.orders (id int, region int, user_id int NOT NULL REFERENCES users (id),
                                 PRIMARY KEY (id, region)) PARTITION BY LIST (region);
    CREATE TABLE billing.orders_1 PARTITION OF billing.orders FOR VALUES IN (1);
    CREATE TABLE billing.orders_2 PARTITION OF billing.orders FOR VALUES IN (2);
    CREATE TABLE order_items (id int PRIMARY KEY, order_id int NOT NULL, region int NOT NULL,
                              sku text REFERENCES products (sku),
                              FOREIGN KEY (order_id, region) REFERENCES billing.orders (id, region));";

const GRAPH_ROWS: &str = "BEGIN;
    INSERT INTO teams SELECT g, g * 7, 't' || g FROM generate_series(1, 10) g;
    INSERT INTO users SELECT g, 1 + g % 10, CASE WHEN g > 1 THEN g / 2 END, 'u' || g || '@x.io'
        FROM generate_series(1, 200) g;
    INSERT INTO products SELECT g, 'S' || g, 'p' || g FROM generate_series(1, 50) g;
    INSERT INTO billing.orders SELECT g, 1 + g % 2, 1 + g % 200 FROM generate_series(1, 1000) g;
    INSERT INTO order_items SELECT g, 1 + g % 1000, 1 + (1 + g % 1000) % 2,
        CASE WHEN g % 7 <> 0 THEN 'S' || (1 + g % 50) END FROM generate_series(1, 3000) g;
    COMMIT;";

/// Row digests of every table of the graph, restricted on the stage to the closure of `items`
/// and `users` (start rows), computed by one recursive query over (table, id) nodes.
fn closure_digest(items: &str, users: &str) -> String {
    format!(
        "WITH RECURSIVE n(t, id) AS (
             SELECT 'u', o.user_id FROM billing.orders o
               WHERE (o.id, o.region) IN (SELECT order_id, region FROM order_items WHERE {items})
             UNION SELECT 'u', id FROM users WHERE {users}
             UNION
             SELECT e.t, e.id FROM n
               LEFT JOIN users u ON n.t = 'u' AND u.id = n.id
               LEFT JOIN teams tm ON n.t = 't' AND tm.id = n.id
               CROSS JOIN LATERAL (VALUES ('u', u.manager_id), ('t', u.team_id), ('u', tm.lead_id)) e(t, id)
             WHERE e.id IS NOT NULL),
         items AS (SELECT * FROM order_items WHERE {items})
         SELECT concat_ws(' | ',
           (SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x.id), '')) FROM teams x WHERE id IN (SELECT id FROM n WHERE t = 't')),
           (SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x.id), '')) FROM users x WHERE id IN (SELECT id FROM n WHERE t = 'u')),
           (SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x.id), '')) FROM products x WHERE sku IN (SELECT sku FROM items)),
           (SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x.id, x.region), '')) FROM billing.orders x
              WHERE (id, region) IN (SELECT order_id, region FROM items)),
           (SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x.id), '')) FROM items x))"
    )
}

const LOCAL_DIGEST: &str = "SELECT concat_ws(' | ',
    (SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x.id), '')) FROM teams x),
    (SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x.id), '')) FROM users x),
    (SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x.id), '')) FROM products x),
    (SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x.id, x.region), '')) FROM billing.orders x),
    (SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x.id), '')) FROM order_items x))";

/// Rows pointing nowhere, for every FK of the graph, by joins.
const GRAPH_DANGLING: &str = "SELECT
    (SELECT count(*) FROM users c LEFT JOIN teams p ON p.id = c.team_id WHERE p.id IS NULL)
  + (SELECT count(*) FROM users c LEFT JOIN users p ON p.id = c.manager_id WHERE c.manager_id IS NOT NULL AND p.id IS NULL)
  + (SELECT count(*) FROM teams c LEFT JOIN users p ON p.id = c.lead_id WHERE c.lead_id IS NOT NULL AND p.id IS NULL)
  + (SELECT count(*) FROM billing.orders c LEFT JOIN users p ON p.id = c.user_id WHERE p.id IS NULL)
  + (SELECT count(*) FROM order_items c LEFT JOIN billing.orders p ON (p.id, p.region) = (c.order_id, c.region) WHERE p.id IS NULL)
  + (SELECT count(*) FROM order_items c LEFT JOIN products p ON p.sku = c.sku WHERE c.sku IS NOT NULL AND p.id IS NULL)";

#[tokio::test]
async fn parents_follow_to_the_exact_closure_through_every_fk_shape() {
    let pair = StagePair::new("follow", &format!("{GRAPH} {GRAPH_ROWS}"), GRAPH, "").await;
    let remote = connect(&pair.remote).await;
    let local = connect(&pair.local).await;
    for (items, users, args) in [
        (
            "id <= 30",
            "false",
            vec!["copy", "order_items", "--where", "order_items:id <= 30"],
        ),
        (
            "false",
            "id = 150",
            vec!["copy", "users", "--where", "users:id = 150"],
        ),
        (
            "region = 2 AND id % 97 = 0",
            "false",
            vec![
                "copy",
                "order_items",
                "--where",
                "order_items:region = 2 AND id % 97 = 0",
            ],
        ),
    ] {
        // Each start begins from an empty local database.
        local
            .batch_execute("TRUNCATE teams, users, products, billing.orders, order_items")
            .await
            .unwrap();
        let mut args = args;
        args.extend(["--from", "CODE", "--json"]);
        let run = pair.local.devdb(&args).ok();
        let expected = column(&remote, &closure_digest(items, users)).await;
        assert_eq!(
            column(&local, LOCAL_DIGEST).await,
            expected,
            "{args:?}: the local rows are not the closure\n{}",
            run.stderr
        );
        assert_eq!(column(&local, GRAPH_DANGLING).await, ["0"], "{args:?}");
        let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert!(
            !report["followed"].as_array().unwrap().is_empty(),
            "{args:?}: {report}"
        );
    }
    // The sequence of a table that only received followed rows moved past them.
    assert_eq!(
        column(
            &local,
            "WITH n AS (INSERT INTO products (sku) VALUES ('new') RETURNING id)
             SELECT (SELECT id FROM n) > (SELECT max(id) FROM products)"
        )
        .await,
        ["t"]
    );
    // The report names which FK brought which table.
    local
        .batch_execute("TRUNCATE teams, users, products, billing.orders, order_items")
        .await
        .unwrap();
    let run = pair
        .local
        .devdb(&[
            "copy",
            "users",
            "--where",
            "users:id = 150",
            "--from",
            "CODE",
        ])
        .ok();
    assert!(
        run.stderr
            .contains("rows to public.teams that public.users references (users_team_id_fkey)"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn a_copy_killed_between_tables_leaves_the_previous_rows_and_every_fk_holding() {
    use std::time::{Duration, Instant};
    let pair = shop().await;
    let local = connect(&pair.local).await;
    let remote = connect(&pair.remote).await;
    let before = contents(&local).await;
    // users loads first; orders' remote query then waits, so the kill lands between the two
    // tables, with users already replaced inside the copy's transaction.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_devdb"))
        .args([
            "copy",
            "users",
            "orders",
            "--from",
            "CODE",
            "--prune-dangling",
            "--where",
            "orders:(SELECT true FROM pg_sleep(30))",
        ])
        .current_dir(pair.local.path())
        .env_remove("DEVDB_FILE")
        .env_remove("COMPOSE_PROJECT_NAME")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start devdb copy");
    let started = Instant::now();
    while column(
        &remote,
        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY (SELECT%pg_sleep%' AND pid <> pg_backend_pid()",
    )
    .await
        != ["1"]
    {
        assert!(child.try_wait().unwrap().is_none(), "the copy ended early");
        assert!(started.elapsed() < Duration::from_secs(60), "orders' read never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    common::wait_until_other_sessions_end(&local).await;
    assert_eq!(
        contents(&local).await,
        before,
        "the killed copy changed rows"
    );
    assert_eq!(dangling(&local).await, ["0 0"]);
}

/// SHOP with 50 users, 400 orders and 1,000 notes (every fifth note on no order).
fn shop_with_rows() -> String {
    format!(
        "{SHOP} INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 50) g;
         INSERT INTO orders SELECT g, 1 + g % 50, g FROM generate_series(1, 400) g;
         INSERT INTO notes SELECT g, CASE WHEN g % 5 <> 0 THEN 1 + g % 400 END, 'n' || g
             FROM generate_series(1, 1000) g;"
    )
}

#[tokio::test]
async fn children_of_a_filtered_parent_come_only_with_their_parents() {
    let pair = StagePair::new("restrict", &shop_with_rows(), SHOP, "").await;
    let remote = connect(&pair.remote).await;
    let local = connect(&pair.local).await;
    pair.local
        .devdb(&[
            "copy",
            "users",
            "orders",
            "notes",
            "--from",
            "CODE",
            "--where",
            "users:id <= 5",
        ])
        .ok();
    let expected = column(
        &remote,
        "SELECT md5(string_agg(n::text, ',' ORDER BY n.id)) FROM notes n
         WHERE n.order_id IS NULL OR n.order_id IN (SELECT id FROM orders WHERE user_id <= 5)",
    )
    .await;
    assert_eq!(
        column(
            &local,
            "SELECT md5(string_agg(n::text, ',' ORDER BY n.id)) FROM notes n"
        )
        .await,
        expected
    );
    assert_eq!(
        column(&local, "SELECT count(*) FROM orders WHERE user_id > 5").await,
        ["0"]
    );
    assert_eq!(dangling(&local).await, ["0 0"]);
}

#[tokio::test]
async fn children_of_a_limited_parent_come_only_with_the_rows_that_came() {
    let pair = StagePair::new(
        "restrictlimit",
        &shop_with_rows(),
        SHOP,
        "  copy:\n    limit: { users: 5 }\n",
    )
    .await;
    let remote = connect(&pair.remote).await;
    let local = connect(&pair.local).await;
    let run = pair
        .local
        .devdb(&["copy", "notes", "orders", "users", "--from", "CODE"])
        .ok();
    // "The first 5 users" is no condition, but the 5 that came are: orders and notes come for
    // them only, and no other user is pulled in as a parent.
    let users = column(
        &local,
        "SELECT string_agg(id::text, ',' ORDER BY id) FROM users",
    )
    .await;
    assert_eq!(
        column(&local, "SELECT count(*) FROM users").await,
        ["5"],
        "{}",
        run.stderr
    );
    let expected = column(
        &remote,
        &format!(
            "SELECT md5(string_agg(o::text, ',' ORDER BY o.id)) FROM orders o WHERE user_id IN ({u});
             SELECT md5(string_agg(n::text, ',' ORDER BY n.id)) FROM notes n
              WHERE n.order_id IS NULL OR n.order_id IN (SELECT id FROM orders WHERE user_id IN ({u}))",
            u = users[0]
        ),
    )
    .await;
    let copied = column(
        &local,
        "SELECT md5(string_agg(o::text, ',' ORDER BY o.id)) FROM orders o;
         SELECT md5(string_agg(n::text, ',' ORDER BY n.id)) FROM notes n",
    )
    .await;
    assert_eq!(copied, expected, "{}", run.stderr);
    assert_eq!(dangling(&local).await, ["0 0"]);
}
