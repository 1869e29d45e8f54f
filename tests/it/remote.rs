//! devdb against a real second Docker engine on its own host: a network namespace with its own
//! address on a veth pair, a dockerd inside it listening on tcp://ADDR:2376 with mutual TLS
//! (certificates made here with rcgen). Only addresses inside that veth pair are dialled.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A dockerd in its own network namespace, removed (engine, namespace, files) on drop.
struct RemoteEngine {
    namespace: String,
    host_veth: String,
    address: String,
    dir: tempfile::TempDir,
    dockerd: Child,
}

fn run(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Skips (with the reason) where namespaces cannot be made; under CI=true that fails instead.
fn namespace_or_skip(namespace: &str) -> bool {
    match run(&["ip", "netns", "add", namespace]) {
        Ok(()) => true,
        Err(reason) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("SKIP: cannot create a network namespace here ({reason})");
            false
        }
        Err(reason) => panic!("CI=true but no network namespace can be created: {reason}"),
    }
}

/// CA, server certificate for `address` and client certificate, as the docker CLI's files.
fn write_certificates(server_dir: &Path, client_dir: &Path, address: &str) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "devdb remote CA");
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let signed = |names: Vec<String>, usage: ExtendedKeyUsagePurpose| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names).unwrap();
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = signed(
        vec![address.to_string()],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client_cert, client_key) = signed(Vec::new(), ExtendedKeyUsagePurpose::ClientAuth);
    for dir in [server_dir, client_dir] {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("ca.pem"), &ca_pem).unwrap();
    }
    std::fs::write(server_dir.join("cert.pem"), server_cert).unwrap();
    std::fs::write(server_dir.join("key.pem"), server_key).unwrap();
    std::fs::write(client_dir.join("cert.pem"), client_cert).unwrap();
    std::fs::write(client_dir.join("key.pem"), client_key).unwrap();
}

