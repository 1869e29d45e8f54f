//! Issue 17's acceptance: on a graph with every FK shape (self-reference, a 2-table cycle with a
//! deferrable FK, a composite FK into a partitioned table of another schema, an FK to a unique
//! non-key column, nullable FKs, a virtual FK with a condition), each start (a `--where`, a named
//! subset with children, `--with-children=1`, a `set-null` rule) leaves locally exactly the
//! closure a recursive query computes on the stage, compared row by row through digests, and a
//! join-based check finds no row pointing nowhere. Bad subsets change nothing; a stage written
//! during the copy still gives one consistent cut; a saved subset restores as its closure and
//! `reset --recopy` runs the same closure again.

use crate::common;

use common::{column, connect, StagePair};

/// subset.rs's graph of every real FK shape, plus what only these tests need: events tied to
/// their subject by a virtual FK, and a NOT NULL cycle that no rule can cut.
fn graph() -> String {
    format!("{}\n{EXTRA}", super::subset::GRAPH)
}

const EXTRA: &str =
    "    CREATE TABLE events (id int PRIMARY KEY, kind text NOT NULL, subject_id int, body text);
    CREATE TABLE cyc_a (id int PRIMARY KEY, b_id int NOT NULL);
    CREATE TABLE cyc_b (id int PRIMARY KEY, a_id int NOT NULL REFERENCES cyc_a (id));
    ALTER TABLE cyc_a ADD FOREIGN KEY (b_id) REFERENCES cyc_b (id);";

const ROWS: &str = "BEGIN;
    SET CONSTRAINTS ALL DEFERRED;
    INSERT INTO teams SELECT g, g * 7, 't' || g FROM generate_series(1, 10) g;
    INSERT INTO users SELECT g, 1 + g % 10, CASE WHEN g > 1 THEN g / 2 END, 'u' || g || '@x.io'
        FROM generate_series(1, 200) g;
    INSERT INTO products SELECT g, 'S' || g, 'p' || g FROM generate_series(1, 50) g;
    INSERT INTO billing.orders SELECT g, 1 + g % 2, 1 + g % 200 FROM generate_series(1, 1000) g;
    INSERT INTO order_items SELECT g, 1 + g % 1000, 1 + (1 + g % 1000) % 2,
        CASE WHEN g % 7 <> 0 THEN 'S' || (1 + g % 50) END FROM generate_series(1, 3000) g;
    INSERT INTO events SELECT g, CASE WHEN g % 3 = 0 THEN 'other' ELSE 'user' END,
        CASE WHEN g % 3 = 0 THEN 100000 + g ELSE 1 + g % 200 END, 'e' || g FROM generate_series(1, 600) g;
    COMMIT;";

/// The virtual FK: an event of kind `user` is about a user (the schema has no constraint).
const RELATIONS: &str = "  relations:
    - { from: \"events(subject_id)\", to: \"users(id)\", condition: \"kind = 'user'\", name: events_subject }
  subsets:
    one_user:
      start: { users: \"id = 14\" }
      with_children: 3
    no_managers:
      start: { users: \"id = 14\" }
      follow: { users_manager_id_fkey: set-null }
    broken_cycle:
      start: { cyc_a: \"true\" }
      follow: { cyc_a_b_id_fkey: set-null }
    first_users:
      start: { users: \"true\" }
      limit: { users: 5 }
      with_children: 1
";

/// What a start chooses, as conditions on the stage (`false` for nothing).
struct Start {
    items: &'static str,
    orders: &'static str,
    users: &'static str,
    teams: &'static str,
    events: &'static str,
}

/// Digests (md5 of the rows' text, ordered by key) of every table, restricted on the stage to
/// the closure of the start: the chosen rows, then every row they reach through FKs and the
/// virtual FK, by one recursive query over (table, id) nodes of users and teams. `managers`:
/// whether the self-reference is followed (else managers are cut to null and only ids compare).
fn closure_digest(start: &Start, managers: bool) -> String {
    let Start {
        items,
        orders,
        users,
        teams,
        events,
    } = start;
    let manager_edge = if managers {
        "('u', u.manager_id), "
    } else {
        ""
    };
    let user_digest = if managers {
        "md5(coalesce(string_agg(x::text, ',' ORDER BY x.id), ''))"
    } else {
        "md5(coalesce(string_agg(x.id::text, ',' ORDER BY x.id), ''))"
    };
    format!(
        "WITH RECURSIVE items AS (SELECT * FROM order_items WHERE {items}),
         ord AS (SELECT * FROM billing.orders WHERE ({orders})
                 OR (id, region) IN (SELECT order_id, region FROM items)),
         ev AS (SELECT * FROM events WHERE {events}),
         n(t, id) AS (
             SELECT 'u', user_id FROM ord
             UNION SELECT 'u', subject_id FROM ev WHERE kind = 'user'
             UNION SELECT 'u', id FROM users WHERE {users}
             UNION SELECT 't', id FROM teams WHERE {teams}
             UNION
             SELECT e.t, e.id FROM n
               LEFT JOIN users u ON n.t = 'u' AND u.id = n.id
               LEFT JOIN teams tm ON n.t = 't' AND tm.id = n.id
               CROSS JOIN LATERAL (VALUES {manager_edge}('t', u.team_id), ('u', tm.lead_id)) e(t, id)
             WHERE e.id IS NOT NULL)
         SELECT concat_ws(' | ',
           (SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x.id), '')) FROM teams x WHERE id IN (SELECT id FROM n WHERE t = 't')),
           (SELECT {user_digest} FROM users x WHERE id IN (SELECT id FROM n WHERE t = 'u')),
           (SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x.id), '')) FROM products x WHERE sku IN (SELECT sku FROM items)),
           (SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x.id, x.region), '')) FROM ord x),
           (SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x.id), '')) FROM items x),
           (SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x.id), '')) FROM ev x))"
    )
}

