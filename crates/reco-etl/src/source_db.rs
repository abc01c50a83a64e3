//! Connecting to the source MySQL database, as [`MysqlTarget`] names it: a URL
//! (`RECO_MYSQL_URL`, local use; TLS as its query says, `make local-up` writes
//! `ssl-mode=VERIFY_IDENTITY`) or the Secrets Manager secret `RECO_MYSQL_SECRET_ARN` (JSON
//! `host`, `port`, `username`, `password`, `dbname`, as RDS and the Terraform `etl` module
//! write it), read with the caller's AWS configuration. A connection from the secret is always
//! TLS with `VERIFY_IDENTITY` against the Amazon RDS CA bundle (or `RECO_DB_CA_FILE`): the
//! server's certificate must chain to it and name the host.

use std::time::Duration;

use aws_config::SdkConfig;
use reco_config::groups::MysqlTarget;
use reco_config::var;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions, MySqlSslMode};

/// Connections the ETL keeps: one streams ratings, one serves side queries.
const POOL_CONNECTIONS: u32 = 2;
/// How long to wait for the database before reporting it unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default MySQL port when the secret omits it.
const DEFAULT_MYSQL_PORT: u16 = 3306;

/// Why the source database could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum SourceDbError {
    /// The URL does not parse.
    #[error("{name} is not a valid mysql:// URL: {source}", name = var::RECO_MYSQL_URL)]
    BadUrl {
        /// Parser error.
        source: sqlx::Error,
    },
    /// The secret could not be read.
    #[error("cannot read secret {arn}: {reason}")]
    Secret {
        /// The secret's ARN.
        arn: String,
        /// What went wrong.
        reason: String,
    },
    /// The server's TLS certificate was not accepted (not signed by the trusted CA, or not
    /// naming the host).
    #[error(
        "the source database {target} presented a TLS certificate that was not accepted: \
         {source} (it must chain to the trusted CA, the built-in Amazon RDS bundle or \
         RECO_DB_CA_FILE / the URL's ssl-ca, and name the host)"
    )]
    Certificate {
        /// Host, port and database (no password).
        target: String,
        /// Driver error.
        source: sqlx::Error,
    },
    /// The database did not accept a connection.
    #[error("cannot connect to the source database {target}: {source}")]
    Unreachable {
        /// Host, port and database (no password).
        target: String,
        /// Driver error.
        source: sqlx::Error,
    },
}

#[derive(serde::Deserialize)]
struct MySqlSecret {
    host: String,
    port: Option<serde_json::Value>,
    username: String,
    password: String,
    dbname: Option<String>,
}

/// Connection options of the source database `target`; a secret is read from Secrets
/// Manager through `sdk`.
pub async fn connect_options(
    target: &MysqlTarget,
    sdk: &SdkConfig,
) -> Result<MySqlConnectOptions, SourceDbError> {
    let (arn, ca) = match target {
        MysqlTarget::Url(url) => {
            return url
                .parse::<MySqlConnectOptions>()
                .map_err(|source| SourceDbError::BadUrl { source });
        }
        MysqlTarget::Secret { arn, ca } => (arn, ca),
    };
    let secret_error = |reason: String| SourceDbError::Secret {
        arn: arn.to_owned(),
        reason,
    };
    // The CA first: a bad CA file is reported before any call to Secrets Manager.
    let pem = ca.pem().map_err(|e| secret_error(e.to_string()))?;
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let value = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| {
            tracing::debug!(error = ?e, "GetSecretValue failed");
            secret_error(
                aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                    .to_string()
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })?;
    let text = value
        .secret_string()
        .ok_or_else(|| secret_error("secret has no SecretString".into()))?;
    options_from_secret(text, pem).map_err(secret_error)
}

/// Connection options from the secret's JSON text, over TLS verified against the
/// certificate authorities `ca_pem` (`VERIFY_IDENTITY`: the chain and the host name); the
/// error says what is wrong with the secret.
fn options_from_secret(text: &str, ca_pem: Vec<u8>) -> Result<MySqlConnectOptions, String> {
    let secret: MySqlSecret = serde_json::from_str(text)
        .map_err(|e| format!("expected JSON host, port, username, password, dbname: {e}"))?;
    let port = match secret.port {
        None => DEFAULT_MYSQL_PORT,
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| format!("invalid port {n}"))?,
        Some(serde_json::Value::String(s)) => {
            s.parse().map_err(|_| format!("invalid port {s:?}"))?
        }
        Some(other) => return Err(format!("invalid port {other}")),
    };
    let mut options = MySqlConnectOptions::new()
        .host(&secret.host)
        .port(port)
        .username(&secret.username)
        .password(&secret.password)
        .ssl_mode(MySqlSslMode::VerifyIdentity)
        .ssl_ca_from_pem(ca_pem);
    if let Some(db) = secret.dbname.as_deref() {
        options = options.database(db);
    }
    Ok(options)
}

