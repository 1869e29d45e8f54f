//! Copying a relation's structure from a stage: `pg_dump --schema-only` of the remote's version,
//! run in the one-shot db-copy container, plus what the relation needs that is missing locally
//! (the tables and functions a view is built on, enum types of its columns).

use std::collections::BTreeSet;

use pg_query::protobuf::{AlterTableType, ParseResult, RawStmt};
use pg_query::NodeEnum;
use tokio_postgres::Client;

use super::catalog;
use super::plan::QualifiedName;
use super::CopyError;
use crate::config::Config;
use crate::db::stage::Stage;
use crate::docker::{DockerError, Engine, Job};
use crate::pg::catalog::{self as pg_catalog, Scope};

/// The DDL that creates `relation` (and its missing dependencies) locally.
#[derive(Debug, Clone)]
pub struct Structure {
    /// Relations dumped, dependencies first as pg_dump orders them.
    pub relations: Vec<QualifiedName>,
    /// Tables among them (views have no rows to copy).
    pub tables: Vec<QualifiedName>,
    pub sql: String,
}

/// Collects the relation and what it depends on that the local database lacks, and dumps it.
pub async fn dump(
    engine: &Engine,
    config: &Config,
    stage: &Stage,
    remote: &Client,
    local: &Client,
    relation: &QualifiedName,
) -> Result<Structure, CopyError> {
    // First: a stage the job cannot reach fails before anything is read or changed.
    let reach = job_reach(engine, stage, relation).await?;
    if !catalog::relation_exists(remote, relation).await? {
        let available = catalog::tables(remote).await?;
        let unknown = super::plan::expand(&[relation.to_string()], &available)
            .err()
            .unwrap_or_default();
        return Err(CopyError::UnknownTables {
            stage: stage.name.clone(),
            unknown,
        });
    }
    let needs = Needs::gather(remote, local, relation).await?;
    if needs.relations.is_empty() {
        return Err(CopyError::Structure(format!(
            "{relation} already exists in the local database; nothing to copy"
        )));
    }
    let dump = || {
        run_pg_dump(
            engine,
            config,
            stage,
            &reach,
            (remote, local),
            &needs.relations,
        )
    };
    // The job's output comes through the engine's attach stream, which once delivered a dump
    // twice (a 42P07 on its first table when applied). A dump that is not whole is never
    // applied: it is taken once more, then refused.
    let dumped = match whole_dump(&dump().await?) {
        Ok(dumped) => dumped,
        Err(_) => whole_dump(&dump().await?)?,
    };
    let dumped = without_unknown_settings(local, &dumped).await?;
    let mut sql = String::new();
    for statement in &needs.enums {
        sql.push_str(statement);
        sql.push('\n');
    }
    for (_, definition) in &needs.functions {
        sql.push_str(definition.trim_end());
        sql.push_str(";\n");
    }
    sql.push_str(&dumped);
    Ok(Structure {
        relations: needs.relations,
        tables: needs.tables,
        sql,
    })
}

/// What creating a relation locally takes that the local database lacks: the relation and the
/// relations its view is built on, the functions those views call, their columns' enum types.
#[derive(Default)]
struct Needs {
    relations: Vec<QualifiedName>,
    /// The tables among `relations` (their rows can be copied next).
    tables: Vec<QualifiedName>,
    /// (signature, definition)
    functions: Vec<(String, String)>,
    /// `CREATE TYPE ... AS ENUM` statements.
    enums: BTreeSet<String>,
}

impl Needs {
    async fn gather(
        remote: &Client,
        local: &Client,
        relation: &QualifiedName,
    ) -> Result<Needs, CopyError> {
        let mut needs = Needs::default();
        let mut queue = vec![relation.clone()];
        while let Some(next) = queue.pop() {
            if needs.relations.contains(&next) || catalog::relation_exists(local, &next).await? {
                continue;
            }
            let kind: String = query_one(
                remote,
                "SELECT relkind::text FROM pg_class WHERE oid = to_regclass($1)",
                &next,
            )
            .await?;
            if matches!(kind.as_str(), "r" | "p") {
                needs.tables.push(next.clone());
            }
            queue.extend(view_relations(remote, &next).await?);
            needs.add_functions(remote, local, &next).await?;
            needs.add_enums(remote, local, &next).await?;
            needs.relations.push(next);
        }
        Ok(needs)
    }