fn local_digest(managers: bool) -> String {
    let users = if managers {
        "md5(coalesce(string_agg(x::text, ',' ORDER BY x.id), ''))"
    } else {
        "md5(coalesce(string_agg(x.id::text, ',' ORDER BY x.id), ''))"
    };
    format!(
        "SELECT concat_ws(' | ',
        (SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x.id), '')) FROM teams x),
        (SELECT {users} FROM users x),
        (SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x.id), '')) FROM products x),
        (SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x.id, x.region), '')) FROM billing.orders x),
        (SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x.id), '')) FROM order_items x),
        (SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x.id), '')) FROM events x))"
    )
}

/// Rows pointing nowhere, for every FK of the graph and the virtual one, by joins.
const DANGLING: &str = "SELECT
    (SELECT count(*) FROM users c LEFT JOIN teams p ON p.id = c.team_id WHERE p.id IS NULL)
  + (SELECT count(*) FROM users c LEFT JOIN users p ON p.id = c.manager_id WHERE c.manager_id IS NOT NULL AND p.id IS NULL)
  + (SELECT count(*) FROM teams c LEFT JOIN users p ON p.id = c.lead_id WHERE c.lead_id IS NOT NULL AND p.id IS NULL)
  + (SELECT count(*) FROM billing.orders c LEFT JOIN users p ON p.id = c.user_id WHERE p.id IS NULL)
  + (SELECT count(*) FROM order_items c LEFT JOIN billing.orders p ON (p.id, p.region) = (c.order_id, c.region) WHERE p.id IS NULL)
  + (SELECT count(*) FROM order_items c LEFT JOIN products p ON p.sku = c.sku WHERE c.sku IS NOT NULL AND p.id IS NULL)
  + (SELECT count(*) FROM events c LEFT JOIN users p ON p.id = c.subject_id
       WHERE c.kind = 'user' AND c.subject_id IS NOT NULL AND p.id IS NULL)";

const EMPTY: &str = "TRUNCATE teams, users, products, billing.orders, order_items, events";

