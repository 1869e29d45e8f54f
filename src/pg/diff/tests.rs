//! The differ on small hand-written dumps in pg_dump's shape; the integration tests check its
//! output against Postgres itself (tests/it/from_db.rs).

use super::diff;

const BASE: &str = "
SET statement_timeout = 0;
SELECT pg_catalog.set_config('search_path', '', false);
CREATE TYPE public.mood AS ENUM ('sad', 'happy');
CREATE TABLE public.users (
    id integer NOT NULL,
    name text DEFAULT 'x'::text,
    mood public.mood,
    CONSTRAINT name_len CHECK ((length(name) < 10))
);
ALTER TABLE public.users OWNER TO app;
CREATE VIEW public.names AS SELECT users.name FROM public.users;
ALTER TABLE ONLY public.users ADD CONSTRAINT users_pkey PRIMARY KEY (id);
CREATE FUNCTION public.f(a integer) RETURNS integer LANGUAGE sql AS $$ SELECT a $$;
";

fn script(from: &str, to: &str) -> String {
    let plan = diff(from, to).expect("diff");
    assert!(plan.not_expressed.is_empty(), "{:?}", plan.not_expressed);
    plan.script()
}

#[test]
fn the_same_dump_needs_nothing() {
    let plan = diff(BASE, BASE).unwrap();
    assert!(plan.is_empty() && plan.not_expressed.is_empty(), "{plan:?}");
}

#[test]
fn ownership_and_settings_are_not_schema() {
    let other = BASE
        .replace("OWNER TO app", "OWNER TO someone")
        .replace("= 0", "= 5");
    assert!(diff(BASE, &other).unwrap().is_empty());
}

#[test]
fn a_new_table_is_created_and_an_old_one_dropped() {
    let to = format!("{BASE}CREATE TABLE public.extra (x bigint);\n");
    assert_eq!(script(BASE, &to), "CREATE TABLE public.extra (x bigint);\n");
    assert_eq!(script(&to, BASE), "DROP TABLE \"public\".\"extra\";\n");
}

#[test]
fn columns_change_in_place() {
    let to = BASE
        .replace(
            "name text DEFAULT 'x'::text",
            "name character varying(20) NOT NULL",
        )
        .replace(
            "mood public.mood,",
            "mood public.mood,\n    age integer DEFAULT 0,",
        );
    let sql = script(BASE, &to);
    assert!(
        sql.contains("ALTER TABLE public.users ADD COLUMN age int DEFAULT 0"),
        "{sql}"
    );
    assert!(
        sql.contains("ALTER COLUMN name TYPE varchar(20) USING name::varchar(20)"),
        "{sql}"
    );
    assert!(sql.contains("ALTER COLUMN name DROP DEFAULT"), "{sql}");
    assert!(sql.contains("ALTER COLUMN name SET NOT NULL"), "{sql}");
    // The view reads the retyped column: dropped first, created again after.
    let drop = sql.find("DROP VIEW").expect(&sql);
    let retype = sql.find("TYPE varchar").unwrap();
    let create = sql.find("CREATE VIEW").expect(&sql);
    assert!(drop < retype && retype < create, "{sql}");
}

#[test]
fn a_dropped_column_goes_with_its_check() {
    let to = BASE
        .replace("    name text DEFAULT 'x'::text,\n", "")
        .replace(",\n    CONSTRAINT name_len CHECK ((length(name) < 10))", "")
        .replace(
            "CREATE VIEW public.names AS SELECT users.name FROM public.users;\n",
            "",
        );
    let sql = script(BASE, &to);
    assert!(sql.contains("DROP VIEW \"public\".\"names\""), "{sql}");
    assert!(sql.contains("DROP CONSTRAINT name_len"), "{sql}");
    assert!(sql.contains("users DROP name"), "{sql}");
}

#[test]
fn enum_values_are_added_where_they_belong() {
    let to = BASE.replace(
        "('sad', 'happy')",
        "('angry', 'sad', 'calm', 'happy', 'glad')",
    );
    let sql = script(BASE, &to);
    assert_eq!(
        sql,
        "ALTER TYPE \"public\".\"mood\" ADD VALUE 'angry' BEFORE 'sad';\n\
         ALTER TYPE \"public\".\"mood\" ADD VALUE 'calm' AFTER 'sad';\n\
         ALTER TYPE \"public\".\"mood\" ADD VALUE 'glad' AFTER 'happy';\n"
    );
    let removed = BASE.replace("('sad', 'happy')", "('happy', 'sad')");
    assert!(!diff(BASE, &removed).unwrap().not_expressed.is_empty());
}