    /// The non-catalog functions `relation`'s view calls that the local database lacks.
    async fn add_functions(
        &mut self,
        remote: &Client,
        local: &Client,
        relation: &QualifiedName,
    ) -> Result<(), CopyError> {
        for row in remote
            .query(
                "SELECT DISTINCT d.refobjid::regprocedure::text, pg_get_functiondef(d.refobjid) FROM pg_rewrite r \
                 JOIN pg_depend d ON d.objid = r.oid AND d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_proc'::regclass \
                 JOIN pg_proc p ON p.oid = d.refobjid JOIN pg_namespace n ON n.oid = p.pronamespace \
                 WHERE r.ev_class = to_regclass($1) AND n.nspname NOT IN ('pg_catalog', 'information_schema')",
                &[&relation.quoted()],
            )
            .await
            .map_err(db_error("reading the functions the view uses"))?
        {
            let signature: String = row.get(0);
            let exists: bool = local
                .query_one("SELECT to_regprocedure($1) IS NOT NULL", &[&signature])
                .await
                .map_err(db_error("looking up a function locally"))?
                .get(0);
            if !exists && !self.functions.iter().any(|(s, _)| *s == signature) {
                self.functions.push((signature, row.get(1)));
            }
        }
        Ok(())
    }

    /// The enum types of `relation`'s columns that the local database lacks.
    async fn add_enums(
        &mut self,
        remote: &Client,
        local: &Client,
        relation: &QualifiedName,
    ) -> Result<(), CopyError> {
        let columns = pg_catalog::columns(remote, Scope::Named(std::slice::from_ref(relation)))
            .await
            .map_err(db_error("reading enum types"))?;
        let enums: Vec<u32> = columns
            .iter()
            .filter(|c| c.type_kind == "e")
            .map(|c| c.type_oid)
            .collect();
        for row in remote
            .query(
                "SELECT format('CREATE TYPE %I.%I AS ENUM (%s);', n.nspname, t.typname, \
                        (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid)), \
                        format('%I.%I', n.nspname, t.typname) \
                 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.oid = ANY($1)",
                &[&enums],
            )
            .await
            .map_err(db_error("reading enum types"))?
        {
            let name: String = row.get(1);
            let exists: bool = local
                .query_one("SELECT to_regtype($1) IS NOT NULL", &[&name])
                .await
                .map_err(db_error("looking up a type locally"))?
                .get(0);
            if !exists {
                self.enums.insert(row.get(0));
            }
        }
        Ok(())
    }
}

/// The relations `relation`'s view is built on (none for a table).
async fn view_relations(
    remote: &Client,
    relation: &QualifiedName,
) -> Result<Vec<QualifiedName>, CopyError> {
    Ok(remote
        .query(
            "SELECT DISTINCT n.nspname, c.relname FROM pg_rewrite r \
             JOIN pg_depend d ON d.objid = r.oid AND d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass \
             JOIN pg_class c ON c.oid = d.refobjid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE r.ev_class = to_regclass($1) AND d.refobjid <> r.ev_class",
            &[&relation.quoted()],
        )
        .await
        .map_err(db_error("reading what the view depends on"))?
        .iter()
        .map(|row| QualifiedName {
            schema: row.get(0),
            name: row.get(1),
        })
        .collect())
}

async fn query_one(client: &Client, sql: &str, table: &QualifiedName) -> Result<String, CopyError> {
    Ok(client
        .query_one(sql, &[&table.quoted()])
        .await
        .map_err(db_error("reading the catalog"))?
        .get(0))
}

fn db_error(action: &str) -> impl FnOnce(tokio_postgres::Error) -> CopyError + '_ {
    move |error| CopyError::Database {
        action: action.to_string(),
        error,
    }
}

/// Where the db-copy job, on the engine, reaches the stage: at the stage's own host, or (a
/// stage on 127.0.0.1, a container of the local engine) at that container on its network,
/// which the job joins.
struct JobReach {
    host: String,
    port: u16,
    also_on: Option<String>,
}