#[tokio::test]
async fn every_start_leaves_exactly_its_closure_through_every_fk_shape() {
    let pair = StagePair::new(
        "shapes",
        &format!("{} {ROWS}", graph()),
        &graph(),
        RELATIONS,
    )
    .await;
    let remote = connect(&pair.remote).await;
    let local = connect(&pair.local).await;
    let nothing = Start {
        items: "false",
        orders: "false",
        users: "false",
        teams: "false",
        events: "false",
    };
    let cases: Vec<(Vec<&str>, Start, bool)> = vec![
        (
            vec!["copy", "order_items", "--where", "order_items:id <= 30"],
            Start { items: "id <= 30", ..nothing },
            true,
        ),
        (
            vec!["copy", "events", "--where", "events:id <= 40"],
            Start { events: "id <= 40", ..nothing },
            true,
        ),
        (
            // Users 14's team rows, orders, their items and events: children three levels down.
            vec!["copy", "--subset", "one_user"],
            Start {
                items: "(order_id, region) IN (SELECT id, region FROM billing.orders WHERE user_id = 14)",
                orders: "user_id = 14",
                users: "id = 14",
                teams: "lead_id = 14",
                events: "kind = 'user' AND subject_id = 14",
            },
            true,
        ),
        (
            vec!["copy", "users", "--where", "users:id = 14", "--with-children=1"],
            Start {
                orders: "user_id = 14",
                users: "id = 14",
                teams: "lead_id = 14",
                events: "kind = 'user' AND subject_id = 14",
                ..nothing
            },
            true,
        ),
        (
            vec!["copy", "--subset", "no_managers"],
            Start { users: "id = 14", ..nothing },
            false,
        ),
    ];
    for (args, start, managers) in cases {
        local.batch_execute(EMPTY).await.unwrap();
        let mut args = args;
        args.extend(["--from", "CODE", "--json"]);
        let run = pair.local.devdb(&args).ok();
        let expected = column(&remote, &closure_digest(&start, managers)).await;
        assert_eq!(
            column(&local, &local_digest(managers)).await,
            expected,
            "{args:?}: the local rows are not the closure\n{}",
            run.stderr
        );
        assert_eq!(column(&local, DANGLING).await, ["0"], "{args:?}");
        let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert!(
            !report["followed"].as_array().unwrap().is_empty(),
            "{args:?}: {report}"
        );
        if args.contains(&"one_user") {
            let children: Vec<String> = report["children"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| format!("{} {}", c["table"].as_str().unwrap(), c["depth"]))
                .collect();
            assert_eq!(
                children,
                [
                    "billing.orders 1",
                    "public.events 1",
                    "public.teams 1",
                    "public.order_items 2"
                ],
                "{report}"
            );
        }
        if !managers {
            assert_eq!(
                report["cut"][0]["foreign_key"], "users_manager_id_fkey",
                "{report}"
            );
            assert_eq!(
                column(
                    &local,
                    "SELECT count(*) FROM users WHERE manager_id IS NOT NULL"
                )
                .await,
                column(
                    &local,
                    "SELECT count(*) FROM users u JOIN users m ON m.id = u.manager_id"
                )
                .await
            );
        }
    }
}

#[tokio::test]
async fn a_bad_virtual_fk_or_an_uncuttable_cycle_is_one_error_that_changes_nothing() {
    let pair = StagePair::new(
        "shapebad",
        &format!("{} {ROWS}", graph()),
        &graph(),
        RELATIONS,
    )
    .await;
    let local = connect(&pair.local).await;
    pair.local
        .devdb(&["copy", "users", "--where", "users:id = 3", "--from", "CODE"])
        .ok();
    let snapshot =
        "SELECT md5(coalesce((SELECT string_agg(u::text, ',' ORDER BY id) FROM users u), '')
                    || coalesce((SELECT string_agg(t::text, ',' ORDER BY id) FROM teams t), ''))";
    let before = column(&local, snapshot).await;

    let run = pair
        .local
        .devdb(&["copy", "--subset", "broken_cycle", "--from", "CODE"])
        .fails();
    assert_eq!(run.status.code(), Some(2), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("`cyc_a_b_id_fkey: set-null` cannot cut")
            && run
                .stderr
                .contains("closes the cycle public.cyc_a → public.cyc_b → public.cyc_a")
            && run.stderr.contains("no nullable or deferrable edge"),
        "{}",
        run.stderr
    );

    let compose = std::fs::read_to_string(pair.local.compose_path()).unwrap();
    for (bad, message) in [
        (
            "events(subjectid)",
            "public.events has no column `subjectid`",
        ),
        (
            "evnts(subject_id)",
            "the local database has no table public.evnts",
        ),
        ("events", "is not `table(column, ...)`"),
    ] {
        pair.local
            .write_compose(&compose.replace("events(subject_id)", bad));
        let run = pair
            .local
            .devdb(&["copy", "users", "--from", "CODE"])
            .fails();
        assert_eq!(run.status.code(), Some(2), "{}", run.stderr);
        assert!(
            run.stderr.contains("x-devdb.relations[0]")
                && run.stderr.contains(message)
                && run.stderr.contains("nothing was copied"),
            "{bad}: {}",
            run.stderr
        );
        assert_eq!(column(&local, snapshot).await, before, "{bad} changed rows");
    }
}