#[test]
fn functions_are_replaced_or_recreated() {
    let body = BASE.replace("SELECT a $$", "SELECT a + 1 $$");
    assert!(script(BASE, &body).starts_with("CREATE OR REPLACE FUNCTION public.f(a int)"));
    let result = BASE.replace("RETURNS integer", "RETURNS bigint");
    let sql = script(BASE, &result);
    assert!(
        sql.starts_with("DROP FUNCTION \"public\".\"f\"(int);\nCREATE FUNCTION"),
        "{sql}"
    );
}

#[test]
fn a_changed_key_takes_the_foreign_keys_to_it_along() {
    let from = format!(
        "{BASE}CREATE TABLE public.posts (user_id integer);\n\
         ALTER TABLE ONLY public.posts ADD CONSTRAINT posts_fk FOREIGN KEY (user_id) REFERENCES public.users(id);\n"
    );
    let to = from.replace("PRIMARY KEY (id)", "PRIMARY KEY (id) DEFERRABLE");
    let sql = script(&from, &to);
    let lines: Vec<&str> = sql.lines().collect();
    assert_eq!(lines.len(), 4, "{sql}");
    assert!(lines[0].contains("DROP CONSTRAINT posts_fk"), "{sql}");
    assert!(lines[1].contains("DROP CONSTRAINT users_pkey"), "{sql}");
    assert!(lines[2].contains("users_pkey PRIMARY KEY"), "{sql}");
    assert!(lines[3].contains("posts_fk FOREIGN KEY"), "{sql}");
}

#[test]
fn comments_and_grants_are_undone() {
    let to = format!(
        "{BASE}COMMENT ON TABLE public.users IS 'people';\nGRANT SELECT ON TABLE public.users TO PUBLIC;\n"
    );
    let sql = script(&to, BASE);
    assert!(
        sql.contains("REVOKE select ON public.users FROM PUBLIC") || sql.contains("REVOKE"),
        "{sql}"
    );
    assert!(
        sql.contains("COMMENT ON TABLE public.users IS NULL") || sql.contains("IS ''"),
        "{sql}"
    );
}

#[test]
fn the_attribute_version_of_debian_15_is_ignored() {
    let to = format!("{BASE}ALTER TABLE ONLY public.users ALTER COLUMN id SET (pg_attver=1);\n");
    assert!(diff(BASE, &to).unwrap().is_empty());
}

#[test]
fn a_partition_takes_its_columns_from_its_parent() {
    let from = "CREATE TABLE public.ev (id int, at date) PARTITION BY RANGE (at);\n\
                CREATE TABLE public.ev_1 (id int, at date);\n\
                ALTER TABLE ONLY public.ev ATTACH PARTITION public.ev_1 FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');\n";
    let to = from.replace("(id int, at date)", "(id int, at date, note text)");
    let sql = script(from, &to);
    assert_eq!(sql, "ALTER TABLE public.ev ADD COLUMN note text;\n");
}

#[test]
fn a_recreated_function_takes_its_triggers_along() {
    let from = format!(
        "{BASE}CREATE FUNCTION public.stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;\n\
         CREATE TRIGGER users_stamp BEFORE UPDATE ON public.users FOR EACH ROW EXECUTE FUNCTION public.stamp();\n"
    );
    // Same result type: replaced in place, the trigger untouched.
    let to = from.replace("RETURN NEW; END", "RETURN OLD; END");
    assert!(!script(&from, &to).contains("TRIGGER"));
    let to = from.replace("stamp() RETURNS trigger", "stamp() RETURNS event_trigger");
    let sql = script(&from, &to);
    let lines: Vec<&str> = sql.lines().collect();
    assert!(
        lines[0].starts_with("DROP TRIGGER") && lines[1].starts_with("DROP FUNCTION"),
        "{sql}"
    );
    assert!(lines.last().unwrap().starts_with("CREATE TRIGGER"), "{sql}");
}

#[test]
fn row_security_is_turned_off_again() {
    let to = format!("{BASE}ALTER TABLE public.users ENABLE ROW LEVEL SECURITY;\n");
    assert_eq!(
        script(&to, BASE),
        "ALTER TABLE public.users DISABLE ROW LEVEL SECURITY;\n"
    );
}