/// A stage on 127.0.0.1 over a remote engine is refused (docker's `container_publishing`):
/// that address is this machine, which the job on the engine cannot reach.
async fn job_reach(
    engine: &Engine,
    stage: &Stage,
    relation: &QualifiedName,
) -> Result<JobReach, CopyError> {
    let endpoint = stage.endpoint()?;
    if !crate::docker::is_loopback(&endpoint.host) {
        return Ok(JobReach {
            host: endpoint.host,
            port: endpoint.port,
            also_on: None,
        });
    }
    let port = endpoint.port;
    let what = format!("stage {}", stage.name);
    let ways_out = format!(
        "give stage {name} a URL the engine's machine reaches (the database's own host name or \
         address, not 127.0.0.1 or localhost); or create {relation} with a migration (`devdb \
         migrate new`, `devdb migrate deploy`) and copy its rows only, which go through this \
         machine: `devdb copy {relation} --from {name}`",
        name = stage.name
    );
    let published = engine
        .container_publishing(port, &what, &ways_out)
        .await?
        .ok_or_else(|| {
            CopyError::Structure(format!(
                "stage {} is on 127.0.0.1:{port}, which the db-copy container cannot reach (no container publishes it)",
                stage.name
            ))
        })?;
    Ok(JobReach {
        host: published.address,
        port: published.container_port,
        also_on: Some(published.network),
    })
}

/// Runs `db-copy structure` for the relations, in the file's db-copy service or else in
/// devdb's own job image (see `job_base_image`), reaching the stage at `reach`.
async fn run_pg_dump(
    engine: &Engine,
    config: &Config,
    stage: &Stage,
    reach: &JobReach,
    (remote, local): (&Client, &Client),
    relations: &[QualifiedName],
) -> Result<String, CopyError> {
    let endpoint = stage.endpoint()?;
    let JobReach {
        host,
        port,
        also_on,
    } = reach;
    let sslmode = match stage.sslmode {
        crate::config::SslMode::Disable => "disable",
        crate::config::SslMode::Prefer => "prefer",
        crate::config::SslMode::Require => "require",
        crate::config::SslMode::VerifyCa | crate::config::SslMode::VerifyFull => {
            return Err(CopyError::Refused {
                message: format!(
                    "stage {}: the db-copy container does not carry a CA bundle yet, so \
                     verify-ca/verify-full are not available for structure copies",
                    stage.name
                ),
                hint: "use sslmode: require for this stage, or copy data only".into(),
            })
        }
    };
    let conninfo = format!(
        "host={host} port={port} user={} dbname={} sslmode={sslmode} application_name=devdb-db-copy",
        endpoint.user, endpoint.database
    );
    let mut args = vec!["structure".to_string(), conninfo];
    args.extend(relations.iter().map(|r| r.quoted()));
    let major = server_major(remote).await?;
    let service = &config.settings.copy_service;
    let image = if config.services.contains_key(service) {
        engine.job_service_image(config, service).await?
    } else {
        let (base, tools) = job_base_image(config, major, server_major(local).await?);
        engine.builtin_job_image(&base, tools).await?
    };
    // The password goes in a 0600 file inside the job, never in its env or args.
    let job = Job {
        args,
        env: Vec::new(),
        password: Some(endpoint.password.clone()),
        also_on: also_on.clone(),
    };
    let result = match engine.run_job_image(config, service, &image, job).await {
        Err(DockerError::JobFailed { stderr, .. })
            if stderr.contains("server version mismatch") =>
        {
            return Err(CopyError::Refused {
                message: format!(
                    "the `{service}` service's pg_dump is older than stage {}'s PostgreSQL \
                     {major}:\n{stderr}",
                    stage.name
                ),
                hint: format!(
                    "base the `{service}` service on postgres:{major} (or remove it, and devdb \
                     builds its own job for the stage's version)"
                ),
            })
        }
        other => other,
    };
    Ok(result?.stdout)
}

/// pg_dump's output, checked whole: its header and its "complete" trailer exactly once each, in
/// that order, so a dump cut short or delivered twice is refused instead of applied. Recent
/// pg_dump releases wrap their output in psql's `\restrict` / `\unrestrict` meta-commands;
/// they are for psql, not SQL, and are dropped (a schema-only dump holds no data).
fn whole_dump(output: &str) -> Result<String, CopyError> {
    let lines: Vec<&str> = output.lines().collect();
    let at = |marker: &str| -> Vec<usize> {
        let found = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.trim_end() == marker);
        found.map(|(i, _)| i).collect()
    };
    let (headers, trailers) = (
        at("-- PostgreSQL database dump"),
        at("-- PostgreSQL database dump complete"),
    );
    if !matches!((headers.as_slice(), trailers.as_slice()), ([h], [t]) if h < t) {
        return Err(CopyError::Structure(format!(
            "the db-copy job's pg_dump output arrived incomplete or more than once ({} \
             header(s), {} trailer(s)); nothing was created locally: run the command again",
            headers.len(),
            trailers.len()
        )));
    }
    let sql = lines.into_iter().filter(|line| !line.starts_with('\\'));
    Ok(sql.collect::<Vec<_>>().join("\n"))
}