/// A small pool on the source database; fails when it is unreachable for [`CONNECT_TIMEOUT`].
pub async fn connect(options: MySqlConnectOptions) -> Result<MySqlPool, SourceDbError> {
    connect_within(options, CONNECT_TIMEOUT).await
}

async fn connect_within(
    options: MySqlConnectOptions,
    timeout: Duration,
) -> Result<MySqlPool, SourceDbError> {
    let target = format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("")
    );
    MySqlPoolOptions::new()
        .max_connections(POOL_CONNECTIONS)
        .acquire_timeout(timeout)
        .connect_with(options)
        .await
        .map_err(|source| {
            // rustls reports its verdict on the server's certificate through the socket.
            let certificate = matches!(&source, sqlx::Error::Tls(_))
                || matches!(&source, sqlx::Error::Io(e) if e.to_string().contains("invalid peer certificate"));
            if certificate {
                SourceDbError::Certificate { target, source }
            } else {
                SourceDbError::Unreachable { target, source }
            }
        })
}

#[cfg(test)]
mod tests {
    use reco_config::tls::DbCa;
    use sqlx::ConnectOptions;

    use super::*;

    fn rds() -> Vec<u8> {
        DbCa::Rds.pem().unwrap()
    }

    #[test]
    fn secret_gives_host_port_user_and_database() {
        let options = options_from_secret(
            r#"{"host":"db.example","port":"3307","username":"etl","password":"p","dbname":"src"}"#,
            rds(),
        )
        .unwrap();
        assert_eq!(
            (
                options.get_host(),
                options.get_port(),
                options.get_username(),
                options.get_database()
            ),
            ("db.example", 3307, "etl", Some("src"))
        );
        let options = options_from_secret(
            r#"{"host":"h","port":3308,"username":"u","password":"p"}"#,
            rds(),
        )
        .unwrap();
        assert_eq!((options.get_port(), options.get_database()), (3308, None));
        let options =
            options_from_secret(r#"{"host":"h","username":"u","password":"p"}"#, rds()).unwrap();
        assert_eq!(options.get_port(), DEFAULT_MYSQL_PORT);
    }

    #[test]
    fn secret_connections_verify_the_server_against_the_rds_bundle() {
        let options =
            options_from_secret(r#"{"host":"h","username":"u","password":"p"}"#, rds()).unwrap();
        assert!(matches!(
            options.get_ssl_mode(),
            MySqlSslMode::VerifyIdentity
        ));
        let url = options.to_url_lossy();
        let ca = url
            .query_pairs()
            .find(|(k, _)| k == "ssl-ca")
            .map(|(_, v)| v.into_owned())
            .expect("no CA set");
        assert_eq!(ca.as_bytes(), reco_config::tls::RDS_CA_BUNDLE);
    }

    #[tokio::test]
    async fn an_unreadable_ca_file_is_named_before_any_connection() {
        // No region nor endpoint: reaching Secrets Manager would fail with another message.
        let sdk = SdkConfig::builder().build();
        let target = MysqlTarget::Secret {
            arn: "arn:m".into(),
            ca: DbCa::File("/nonexistent/ca.pem".into()),
        };
        let err = connect_options(&target, &sdk)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("arn:m") && err.contains("RECO_DB_CA_FILE") && err.contains("cannot read"),
            "{err}"
        );
    }

    #[test]
    fn bad_secrets_say_what_is_wrong() {
        let err = options_from_secret(
            r#"{"host":"h","port":70000,"username":"u","password":"p"}"#,
            rds(),
        )
        .unwrap_err();
        assert_eq!(err, "invalid port 70000");
        let err = options_from_secret(r#"{"host":"h"}"#, rds()).unwrap_err();
        assert!(err.starts_with("expected JSON host, port"), "{err}");
    }

    #[tokio::test]
    async fn a_bad_url_names_the_variable() {
        let sdk = SdkConfig::builder().build();
        let err = connect_options(&MysqlTarget::Url("mysql://u@h:port/db".into()), &sdk)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("RECO_MYSQL_URL is not a valid mysql:// URL"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn unreachable_database_is_a_clear_error() {
        let options = "mysql://reco:reco@127.0.0.1:1/nope".parse().unwrap();
        let err = connect_within(options, Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("cannot connect to the source database 127.0.0.1:1/nope"),
            "{err}"
        );
    }
}

#[cfg(test)]
#[path = "source_db_tls_tests.rs"]
mod tls_tests;
