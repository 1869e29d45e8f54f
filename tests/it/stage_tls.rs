//! Stages over TLS as users write them: `sslmode` in the stage or the URL (libpq style), with a
//! real Postgres serving TLS (the image's self-signed "snakeoil" certificate).

use crate::common;

use common::{connect, TestProject};
use devdb::config::Config;
use devdb::db::stage::Stage;

const TLS_COMMAND: &str =
    "    command: [postgres, -c, ssl=on, -c, ssl_cert_file=/etc/ssl/certs/ssl-cert-snakeoil.pem, \
                           -c, ssl_key_file=/etc/ssl/private/ssl-cert-snakeoil.key]\n";

#[tokio::test]
async fn require_encrypts_and_verify_full_refuses_an_unknown_certificate() {
    let remote = TestProject::with_database("tlsremote", TLS_COMMAND);
    remote.devdb(&["up"]).ok();
    let url = remote.devdb(&["url"]).ok().stdout.trim().to_string();
    connect(&remote)
        .await
        .batch_execute("CREATE TABLE on_the_stage (id int)")
        .await
        .unwrap();

    let local = TestProject::new("tlslocal");
    let stages = format!(
        "  stages:\n    \
           CODE: {{ url_command: \"echo '{url}'\", sslmode: require }}\n    \
           STRICT: {{ url_command: \"echo '{url}'\", sslmode: verify-full }}\n    \
           LIBPQ: {{ url_command: \"echo '{url}?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem'\" }}\n    \
           PLAIN: {{ url_command: \"echo '{url}?sslmode=disable'\" }}\n"
    );
    local.write_compose(&local.database_yaml(&common::postgres_image(), "\"5432\"", "", &stages));
    let config = Config::load(&local.compose_path(), None).unwrap();

    let code = Stage::resolve(&config, "CODE").await.unwrap();
    let client = code
        .connect(true)
        .await
        .expect("sslmode=require connects to a self-signed server");
    let encrypted: bool = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(encrypted, "the session must be encrypted");

    let plain = Stage::resolve(&config, "PLAIN").await.unwrap();
    let client = plain.connect(true).await.unwrap();
    let encrypted: bool = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!encrypted, "sslmode=disable in the URL must be honoured");

    let strict = Stage::resolve(&config, "STRICT").await.unwrap();
    let error = match strict.connect(true).await {
        Ok(_) => panic!("an unknown issuer must be refused"),
        Err(error) => error.to_string(),
    };
    assert!(
        error.contains("certificate") || error.contains("Certificate"),
        "{error}"
    );
    assert!(!error.contains("test-secret-pw"), "{error}");

    let libpq = Stage::resolve(&config, "LIBPQ").await.unwrap();
    let error = match libpq.connect(true).await {
        Ok(_) => panic!("a missing CA bundle must be an error"),
        Err(error) => error.to_string(),
    };
    assert!(
        error.contains("cannot read the CA bundle /nonexistent/ca.pem"),
        "{error}"
    );

    // The whole CLI path over TLS, password kept out of the output.
    let run = local.devdb(&["migrate", "status", "--stage", "CODE", "--json"]);
    assert!(!run.all().contains("test-secret-pw"), "{}", run.all());
    let status: serde_json::Value = serde_json::from_str(&run.ok().stdout).unwrap();
    assert_eq!(status["stage"], "CODE");
}

/// A CA and a server certificate it signed for `other.example` (not the 127.0.0.1 devdb dials),
/// plus an unrelated CA; written under `compose/certs/`.
fn write_certificates(project: &common::TestProject) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let dir = project.path().join("compose/certs");
    std::fs::create_dir_all(&dir).unwrap();
    let ca = |name: &str| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), Issuer::new(params, key))
    };
    let (ca_pem, issuer) = ca("devdb test CA");
    let (other_ca_pem, _) = ca("some other CA");
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["other.example".to_string()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca_pem).unwrap();
    std::fs::write(dir.join("other-ca.pem"), other_ca_pem).unwrap();
    std::fs::write(dir.join("server.crt"), server.pem()).unwrap();
    std::fs::write(dir.join("server.key"), server_key.serialize_pem()).unwrap();
}

#[tokio::test]
async fn verify_ca_checks_the_chain_and_verify_full_also_the_host_name() {
    let remote = common::TestProject::new("tlsca");
    write_certificates(&remote);
    let command = "    command: [sh, -c, \"install -o postgres -m 600 /certs/server.key /tmp/server.key \
                   && exec docker-entrypoint.sh postgres -c ssl=on -c ssl_cert_file=/certs/server.crt \
                   -c ssl_key_file=/tmp/server.key\"]\n";
    let yaml = remote
        .database_yaml(&common::postgres_image(), "\"5432\"", command, "")
        .replace(
            "volumes: [\"pgdata:/var/lib/postgresql/data\"]",
            "volumes: [\"pgdata:/var/lib/postgresql/data\", \"./certs:/certs:ro\"]",
        );
    remote.write_compose(&yaml);
    remote.devdb(&["up"]).ok();
    let url = remote.devdb(&["url"]).ok().stdout.trim().to_string();

    // The local project uses the remote's certificate folder through its own compose/certs.
    let local = common::TestProject::new("tlscalocal");
    let certs = local.path().join("compose/certs");
    std::fs::create_dir_all(&certs).unwrap();
    for file in ["ca.pem", "other-ca.pem"] {
        std::fs::copy(
            remote.path().join("compose/certs").join(file),
            certs.join(file),
        )
        .unwrap();
    }
    let stage = |mode: &str, ca: &str| {
        format!("{{ url_command: \"echo '{url}'\", sslmode: {mode}, ca_file: certs/{ca} }}")
    };
    let stages = format!(
        "  stages:\n    VCA: {}\n    VFULL: {}\n    REQCA: {}\n    VCAOTHER: {}\n",
        stage("verify-ca", "ca.pem"),
        stage("verify-full", "ca.pem"),
        stage("require", "other-ca.pem"),
        stage("verify-ca", "other-ca.pem"),
    );
    local.write_compose(&local.database_yaml(&common::postgres_image(), "\"5432\"", "", &stages));
    let config = Config::load(&local.compose_path(), None).unwrap();

    let client = Stage::resolve(&config, "VCA")
        .await
        .unwrap()
        .connect(true)
        .await
        .expect("verify-ca accepts a certificate for another host name signed by the CA");
    let encrypted: bool = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(encrypted);

    for (name, expected) in [
        ("VFULL", "certificate not valid for name"),
        ("REQCA", "UnknownIssuer"),
        ("VCAOTHER", "UnknownIssuer"),
    ] {
        let stage = Stage::resolve(&config, name).await.unwrap();
        let error = match stage.connect(true).await {
            Ok(_) => panic!("stage {name} must be refused"),
            Err(error) => error.to_string(),
        };
        assert!(error.contains(expected), "{name}: {error}");
        assert!(!error.contains("test-secret-pw"), "{error}");
    }
}
