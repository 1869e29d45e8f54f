//! `up`, `down`, `destroy`, `status`, `logs`, `url` against a real Docker engine and real Postgres.

use crate::common;

use bollard::query_parameters::RemoveImageOptionsBuilder;
use common::{connect, docker, postgres_image, project_resources, registry, TestProject};

async fn container_id(project: &TestProject) -> String {
    docker()
        .await
        .inspect_container(&project.container_name("postgres"), None)
        .await
        .expect("inspect container")
        .id
        .expect("container id")
}

#[tokio::test]
async fn up_from_nothing_then_again_changes_nothing() {
    let project = TestProject::with_database("up", "");
    let first = project.devdb(&["up"]).ok();
    assert!(first.stderr.contains("created"), "{}", first.stderr);
    assert!(
        first.stdout.contains("postgres://app:***@127.0.0.1:"),
        "{}",
        first.stdout
    );
    assert!(
        !first.all().contains("test-secret-pw"),
        "password printed: {}",
        first.all()
    );
    let id = container_id(&project).await;

    // Compose's labels and names, and the port published on 127.0.0.1 only.
    let inspect = docker()
        .await
        .inspect_container(&project.container_name("postgres"), None)
        .await
        .unwrap();
    let labels = inspect.config.unwrap().labels.unwrap();
    assert_eq!(labels["com.docker.compose.project"], project.name);
    assert_eq!(labels["com.docker.compose.service"], "postgres");
    assert_eq!(labels["com.docker.compose.oneoff"], "False");
    let bindings = inspect.host_config.unwrap().port_bindings.unwrap();
    let binding = &bindings["5432/tcp"].as_ref().unwrap()[0];
    assert_eq!(binding.host_ip.as_deref(), Some("127.0.0.1"));
    let networks = inspect.network_settings.unwrap().networks.unwrap();
    assert!(
        networks.contains_key(&format!("{}_default", project.name)),
        "{networks:?}"
    );

    // The database from x-devdb/POSTGRES_DB answers real queries.
    let client = connect(&project).await;
    let row = client
        .query_one("SELECT current_database(), current_user", &[])
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, String>(1)),
        ("app".to_string(), "app".to_string())
    );

    let second = project.devdb(&["up", "--json"]).ok();
    let json: serde_json::Value = serde_json::from_str(&second.stdout).expect("json");
    assert_eq!(json["changed"], false, "{json}");
    assert_eq!(json["services"][0]["state"], "unchanged");
    assert!(!second.stderr.contains("Pulling"), "{}", second.stderr);
    assert_eq!(
        container_id(&project).await,
        id,
        "second up must not recreate"
    );
}

