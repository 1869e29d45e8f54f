//! Stages over TLS as users write them: `sslmode` in the stage or the URL (libpq style), with a
//! real Postgres serving TLS (the image's self-signed "snakeoil" certificate).

mod common;

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

    let code = Stage::resolve(&config, "CODE").unwrap();
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

    let plain = Stage::resolve(&config, "PLAIN").unwrap();
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

    let strict = Stage::resolve(&config, "STRICT").unwrap();
    let error = match strict.connect(true).await {
        Ok(_) => panic!("an unknown issuer must be refused"),
        Err(error) => error.to_string(),
    };
    assert!(
        error.contains("certificate") || error.contains("Certificate"),
        "{error}"
    );
    assert!(!error.contains("test-secret-pw"), "{error}");

    let libpq = Stage::resolve(&config, "LIBPQ").unwrap();
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