#[tokio::test]
async fn set_null_in_x_devdb_copy_cuts_plain_copies_and_a_limit_cannot_carry_children() {
    let follow = "  copy:\n    follow: { users_manager_id_fkey: set-null }\n";
    let pair = StagePair::new(
        "shapecut",
        &format!("{} {ROWS}", graph()),
        &graph(),
        &format!("{follow}{RELATIONS}"),
    )
    .await;
    let remote = connect(&pair.remote).await;
    let local = connect(&pair.local).await;
    let run = pair
        .local
        .devdb(&[
            "copy",
            "users",
            "--where",
            "users:id = 14",
            "--from",
            "CODE",
            "--json",
        ])
        .ok();
    let start = Start {
        items: "false",
        orders: "false",
        users: "id = 14",
        teams: "false",
        events: "false",
    };
    assert_eq!(
        column(&local, &local_digest(false)).await,
        column(&remote, &closure_digest(&start, false)).await,
        "{}",
        run.stderr
    );
    assert_eq!(column(&local, DANGLING).await, ["0"]);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        report["cut"][0]["foreign_key"], "users_manager_id_fkey",
        "{report}"
    );
    assert!(
        run.stderr.contains("users_manager_id_fkey: set-null"),
        "{}",
        run.stderr
    );
    // User 14's manager (7) did not come: the key was cut, the other users keep theirs.
    assert_eq!(
        column(&local, "SELECT count(*) FROM users WHERE id = 7").await,
        ["0"]
    );
    assert_eq!(
        column(&local, "SELECT manager_id IS NULL FROM users WHERE id = 14").await,
        ["t"]
    );

    // A rule naming no FK is refused where it was written.
    let compose = std::fs::read_to_string(pair.local.compose_path()).unwrap();
    pair.local.write_compose(&compose.replace(
        "users_manager_id_fkey: set-null",
        "users_boss_fkey: set-null",
    ));
    let run = pair
        .local
        .devdb(&["copy", "users", "--from", "CODE"])
        .fails();
    assert!(
        run.stderr
            .contains("x-devdb.copy.follow names `users_boss_fkey`, which is no foreign key"),
        "{}",
        run.stderr
    );
    pair.local.write_compose(&compose);

    // "The first 5 users" is no condition children could be chosen by: one error, no change.
    let before = column(&local, &local_digest(true)).await;
    let run = pair
        .local
        .devdb(&["copy", "--subset", "first_users", "--from", "CODE"])
        .fails();
    assert_eq!(run.status.code(), Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains("public.users has a limit")
            && run.stderr.contains("choose its rows with a condition"),
        "{}",
        run.stderr
    );
    assert_eq!(column(&local, &local_digest(true)).await, before);
}