#[tokio::test]
async fn config_change_recreates_container_and_keeps_data() {
    let project = TestProject::with_database("recreate", "");
    project.devdb(&["up"]).ok();
    let before = container_id(&project).await;
    connect(&project)
        .await
        .batch_execute("CREATE TABLE kept (v int); INSERT INTO kept VALUES (42);")
        .await
        .unwrap();

    // The extra YAML lands inside the service, after its `volumes:`.
    let command = "    command: [\"postgres\", \"-c\", \"work_mem=8MB\"]\n";
    project.write_compose(&project.database_yaml(&postgres_image(), "\"5432\"", command, ""));
    let run = project.devdb(&["up"]).ok();
    assert!(run.stderr.contains("recreated"), "{}", run.stderr);
    assert_ne!(container_id(&project).await, before);

    let client = connect(&project).await;
    let value: i32 = client
        .query_one("SELECT v FROM kept", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(value, 42, "the volume must survive a recreate");
    let work_mem: String = client.query_one("SHOW work_mem", &[]).await.unwrap().get(0);
    assert_eq!(work_mem, "8MB", "the new command must be in effect");
}

#[tokio::test]
async fn down_then_up_keeps_data() {
    let project = TestProject::with_database("downup", "");
    project.devdb(&["up"]).ok();
    connect(&project)
        .await
        .batch_execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('x');")
        .await
        .unwrap();
    project.devdb(&["down"]).ok();
    let state = docker()
        .await
        .inspect_container(&project.container_name("postgres"), None)
        .await
        .unwrap()
        .state
        .unwrap();
    assert_eq!(state.running, Some(false));

    let status = project.devdb(&["status", "--json"]).ok();
    let rows: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(rows[0]["state"], "exited", "{rows}");

    let run = project.devdb(&["up"]).ok();
    assert!(run.stderr.contains("started"), "{}", run.stderr);
    let value: String = connect(&project)
        .await
        .query_one("SELECT v FROM kept", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(value, "x");
}

#[tokio::test]
async fn status_logs_and_url_describe_the_running_database() {
    let project = TestProject::with_database("status", "");
    project.devdb(&["up"]).ok();
    let rows: serde_json::Value =
        serde_json::from_str(&project.devdb(&["status", "--json"]).ok().stdout).unwrap();
    let row = &rows[0];
    assert_eq!(row["service"], "postgres");
    assert_eq!(row["state"], "running");
    assert_eq!(row["image"], postgres_image());
    let port = row["port"].as_u64().expect("a published port");
    let url = project.devdb(&["url"]).ok().stdout;
    assert_eq!(
        url.trim(),
        format!("postgres://app:test-secret-pw@127.0.0.1:{port}/app")
    );

    let logs = project.devdb(&["logs", "--tail", "50"]).ok();
    assert!(
        logs.stdout
            .contains("database system is ready to accept connections"),
        "{}",
        logs.stdout
    );
    let unknown = project.devdb(&["logs", "nope"]).fails();
    assert!(
        unknown.stderr.contains("no service `nope`"),
        "{}",
        unknown.stderr
    );
}

#[tokio::test]
async fn destroy_removes_everything_of_the_project_and_nothing_else() {
    let project = TestProject::with_database("destroy", "");
    let bystander = TestProject::new("bystander");
    project.devdb(&["up"]).ok();
    // A volume of another project, named like ours: destroy must leave it.
    let docker = docker().await;
    let other_volume = format!("{}_pgdata", bystander.name);
    docker
        .create_volume(bollard::models::VolumeCreateRequest {
            name: Some(other_volume.clone()),
            labels: Some(
                [(
                    "com.docker.compose.project".to_string(),
                    bystander.name.clone(),
                )]
                .into(),
            ),
            ..Default::default()
        })
        .await
        .unwrap();

    let refused = project.devdb(&["destroy"]).fails();
    assert!(refused.stderr.contains("--yes"), "{}", refused.stderr);
    assert_eq!(
        project_resources(&project.name).await.len(),
        3,
        "refused destroy must remove nothing"
    );

    let run = project.devdb(&["destroy", "--yes"]).ok();
    assert!(run.stderr.contains("removed volume"), "{}", run.stderr);
    assert!(project_resources(&project.name).await.is_empty());
    assert!(
        docker.inspect_volume(&other_volume).await.is_ok(),
        "another project's volume was removed"
    );
}

#[tokio::test]
async fn pulls_a_missing_image_from_a_registry_with_progress() {
    let image = format!("{}/devdb/postgres:15", registry());
    // Only this test uses this reference; untagging it leaves the layers shared with other images.
    let options = RemoveImageOptionsBuilder::default().noprune(true).build();
    let _ = docker()
        .await
        .remove_image(&image, Some(options), None)
        .await;

    let project = TestProject::new("pull");
    project.write_compose(&project.database_yaml(&image, "\"5432\"", "", ""));
    let run = project.devdb(&["up"]).ok();
    assert!(
        run.stderr.contains(&format!("Pulling image {image}")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("Pulled image {image}")),
        "{}",
        run.stderr
    );
    let again = project.devdb(&["up"]).ok();
    assert!(!again.stderr.contains("Pulling"), "{}", again.stderr);
}

#[tokio::test]
async fn builds_an_image_from_a_build_context() {
    let mut project = TestProject::new("build");
    let context = project.path().join("image");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(
        context.join("Dockerfile"),
        format!("FROM {}\nLABEL devdb.test=build\n", postgres_image()),
    )
    .unwrap();
    let yaml = project
        .database_yaml("unused", "\"5432\"", "", "")
        .replace("    image: unused\n", "    build: ../image\n");
    project.write_compose(&yaml);
    let built = format!("{}-postgres", project.name);
    project.images.push(built.clone());
    let run = project.devdb(&["up"]).ok();
    assert!(
        run.stderr.contains(&format!("Built image {built}")),
        "{}",
        run.stderr
    );
    let image = docker()
        .await
        .inspect_image(&built)
        .await
        .expect("built image");
    assert_eq!(image.config.unwrap().labels.unwrap()["devdb.test"], "build");
}

#[tokio::test]
async fn no_engine_says_where_it_looked() {
    let project = TestProject::with_database("noengine", "");
    let socket = project.path().join("stopped-docker.sock");
    let host = format!("unix://{}", socket.display());
    let run = project
        .devdb_with_env(&["up"], &[("DOCKER_HOST", &host)])
        .fails();
    assert!(
        run.stderr.contains("cannot reach a Docker engine"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&host) && run.stderr.contains("DOCKER_HOST"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hint:"), "{}", run.stderr);
}

#[tokio::test]
async fn unpullable_image_is_named() {
    let project = TestProject::new("unpullable");
    let image = format!("{}/devdb/does-not-exist:1", registry());
    project.write_compose(&project.database_yaml(&image, "\"5432\"", "", ""));
    let run = project.devdb(&["up"]).fails();
    assert!(
        run.stderr.contains(&format!("cannot pull image `{image}`")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("docker images"), "{}", run.stderr);
}

#[tokio::test]
async fn taken_port_names_the_port_and_the_setting() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let project = TestProject::new("port");
    project.write_compose(&project.database_yaml(
        &postgres_image(),
        &format!("\"{port}:5432\""),
        "",
        "",
    ));
    let run = project.devdb(&["up"]).fails();
    assert!(
        run.stderr
            .contains(&format!("port {port} on 127.0.0.1 is already in use")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("`ports:`"), "{}", run.stderr);
    drop(listener);
}

#[tokio::test]
async fn broken_yaml_and_unknown_settings_point_at_file_line_column() {
    let project = TestProject::new("yaml");
    std::fs::write(
        project.compose_path(),
        "services:\n  postgres:\n    image: [broken\n",
    )
    .unwrap();
    let run = project.devdb(&["status"]).fails();
    assert!(
        run.stderr.contains("docker-compose.yaml:"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(":4:1:") || run.stderr.contains(":3:"),
        "{}",
        run.stderr
    );

    project.write_compose(&project.database_yaml(
        &postgres_image(),
        "\"5432\"",
        "",
        "  migratons: db\n",
    ));
    let run = project.devdb(&["up"]).fails();
    assert!(
        run.stderr
            .contains("docker-compose.yaml:15:3: x-devdb: unknown field `migratons`"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn postgres_not_ready_shows_the_last_log_lines() {
    let project = TestProject::new("notready");
    let yaml = project
        .database_yaml(&postgres_image(), "\"5432\"", "", "")
        .replace("ready_timeout: 60s", "ready_timeout: 3s")
        .replace(
            "    ports:",
            "    command: [\"sh\", \"-c\", \"echo still-booting-marker; sleep 600\"]\n    ports:",
        );
    project.write_compose(&yaml);
    let run = project.devdb(&["up"]).fails();
    assert!(
        run.stderr.contains("did not accept connections within 3s"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("still-booting-marker"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn container_that_exits_fails_fast_with_its_logs() {
    let project = TestProject::new("exits");
    let yaml = project
        .database_yaml(&postgres_image(), "\"5432\"", "", "")
        .replace(
            "    ports:",
            "    command: [\"sh\", \"-c\", \"echo crash-marker >&2; exit 3\"]\n    ports:",
        );
    project.write_compose(&yaml);
    let run = project.devdb(&["up"]).fails();
    assert!(run.stderr.contains("exit code 3"), "{}", run.stderr);
    assert!(run.stderr.contains("crash-marker"), "{}", run.stderr);
}

/// The project's named volume and every mount of its database container, as (destination, name).
async fn database_mounts(project: &TestProject) -> Vec<(String, String)> {
    docker()
        .await
        .inspect_container(&project.container_name("postgres"), None)
        .await
        .unwrap()
        .mounts
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            (
                m.destination.unwrap_or_default(),
                m.name.unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn an_18_image_keeps_its_data_in_the_volume_at_var_lib_postgresql() {
    let Some(image) = common::postgres_image_18() else {
        return;
    };
    let project = TestProject::new("pg18up");
    project.write_compose(&project.database_yaml(&image, "\"5432\"", "", ""));
    assert!(std::fs::read_to_string(project.compose_path())
        .unwrap()
        .contains("pgdata:/var/lib/postgresql\""));
    project.devdb(&["up"]).ok();
    let client = connect(&project).await;
    let settings = common::column(
        &client,
        "SELECT current_setting('data_directory') || ' ' || current_setting('server_version_num')",
    )
    .await;
    assert!(
        settings[0].starts_with("/var/lib/postgresql/18/docker 18"),
        "{settings:?}"
    );
    // One mount, the project's named volume: no anonymous volume holds anything.
    assert_eq!(
        database_mounts(&project).await,
        [(
            "/var/lib/postgresql".to_string(),
            format!("{}_pgdata", project.name)
        )]
    );
    client
        .batch_execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('18');")
        .await
        .unwrap();
    drop(client);

    project.devdb(&["down"]).ok();
    let run = project.devdb(&["up"]).ok();
    assert!(run.stderr.contains("started"), "{}", run.stderr);
    // A recreate drops anything outside the named volume: the row must still be there.
    let command = "    command: [\"postgres\", \"-c\", \"work_mem=8MB\"]\n";
    project.write_compose(&project.database_yaml(&image, "\"5432\"", command, ""));
    let run = project.devdb(&["up"]).ok();
    assert!(run.stderr.contains("recreated"), "{}", run.stderr);
    assert_eq!(
        common::column(&connect(&project).await, "SELECT v FROM kept").await,
        ["18"]
    );
}

#[tokio::test]
async fn an_18_image_with_the_old_data_mount_is_refused_with_the_fix() {
    let Some(image) = common::postgres_image_18() else {
        return;
    };
    let project = TestProject::new("pg18mount");
    let right = project.database_yaml(&image, "\"5432\"", "", "");
    let wrong = right.replace(
        "pgdata:/var/lib/postgresql\"",
        "pgdata:/var/lib/postgresql/data\"",
    );
    assert_ne!(right, wrong);
    project.write_compose(&wrong);
    for attempt in ["first", "second"] {
        let started = std::time::Instant::now();
        let run = project.devdb(&["up"]).fails();
        assert_eq!(run.status.code(), Some(2), "{attempt}: {}", run.stderr);
        // Well within ready_timeout (60s): devdb explains instead of waiting.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{attempt}: took {:?}",
            started.elapsed()
        );
        for expected in [
            "service `postgres` mounts `pgdata` at /var/lib/postgresql/data",
            "PGDATA=/var/lib/postgresql/18/docker",
            "change that entry of services.postgres.volumes to `pgdata:/var/lib/postgresql`",
            &project.compose_path().display().to_string(),
        ] {
            assert!(
                run.stderr.contains(expected),
                "{attempt}: {expected}\n{}",
                run.stderr
            );
        }
        assert!(!run.all().contains("test-secret-pw"), "{}", run.all());
    }
    // The stand-in refuses the mount on its own, as the official 18 image does.
    let docker = docker().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let state = loop {
        let state = docker
            .inspect_container(&project.container_name("postgres"), None)
            .await
            .unwrap()
            .state
            .unwrap();
        if state.running != Some(true) || std::time::Instant::now() > deadline {
            break state;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(
        (state.running, state.exit_code),
        (Some(false), Some(1)),
        "{state:?}"
    );

    // The image's VOLUME became an anonymous volume, which the recreate below leaves behind.
    let named = format!("{}_pgdata", project.name);
    let anonymous: Vec<String> = database_mounts(&project)
        .await
        .into_iter()
        .filter_map(|(_, name)| (name != named).then_some(name))
        .collect();

    // The fix the message names works.
    project.write_compose(&right);
    project.devdb(&["up"]).ok();
    assert_eq!(
        common::column(&connect(&project).await, "SHOW data_directory").await,
        ["/var/lib/postgresql/18/docker"]
    );
    for volume in anonymous {
        docker
            .remove_volume(
                &volume,
                None::<bollard::query_parameters::RemoveVolumeOptions>,
            )
            .await
            .unwrap();
    }
}
