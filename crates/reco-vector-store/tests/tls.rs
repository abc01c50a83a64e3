//! Verified TLS against the local servers (`make local-up` gives them a certificate for
//! 127.0.0.1 and localhost signed by a CA of the checkout): options built from a secret with
//! `verify-full` connect with the local CA and are refused with another CA (the Amazon RDS
//! bundle, which did not sign the local certificate); the URLs `.local/env` holds verify too,
//! PostgreSQL's and MySQL's.
#![cfg(feature = "integration")]

use std::str::FromStr;

use reco_config::tls::DbCa;
use reco_testkit::LocalStack;
use reco_vector_store::{PgSecret, StoreError, StoreOptions, VectorStore};
use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use sqlx::{ConnectOptions, Connection, MySqlConnection, PgConnection};

fn local_ca(stack: &LocalStack) -> DbCa {
    DbCa::File(stack.setting("RECO_DB_CA_FILE").into())
}

/// The options a secret gives for the local server at `host`, verified against `ca`.
fn from_secret(stack: &LocalStack, host: &str, ca: &DbCa) -> PgConnectOptions {
    let url = PgConnectOptions::from_str(stack.setting("RECO_PG_URL")).unwrap();
    let secret = PgSecret {
        username: url.get_username().to_owned(),
        // The local stack's superuser password (scripts/local-up.sh).
        password: "reco".to_owned(),
    };
    let database = url.get_database().unwrap_or("reco").to_owned();
    reco_vector_store::connect_options_from_secret(&secret, host, url.get_port(), &database, ca)
        .unwrap()
}

async fn is_tls(conn: &mut PgConnection) -> bool {
    sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn verify_full_connects_with_the_local_ca_and_refuses_another() {
    let stack = LocalStack::get();
    for host in ["127.0.0.1", "localhost"] {
        let options = from_secret(stack, host, &local_ca(stack));
        assert!(matches!(options.get_ssl_mode(), PgSslMode::VerifyFull));
        let mut conn = PgConnection::connect_with(&options)
            .await
            .unwrap_or_else(|e| panic!("verify-full to {host} with the local CA: {e}"));
        assert!(is_tls(&mut conn).await, "{host}: not TLS");
    }

    // The RDS bundle did not sign the local certificate: the store refuses to connect, and
    // says that the certificate is the problem (retried like an outage by the transform).
    let mut options = StoreOptions::for_lambda();
    options.acquire_timeout = std::time::Duration::from_secs(5);
    let err = VectorStore::connect_with(from_secret(stack, "127.0.0.1", &DbCa::Rds), options)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Certificate { .. }) && err.is_retryable(),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("TLS certificate was not accepted") && message.contains("UnknownIssuer"),
        "{message}"
    );
}

#[tokio::test]
async fn the_local_urls_verify_the_servers() {
    let stack = LocalStack::get();
    let ca = stack.setting("RECO_DB_CA_FILE");

    let pg = PgConnectOptions::from_str(stack.setting("RECO_PG_URL")).unwrap();
    assert!(matches!(pg.get_ssl_mode(), PgSslMode::VerifyFull));
    let mut conn = PgConnection::connect_with(&pg).await.unwrap();
    assert!(is_tls(&mut conn).await);
    let wrong = pg.clone().ssl_root_cert_from_pem(DbCa::Rds.pem().unwrap());
    let err = PgConnection::connect_with(&wrong).await.unwrap_err();
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");

    let mysql = MySqlConnectOptions::from_str(stack.setting("RECO_MYSQL_URL")).unwrap();
    assert!(matches!(mysql.get_ssl_mode(), MySqlSslMode::VerifyIdentity));
    let url = mysql.to_url_lossy();
    assert!(
        url.query_pairs()
            .any(|(k, v)| k == "ssl-ca" && v.ends_with(ca)),
        "{url}"
    );
    let mut conn = MySqlConnection::connect_with(&mysql).await.unwrap();
    let (_, cipher): (String, String) = sqlx::query_as("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(!cipher.is_empty(), "the MySQL session is not TLS");
    let wrong = mysql.clone().ssl_ca_from_pem(DbCa::Rds.pem().unwrap());
    let err = MySqlConnection::connect_with(&wrong).await.unwrap_err();
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
}