/// pg_dump of a newer major sets session parameters an older local server does not know
/// (PostgreSQL 17's `transaction_timeout`): those SETs are dropped, the rest kept as dumped.
async fn without_unknown_settings(local: &Client, sql: &str) -> Result<String, CopyError> {
    let known: BTreeSet<String> = local
        .query("SELECT name FROM pg_settings", &[])
        .await
        .map_err(db_error("reading the local server's settings"))?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let statements = pg_query::split_with_parser(sql)
        .map_err(|e| CopyError::Structure(format!("the dumped DDL does not parse: {e}")))?;
    let mut out = String::with_capacity(sql.len());
    for statement in statements {
        let unknown_setting = pg_query::parse(statement, 0).is_ok_and(|parsed| {
            parsed.protobuf.stmts.iter().any(|raw| {
                matches!(raw.stmt.as_ref().and_then(|n| n.node.as_ref()),
                    Some(NodeEnum::VariableSetStmt(set)) if !set.name.is_empty() && !known.contains(&set.name))
            })
        });
        if !unknown_setting {
            out.push_str(statement.trim());
            out.push_str(";\n");
        }
    }
    Ok(out)
}

/// The image the built-in job is built on, and the major of its pg_dump. pg_dump reads every
/// older server, so the local database's own image (already on the engine) serves any stage
/// that is not newer, and an offline or rate-limited engine never pulls for it; a newer stage,
/// or an image the user chose for the stage's major, takes `copy_base_image` (pulled if absent).
fn job_base_image(config: &Config, stage_major: u32, local_major: u32) -> (String, u32) {
    let local_image = config.database_service().image.clone();
    match (config.chosen_copy_image(stage_major), local_image) {
        (None, Some(local)) if local_major >= stage_major => (local, local_major),
        _ => (config.copy_base_image(stage_major), stage_major),
    }
}

/// The server's major version (`server_version_num` 170002 → 17).
async fn server_major(client: &Client) -> Result<u32, CopyError> {
    let text: String = client
        .query_one("SELECT current_setting('server_version_num')", &[])
        .await
        .map_err(db_error("reading the stage's version"))?
        .get(0);
    text.parse::<u32>()
        .map(|n| n / 10000)
        .map_err(|_| CopyError::Structure(format!("unexpected server_version_num `{text}`")))
}

/// Applies structure DDL to the local database in one transaction.
pub async fn apply(local: &Client, sql: &str) -> Result<(), CopyError> {
    local
        .batch_execute(&format!("BEGIN;\n{sql}\nCOMMIT;"))
        .await
        .map_err(|error| CopyError::Database {
            action: "creating the structure locally".to_string(),
            error,
        })?;
    // pg_dump's script sets search_path, row_security and more for its session; give this
    // connection its defaults back, since the rows are copied through it next.
    local
        .batch_execute("RESET ALL")
        .await
        .map_err(db_error("resetting the session's settings"))
}

