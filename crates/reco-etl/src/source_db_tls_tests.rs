#![cfg(feature = "integration")]
//! The source connection from a secret against the local MariaDB (`make local-up` gives it a
//! certificate for 127.0.0.1 signed by the checkout's CA): `VERIFY_IDENTITY` connects with the
//! local CA and is refused with the built-in RDS bundle, which did not sign it.

use std::str::FromStr;

use reco_config::groups::MysqlTarget;
use reco_config::tls::DbCa;
use reco_testkit::{LocalStack, unique_name};
use sqlx::mysql::MySqlConnectOptions;

use super::{SourceDbError, connect, connect_options};

#[tokio::test]
async fn a_secret_connection_verifies_the_server_against_its_ca() {
    let stack = LocalStack::get();
    let sdk = stack.sdk_config().await;
    let url = MySqlConnectOptions::from_str(stack.setting("RECO_MYSQL_URL")).unwrap();
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let secret = serde_json::json!({
        "host": url.get_host(),
        "port": url.get_port(),
        "username": "reco",
        // The local stack's user (scripts/local-up.sh).
        "password": "reco",
        "dbname": "reco",
    });
    let arn = secrets
        .create_secret()
        .name(unique_name("reco-t-source-", '-'))
        .secret_string(secret.to_string())
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let target = |ca: DbCa| MysqlTarget::Secret {
        arn: arn.clone(),
        ca,
    };

    let local = DbCa::File(stack.setting("RECO_DB_CA_FILE").into());
    let verified = match connect_options(&target(local), &sdk).await {
        Ok(options) => connect(options).await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let refused = match connect_options(&target(DbCa::Rds), &sdk).await {
        Ok(options) => connect(options).await.err(),
        Err(e) => panic!("{e}"),
    };
    secrets
        .delete_secret()
        .secret_id(&arn)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();

    let pool = verified.unwrap();
    let (_, cipher): (String, String) = sqlx::query_as("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!cipher.is_empty(), "the source connection is not TLS");
    match refused {
        Some(e @ SourceDbError::Certificate { .. }) => {
            let message = e.to_string();
            assert!(
                message.contains("TLS certificate that was not accepted")
                    && message.contains("UnknownIssuer")
                    && message.contains("RECO_DB_CA_FILE"),
                "{message}"
            );
        }
        other => panic!("the RDS bundle must not verify the local server: {other:?}"),
    }
}