impl RemoteEngine {
    /// `index` keeps each test's /30 and names apart (tests run in parallel).
    fn start(index: u8) -> Option<RemoteEngine> {
        let tag = format!("{}{index}", std::process::id() % 10000);
        let namespace = format!("devdbr{tag}");
        if !namespace_or_skip(&namespace) {
            return None;
        }
        let host_veth = format!("ddh{tag}");
        let ns_veth = format!("ddn{tag}");
        let subnet = (std::process::id() % 60) as u8 * 4 + index;
        let host_address = format!("10.213.{subnet}.1");
        let address = format!("10.213.{subnet}.2");
        let dir = tempfile::Builder::new()
            .prefix("devdb-remote-")
            .tempdir()
            .unwrap();
        let netns = format!("--net=/var/run/netns/{namespace}");
        let host_cidr = format!("{host_address}/30");
        let ns_cidr = format!("{address}/30");
        let setup: [&[&str]; 7] = [
            &[
                "ip", "link", "add", &host_veth, "type", "veth", "peer", "name", &ns_veth,
            ],
            &["ip", "link", "set", &ns_veth, "netns", &namespace],
            &["ip", "addr", "add", &host_cidr, "dev", &host_veth],
            &["ip", "link", "set", &host_veth, "up"],
            &[
                "nsenter", &netns, "ip", "addr", "add", &ns_cidr, "dev", &ns_veth,
            ],
            &["nsenter", &netns, "ip", "link", "set", &ns_veth, "up"],
            &["nsenter", &netns, "ip", "link", "set", "lo", "up"],
        ];
        for step in setup {
            if let Err(e) = run(step) {
                let _ = run(&["ip", "link", "del", &host_veth]);
                let _ = run(&["ip", "netns", "del", &namespace]);
                panic!("{e}");
            }
        }
        let root = dir.path().to_path_buf();
        write_certificates(&root.join("server"), &root.join("client"), &address);
        let p = |name: &str| root.join(name).to_string_lossy().into_owned();
        let log = std::fs::File::create(root.join("dockerd.log")).unwrap();
        let dockerd = Command::new("nsenter")
            .arg(&netns)
            .args(["dockerd", "--data-root", &p("data"), "--exec-root", &p("x")])
            .args([
                "--pidfile",
                &p("dockerd.pid"),
                "-H",
                &format!("tcp://{address}:2376"),
                "-H",
                &format!("unix://{}", p("docker.sock")),
            ])
            .args(["--tlsverify", "--tlscacert", &p("server/ca.pem")])
            .args([
                "--tlscert",
                &p("server/cert.pem"),
                "--tlskey",
                &p("server/key.pem"),
            ])
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-masq=false",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let engine = RemoteEngine {
            namespace,
            host_veth,
            address,
            dir,
            dockerd,
        };
        engine.wait_until_listening();
        Some(engine)
    }

    fn wait_until_listening(&self) {
        let started = Instant::now();
        let target = format!("{}:2376", self.address);
        while std::net::TcpStream::connect_timeout(
            &target.parse().unwrap(),
            Duration::from_millis(200),
        )
        .is_err()
        {
            let log = std::fs::read_to_string(self.dir.path().join("dockerd.log"));
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "dockerd in {} did not listen within 60 s:\n{}",
                self.namespace,
                log.unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn host(&self) -> String {
        format!("tcp://{}:2376", self.address)
    }

    fn client_dir(&self) -> PathBuf {
        self.dir.path().join("client")
    }
}

impl Drop for RemoteEngine {
    fn drop(&mut self) {
        let _ = run(&["kill", "-TERM", &self.dockerd.id().to_string()]);
        let started = Instant::now();
        while self.dockerd.try_wait().ok().flatten().is_none()
            && started.elapsed() < Duration::from_secs(20)
        {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.dockerd.kill();
        let _ = self.dockerd.wait();
        let _ = run(&["ip", "link", "del", &self.host_veth]);
        let _ = run(&["ip", "netns", "del", &self.namespace]);
        // Leftover mounts under the data root (overlay) are gone with the engine; a busy one
        // would only leave the temp folder behind.
        let _ = Command::new("umount")
            .args(["-R", &self.dir.path().join("x").to_string_lossy()])
            .output();
    }
}

fn no_docker_env(cmd: &[(&str, &str)]) -> Vec<(String, String)> {
    cmd.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn devdb(project: &common::TestProject, args: &[&str], env: &[(String, String)]) -> common::Run {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    project.devdb_with_env(args, &env)
}

#[test]
fn tls_engine_answers_and_a_wrong_ca_is_one_clear_line() {
    let Some(engine) = RemoteEngine::start(1) else {
        return;
    };
    let project = common::TestProject::with_database("remote-tls", "");
    let client = engine.client_dir();
    let env = no_docker_env(&[
        ("DOCKER_HOST", &engine.host()),
        ("DOCKER_TLS_VERIFY", "1"),
        ("DOCKER_CERT_PATH", client.to_str().unwrap()),
        ("DOCKER_CONTEXT", ""),
    ]);
    // The remote engine knows nothing of the project: status works and shows no container.
    let status = devdb(&project, &["status", "--json"], &env).ok();
    let rows: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(rows[0]["state"], "missing", "{}", status.stdout);

    // The image exists only on this machine's engine: one error naming save | load, no retries.
    let failed = devdb(&project, &["up"], &env).fails();
    assert!(
        failed.stderr.contains("docker save") && failed.stderr.contains(&engine.host()),
        "{}",
        failed.stderr
    );

    // The same engine checked against another CA.
    let other = engine.dir.path().join("other");
    write_certificates(&engine.dir.path().join("unused"), &other, &engine.address);
    let mut wrong = env.clone();
    wrong[2].1 = other.to_string_lossy().into_owned();
    let failed = devdb(&project, &["status"], &wrong).fails();
    let first = failed.stderr.lines().next().unwrap_or_default().to_string();
    assert!(
        first.contains(&engine.host()) && first.to_lowercase().contains("certificate"),
        "{}",
        failed.stderr
    );
    assert!(failed.stderr.contains("hint:"), "{}", failed.stderr);

    // Missing TLS files: named, with the fix.
    let mut missing = env.clone();
    missing[2].1 = engine
        .dir
        .path()
        .join("nowhere")
        .to_string_lossy()
        .into_owned();
    let failed = devdb(&project, &["status"], &missing).fails();
    assert!(
        failed.stderr.contains("ca.pem is missing") && failed.stderr.contains("DOCKER_CERT_PATH"),
        "{}",
        failed.stderr
    );
}

#[test]
fn a_context_with_tls_files_reaches_the_engine() {
    let Some(engine) = RemoteEngine::start(2) else {
        return;
    };
    let project = common::TestProject::with_database("remote-ctx", "");
    let config = engine.dir.path().join("docker-config");
    let id = sha256_hex("far");
    let meta = config.join("contexts/meta").join(&id);
    std::fs::create_dir_all(&meta).unwrap();
    let meta_json = serde_json::json!({
        "Name": "far",
        "Metadata": {},
        "Endpoints": {"docker": {"Host": engine.host(), "SkipTLSVerify": false}},
    });
    std::fs::write(meta.join("meta.json"), meta_json.to_string()).unwrap();
    let tls = config.join("contexts/tls").join(&id).join("docker");
    std::fs::create_dir_all(&tls).unwrap();
    for file in ["ca.pem", "cert.pem", "key.pem"] {
        std::fs::copy(engine.client_dir().join(file), tls.join(file)).unwrap();
    }
    std::fs::write(config.join("config.json"), r#"{"currentContext":"far"}"#).unwrap();
    let env = no_docker_env(&[
        ("DOCKER_CONFIG", config.to_str().unwrap()),
        ("DOCKER_HOST", ""),
        ("DOCKER_CONTEXT", ""),
    ]);
    let status = devdb(&project, &["status", "--json"], &env).ok();
    let rows: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(rows[0]["state"], "missing", "{}", status.stdout);
    // Proof that it was the remote engine: with the context's files gone, TLS fails.
    std::fs::remove_dir_all(&tls).unwrap();
    let failed = devdb(&project, &["status"], &env).fails();
    assert!(failed.stderr.contains(&engine.host()), "{}", failed.stderr);
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl RemoteEngine {
    /// A bollard client for this engine (the test's own view, not devdb's).
    async fn client(&self) -> bollard::Docker {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = self.client_dir();
        bollard::Docker::connect_with_ssl(
            &self.host(),
            &dir.join("key.pem"),
            &dir.join("cert.pem"),
            &dir.join("ca.pem"),
            300,
            bollard::API_DEFAULT_VERSION,
        )
        .unwrap()
        .negotiate_version()
        .await
        .unwrap()
    }

    /// `docker save | docker load` of `image` from the machine's engine into this one.
    async fn load_image(&self, image: &str) {
        use futures_util::StreamExt;
        let local = common::docker().await;
        let mut tar = Vec::new();
        let mut export = local.export_image(image);
        while let Some(chunk) = export.next().await {
            tar.extend_from_slice(&chunk.expect("export image"));
        }
        let remote = self.client().await;
        let options = bollard::query_parameters::ImportImageOptionsBuilder::default().build();
        let mut import = remote.import_image(options, bollard::body_full(tar.into()), None);
        while let Some(progress) = import.next().await {
            progress.expect("load image into the remote engine");
        }
    }

    /// What `project` still owns on this engine (containers, volumes, networks).
    async fn resources_of(&self, project: &str) -> Vec<String> {
        let remote = self.client().await;
        let filter = std::collections::HashMap::from([(
            "label".to_string(),
            vec![format!("com.docker.compose.project={project}")],
        )]);
        let containers = remote
            .list_containers(Some(
                bollard::query_parameters::ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&filter)
                    .build(),
            ))
            .await
            .unwrap();
        let volumes = remote
            .list_volumes(Some(
                bollard::query_parameters::ListVolumesOptionsBuilder::default()
                    .filters(&filter)
                    .build(),
            ))
            .await
            .unwrap()
            .volumes
            .unwrap_or_default();
        let networks = remote
            .list_networks(Some(
                bollard::query_parameters::ListNetworksOptionsBuilder::default()
                    .filters(&filter)
                    .build(),
            ))
            .await
            .unwrap();
        containers
            .into_iter()
            .filter_map(|c| c.names?.first().cloned())
            .chain(volumes.into_iter().map(|v| v.name))
            .chain(networks.into_iter().filter_map(|n| n.name))
            .collect()
    }

    fn tls_env(&self) -> Vec<(String, String)> {
        no_docker_env(&[
            ("USER", "dev"),
            ("DOCKER_HOST", &self.host()),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", self.client_dir().to_str().unwrap()),
            ("DOCKER_CONTEXT", ""),
        ])
    }
}

/// The project's name on a shared (remote) engine for `user`.
fn owned(project: &common::TestProject, user: &str) -> String {
    format!("{}-{user}", project.name)
}

fn as_user(env: &[(String, String)], user: &str) -> Vec<(String, String)> {
    let mut env: Vec<_> = env.iter().filter(|(k, _)| k != "USER").cloned().collect();
    env.push(("USER".to_string(), user.to_string()));
    env
}

async fn query_one(url: &str, sql: &str) -> Result<String, String> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let row = client
        .query_one(sql, &[])
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.get::<_, String>(0))
}

/// A project on the remote engine whose database publishes `port` ("5432": all interfaces of
/// the engine's machine; "127.0.0.1::5432": its loopback only).
fn remote_project(label: &str, port: &str) -> common::TestProject {
    let project = common::TestProject::new(label);
    let yaml = project.database_yaml(&common::postgres_image(), port, "", "");
    project.write_compose(&yaml);
    project
}

#[tokio::test(flavor = "multi_thread")]
async fn the_database_is_reached_from_the_client_in_both_port_shapes() {
    let Some(engine) = RemoteEngine::start(3) else {
        return;
    };
    engine.load_image(&common::postgres_image()).await;
    let env = engine.tls_env();

    // All interfaces: reached at the engine's address, and nothing runs on the local engine.
    let open = remote_project("remote-all", "\"5432\"");
    devdb(&open, &["up"], &env).ok();
    let url = devdb(&open, &["url"], &env).ok().stdout.trim().to_string();
    assert!(url.contains(&format!("@{}:", engine.address)), "{url}");
    let answer = query_one(&url, "select current_database()::text").await;
    assert_eq!(answer.as_deref(), Ok("app"));
    assert_eq!(
        common::project_resources(&open.name).await,
        Vec::<String>::new()
    );

    // A second developer of the same repository on the same engine gets a project of their
    // own, and their `destroy` leaves the first one's alone.
    let bob = as_user(&env, "bob");
    devdb(&open, &["up"], &bob).ok();
    let bob_url = devdb(&open, &["url"], &bob).ok().stdout.trim().to_string();
    assert_ne!(bob_url, url);
    assert_eq!(engine.resources_of(&owned(&open, "bob")).await.len(), 3);
    devdb(&open, &["destroy", "--yes"], &bob).ok();
    assert_eq!(
        engine.resources_of(&owned(&open, "bob")).await,
        Vec::<String>::new()
    );
    assert_eq!(engine.resources_of(&owned(&open, "dev")).await.len(), 3);
    let answer = query_one(&url, "select current_database()::text").await;
    assert_eq!(
        answer.as_deref(),
        Ok("app"),
        "bob's destroy touched dev's database"
    );

    // Loopback only: `url` answers through a tunnel that ends with the command, and says so.
    let private = remote_project("remote-lo", "\"127.0.0.1::5432\"");
    devdb(&private, &["up"], &env).ok();
    let run = devdb(&private, &["url"], &env).ok();
    assert!(run.stderr.contains("devdb tunnel"), "{}", run.stderr);
    let url = run.stdout.trim().to_string();
    assert!(url.contains("@127.0.0.1:"), "{url}");
    assert!(
        query_one(&url, "select 'x'").await.is_err(),
        "the tunnel outlived `devdb url`"
    );

    // Migrations go through the tunnel too.
    private.write_migration(
        "20260101000000_init",
        "create table notes (id int primary key, body text);",
    );
    devdb(&private, &["migrate", "deploy"], &env).ok();
    // reset (twice: the second from its snapshot) runs over the remote engine and the tunnel.
    for _ in 0..2 {
        devdb(&private, &["reset"], &env).ok();
    }

    // `devdb tunnel` holds a port for a long-lived client.
    let mut held = Command::new(env!("CARGO_BIN_EXE_devdb"))
        .arg("tunnel")
        .current_dir(private.path())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(held.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let port: u16 = line.trim().parse().expect("devdb tunnel prints its port");
    let old_port = url
        .split("@127.0.0.1:")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    let through = url.replacen(
        &format!("@127.0.0.1:{old_port}/"),
        &format!("@127.0.0.1:{port}/"),
        1,
    );
    for _ in 0..2 {
        let tables = query_one(
            &through,
            "select string_agg(tablename, ',' order by tablename)::text from pg_tables \
             where schemaname = 'public'",
        )
        .await;
        assert_eq!(tables.as_deref(), Ok("_prisma_migrations,notes"));
    }
    let _ = held.kill();
    let _ = held.wait();

    for project in [&open, &private] {
        devdb(project, &["destroy", "--yes"], &env).ok();
        assert_eq!(
            engine.resources_of(&owned(project, "dev")).await,
            Vec::<String>::new()
        );
    }
}

/// An sshd in the engine's namespace whose sessions see that engine as their DOCKER_HOST (as
/// a user logging into the engine's machine would), and the client's ssh config for it.
struct Sshd {
    child: Child,
    config: PathBuf,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// None (skip) where openssh-server is missing, except under CI=true (scripts/test installs it).
fn sshd_or_skip(engine: &RemoteEngine) -> Option<Sshd> {
    if !Path::new("/usr/sbin/sshd").exists() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI=true but /usr/sbin/sshd is missing (scripts/test installs openssh-server)"
        );
        eprintln!("SKIP: no /usr/sbin/sshd (apt-get install openssh-server)");
        return None;
    }
    let dir = engine.dir.path().join("ssh");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all("/run/sshd").unwrap();
    let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
    for key in ["host_key", "id", "other_host_key"] {
        run(&["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", &p(key)]).unwrap();
    }
    std::fs::copy(dir.join("id.pub"), dir.join("authorized_keys")).unwrap();
    let socket = engine.dir.path().join("docker.sock");
    let server = format!(
        "ListenAddress {}\nHostKey {}\nAuthorizedKeysFile {}\nPidFile {}\nStrictModes no\n\
         UsePAM no\nPasswordAuthentication no\nPermitRootLogin prohibit-password\n\
         SetEnv DOCKER_HOST=unix://{}\n",
        engine.address,
        p("host_key"),
        p("authorized_keys"),
        p("sshd.pid"),
        socket.display()
    );
    std::fs::write(dir.join("sshd_config"), server).unwrap();
    let known = |key: &str| {
        let public = std::fs::read_to_string(dir.join(format!("{key}.pub"))).unwrap();
        let mut words = public.split_whitespace();
        format!(
            "{} {} {}\n",
            engine.address,
            words.next().unwrap(),
            words.next().unwrap()
        )
    };
    std::fs::write(dir.join("known_hosts"), known("host_key")).unwrap();
    std::fs::write(dir.join("wrong_known_hosts"), known("other_host_key")).unwrap();
    let client = |known_hosts: &str| {
        format!(
            "Host {}\n  User root\n  IdentityFile {}\n  IdentitiesOnly yes\n  \
             UserKnownHostsFile {}\n  StrictHostKeyChecking yes\n  BatchMode yes\n  \
             ConnectTimeout 10\n",
            engine.address,
            p("id"),
            p(known_hosts)
        )
    };
    std::fs::write(dir.join("ssh_config"), client("known_hosts")).unwrap();
    std::fs::write(dir.join("wrong_ssh_config"), client("wrong_known_hosts")).unwrap();
    let log = std::fs::File::create(dir.join("sshd.log")).unwrap();
    let child = Command::new("nsenter")
        .arg(format!("--net=/var/run/netns/{}", engine.namespace))
        .args(["/usr/sbin/sshd", "-D", "-e", "-f", &p("sshd_config")])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let started = Instant::now();
    let target = format!("{}:22", engine.address).parse().unwrap();
    while std::net::TcpStream::connect_timeout(&target, Duration::from_millis(200)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "sshd did not listen: {}",
            std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(Sshd {
        child,
        config: dir.join("ssh_config"),
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ssh_engine_runs_the_database_and_a_changed_host_key_is_one_line() {
    let Some(engine) = RemoteEngine::start(4) else {
        return;
    };
    let Some(sshd) = sshd_or_skip(&engine) else {
        return;
    };
    engine.load_image(&common::postgres_image()).await;
    let ssh = format!("ssh -F {}", sshd.config.display());
    let host = format!("ssh://root@{}", engine.address);
    let env = no_docker_env(&[
        ("DOCKER_HOST", &host),
        ("DOCKER_CONTEXT", ""),
        ("DEVDB_SSH_COMMAND", &ssh),
        ("USER", "dev"),
    ]);
    let project = remote_project("remote-ssh", "\"127.0.0.1::5432\"");
    devdb(&project, &["up"], &env).ok();
    assert!(engine.resources_of(&owned(&project, "dev")).await.len() >= 3);
    assert_eq!(
        common::project_resources(&project.name).await,
        Vec::<String>::new()
    );
    project.write_migration(
        "20260101000000_init",
        "create table t (id int primary key);",
    );
    devdb(&project, &["migrate", "deploy"], &env).ok();
    let status = devdb(&project, &["migrate", "status"], &env).ok();
    assert!(
        status.all().contains("20260101000000_init"),
        "{}",
        status.all()
    );

    // A host key that is not the one known_hosts holds: one line, naming the endpoint and fix.
    let wrong = sshd.config.with_file_name("wrong_ssh_config");
    let mut mismatch = env.clone();
    mismatch[2].1 = format!("ssh -F {}", wrong.display());
    let failed = devdb(&project, &["status"], &mismatch).fails();
    let message = failed.stderr.trim();
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(
        message.contains(&host) && message.contains("ssh-keygen -R"),
        "{message}"
    );

    devdb(&project, &["destroy", "--yes"], &env).ok();
    assert_eq!(
        engine.resources_of(&owned(&project, "dev")).await,
        Vec::<String>::new()
    );
}