/// Turns dumped DDL into a migration that can run where the objects may already exist:
/// `IF NOT EXISTS` / `OR REPLACE` where Postgres has them, guarded blocks where it does not.
/// pg_dump's session settings are dropped. Uses Postgres's own parser and deparser.
pub fn idempotent_migration(sql: &str) -> Result<String, CopyError> {
    let parsed = pg_query::parse(sql, 0)
        .map_err(|e| CopyError::Structure(format!("the dumped DDL does not parse: {e}")))?;
    let mut out = Vec::new();
    for raw in parsed.protobuf.stmts {
        let Some(mut node) = raw.stmt.clone() else {
            continue;
        };
        let mut guard = false;
        match node.node.as_mut() {
            Some(NodeEnum::VariableSetStmt(_)) => continue,
            Some(NodeEnum::SelectStmt(_)) => continue, // pg_dump's set_config('search_path', ...)
            Some(NodeEnum::CreateStmt(create)) => create.if_not_exists = true,
            Some(NodeEnum::CreateSeqStmt(create)) => create.if_not_exists = true,
            Some(NodeEnum::IndexStmt(index)) => index.if_not_exists = true,
            Some(NodeEnum::ViewStmt(view)) => view.replace = true,
            Some(NodeEnum::CreateFunctionStmt(function)) => function.replace = true,
            Some(NodeEnum::CreateEnumStmt(_)) => guard = true,
            Some(NodeEnum::AlterTableStmt(alter)) => {
                guard = alter.cmds.iter().any(|cmd| {
                    matches!(&cmd.node, Some(NodeEnum::AlterTableCmd(c))
                        if c.subtype == AlterTableType::AtAddConstraint as i32 || c.subtype == AlterTableType::AtAddIndex as i32)
                })
            }
            _ => {}
        }
        let single = ParseResult {
            version: parsed.protobuf.version,
            stmts: vec![RawStmt {
                stmt: Some(node),
                stmt_location: 0,
                stmt_len: 0,
            }],
        };
        let text = pg_query::deparse(&single, Default::default())
            .map_err(|e| CopyError::Structure(format!("cannot write the DDL back out: {e}")))?;
        out.push(if guard {
            format!(
                "DO $devdb$ BEGIN\n  {text};\nEXCEPTION WHEN duplicate_object OR duplicate_table OR invalid_table_definition THEN NULL;\nEND $devdb$;"
            )
        } else {
            format!("{text};")
        });
    }
    Ok(out.join("\n\n") + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = "--\n-- PostgreSQL database dump\n--\n\n\\restrict abc\nSET x = 1;\n\
        CREATE TABLE public.a (id integer);\n\n\\unrestrict abc\n\n--\n\
        -- PostgreSQL database dump complete\n--\n\n";

    #[test]
    fn a_dump_is_applied_only_when_whole() {
        let sql = whole_dump(DUMP).unwrap();
        assert!(sql.contains("CREATE TABLE public.a") && !sql.contains("restrict"));
        let twice = format!("{DUMP}{DUMP}");
        let cut = &DUMP[..DUMP.find("\\unrestrict").unwrap()];
        for garbled in [
            twice.as_str(),
            cut,
            "",
            "-- PostgreSQL database dump complete\n",
        ] {
            let error = whole_dump(garbled).unwrap_err().to_string();
            assert!(error.contains("run the command again"), "{error}");
        }
    }

    #[test]
    fn dumped_ddl_becomes_idempotent() {
        let dumped = "SET statement_timeout = 0;\nSELECT pg_catalog.set_config('search_path', '', false);\n\
            CREATE TYPE public.mood AS ENUM ('ok', 'sad');\n\
            CREATE TABLE public.t (id integer NOT NULL, m public.mood);\n\
            CREATE SEQUENCE public.t_id_seq AS integer START WITH 1;\n\
            ALTER TABLE ONLY public.t ADD CONSTRAINT t_pkey PRIMARY KEY (id);\n\
            ALTER TABLE ONLY public.t ALTER COLUMN id SET DEFAULT nextval('public.t_id_seq'::regclass);\n\
            CREATE INDEX t_m_idx ON public.t USING btree (m);\n\
            CREATE VIEW public.v AS SELECT id FROM public.t;\n\
            CREATE FUNCTION public.f() RETURNS integer LANGUAGE sql AS $$ SELECT 1 $$;\n";
        let migration = idempotent_migration(dumped).unwrap();
        assert!(
            !migration.contains("statement_timeout") && !migration.contains("set_config"),
            "{migration}"
        );
        assert!(
            migration.contains("CREATE TABLE IF NOT EXISTS public.t"),
            "{migration}"
        );
        assert!(
            migration.contains("CREATE SEQUENCE IF NOT EXISTS public.t_id_seq"),
            "{migration}"
        );
        assert!(
            migration.contains("CREATE INDEX IF NOT EXISTS t_m_idx"),
            "{migration}"
        );
        assert!(
            migration.contains("CREATE OR REPLACE VIEW public.v"),
            "{migration}"
        );
        assert!(
            migration.contains("CREATE OR REPLACE FUNCTION public.f()"),
            "{migration}"
        );
        assert!(
            migration.contains("EXCEPTION WHEN duplicate_object"),
            "{migration}"
        );
        // The guarded ADD CONSTRAINT is inside a DO block; SET DEFAULT is already idempotent.
        assert_eq!(migration.matches("DO $devdb$").count(), 2, "{migration}");
        // What it produced parses again.
        assert!(pg_query::parse(&migration, 0).is_ok());
    }
}