/// The `data` step of a `reset --json` report: its detail.
fn data_step(run: &common::Run) -> String {
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("reset --json");
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "data")
        .map(|s| s["detail"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_saved_subset_restores_its_closure_and_recopy_runs_the_same_closure_again() {
    let pair = StagePair::new("shapesave", &format!("{} {ROWS}", graph()), "", RELATIONS).await;
    pair.local.write_migration("20260101000000_graph", &graph());
    pair.local.devdb(&["migrate", "deploy"]).ok();
    let remote = connect(&pair.remote).await;
    let one_user = Start {
        items: "(order_id, region) IN (SELECT id, region FROM billing.orders WHERE user_id = 14)",
        orders: "user_id = 14",
        users: "id = 14",
        teams: "lead_id = 14",
        events: "kind = 'user' AND subject_id = 14",
    };
    pair.local
        .devdb(&["copy", "--subset", "one_user", "--from", "CODE", "--save"])
        .ok();
    let saved = column(&remote, &closure_digest(&one_user, true)).await;
    assert_eq!(
        column(&connect(&pair.local).await, &local_digest(true)).await,
        saved
    );

    // The stage moves on: user 14 gets an order whose item names a new product, and a new
    // manager (user 3, whose own manager is user 1), in one transaction.
    remote
        .batch_execute(
            "BEGIN;
             INSERT INTO products (id, sku, title) VALUES (900, 'S900', 'new');
             INSERT INTO billing.orders VALUES (5001, 1, 14);
             INSERT INTO order_items VALUES (9001, 5001, 1, 'S900');
             UPDATE users SET manager_id = 3, email = 'moved@x.io' WHERE id = 14;
             COMMIT;",
        )
        .await
        .unwrap();
    let fresh = column(&remote, &closure_digest(&one_user, true)).await;
    assert_ne!(fresh, saved, "the stage's closure did not change");

    // A reset restores the saved rows, the followed parents with them (they are the closure
    // as it was, with no stage), and every FK holds.
    let run = pair.local.devdb(&["reset", "--no-generate", "--json"]).ok();
    assert!(
        data_step(&run).starts_with("restored 6 saved tables"),
        "{}",
        run.stdout
    );
    let local = connect(&pair.local).await;
    assert_eq!(column(&local, &local_digest(true)).await, saved);
    assert_eq!(column(&local, DANGLING).await, ["0"]);

    // --recopy runs the subset again: the new closure, not the saved tables copied whole.
    let run = pair
        .local
        .devdb(&["reset", "--no-generate", "--json", "--recopy", "CODE"])
        .ok();
    assert!(
        data_step(&run).contains("again from CODE (subset one_user)"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    let local = connect(&pair.local).await;
    assert_eq!(column(&local, &local_digest(true)).await, fresh);
    assert_eq!(column(&local, DANGLING).await, ["0"]);
    // And what it saved is that new closure: a plain reset restores it.
    pair.remote.devdb(&["down"]).ok();
    pair.local.devdb(&["reset", "--no-generate"]).ok();
    let local = connect(&pair.local).await;
    assert_eq!(column(&local, &local_digest(true)).await, fresh);
    assert_eq!(column(&local, DANGLING).await, ["0"]);
}

// Two workers: the writer task runs while the test's thread waits for devdb.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_written_during_the_copy_still_gives_one_consistent_cut() {
    let pair = StagePair::new(
        "shapelive",
        &format!(
            "{} {ROWS} INSERT INTO order_items SELECT g, 1 + g % 1000, 1 + (1 + g % 1000) % 2, NULL
                 FROM generate_series(3001, 150000) g;",
            graph()
        ),
        &graph(),
        RELATIONS,
    )
    .await;
    let local = connect(&pair.local).await;
    let writer = connect(&pair.remote).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writing = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                // One transaction: a new order and its three items (ids past the seeded ones).
                writer
                    .batch_execute(&format!(
                        "BEGIN;
                         INSERT INTO billing.orders VALUES ({o}, 1, 1 + {n} % 200);
                         INSERT INTO order_items SELECT {n} * 10 + k + 1000000, {o}, 1, 'S1'
                             FROM generate_series(1, 3) k;
                         COMMIT;",
                        o = 100000 + n
                    ))
                    .await
                    .unwrap();
            }
            n
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let run = pair
        .local
        .devdb(&[
            "copy",
            "teams",
            "users",
            "products",
            "billing.orders",
            "order_items",
            "--from",
            "CODE",
            // Nothing may be fetched later to mend a torn read: every table from one snapshot.
            "--no-follow",
            // Orders are read first; the items' read then waits 2 s while the writer commits.
            "--where",
            "order_items:(SELECT true FROM pg_sleep(2))",
        ])
        .ok();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writing.await.unwrap();
    assert_eq!(column(&local, DANGLING).await, ["0"], "{}", run.stderr);
    // Orders the writer added came with exactly their three items, or not at all.
    let cut = column(
        &local,
        "SELECT (SELECT count(*) FROM billing.orders WHERE id > 100000) || ' '
             || (SELECT count(*) FROM order_items WHERE id > 1000000) || ' '
             || (SELECT count(*) FROM (SELECT o.id FROM billing.orders o LEFT JOIN order_items i
                  ON i.order_id = o.id AND i.region = o.region WHERE o.id > 100000
                  GROUP BY o.id HAVING count(i.id) <> 3) x)",
    )
    .await;
    let parts: Vec<i64> = cut[0].split(' ').map(|p| p.parse().unwrap()).collect();
    assert_eq!(parts[1], parts[0] * 3, "{cut:?}");
    assert_eq!(parts[2], 0, "{cut:?}");
    assert!(
        parts[0] > 0 && parts[0] < written,
        "the copy must fall between writes: {} of {written} orders",
        parts[0]
    );
}
