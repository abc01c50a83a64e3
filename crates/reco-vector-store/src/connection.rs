//! Where the vector database is, as the binary's configuration resolved it ([`PgTarget`]): a
//! URL locally, or on AWS the RDS-managed master secret (JSON with `username` and `password`
//! only) plus host, port and database, always over TLS.

use std::str::FromStr;

use reco_config::groups::PgTarget;
use reco_config::var;
use serde::Deserialize;
use sqlx::postgres::{PgConnectOptions, PgSslMode};

use crate::StoreError;

/// The fields reco reads from an RDS-managed master-user secret.
#[derive(Debug, Clone, Deserialize)]
pub struct PgSecret {
    /// The database user.
    pub username: String,
    /// Its password.
    pub password: String,
}

impl PgSecret {
    /// Parses the secret's JSON string, naming the secret when it is malformed.
    pub fn parse(secret_id: &str, json: &str) -> Result<Self, StoreError> {
        serde_json::from_str(json).map_err(|e| StoreError::Config {
            reason: format!(
                "secret {secret_id} is not JSON with string fields username and password: {e}"
            ),
        })
    }
}

/// Connect options for an RDS database from its secret, host, port and database name.
/// TLS is required: the connection fails rather than fall back to plain text.
pub fn connect_options_from_secret(
    secret: &PgSecret,
    host: &str,
    port: u16,
    database: &str,
) -> PgConnectOptions {
    PgConnectOptions::new()
        .host(host)
        .port(port)
        .database(database)
        .username(&secret.username)
        .password(&secret.password)
        .ssl_mode(PgSslMode::Require)
}

/// Connect options for `target`: the URL as given (local use), or the RDS secret fetched from
/// Secrets Manager with `sdk_config` and TLS required.
pub async fn connect_options(
    target: &PgTarget,
    sdk_config: &aws_config::SdkConfig,
) -> Result<PgConnectOptions, StoreError> {
    let (secret_arn, host, port, database) = match target {
        PgTarget::Url(url) => {
            return PgConnectOptions::from_str(url).map_err(|e| StoreError::Config {
                reason: format!("{} is not a PostgreSQL URL: {e}", var::RECO_PG_URL),
            });
        }
        PgTarget::Secret {
            arn,
            host,
            port,
            database,
        } => (arn, host, *port, database),
    };
    let client = aws_sdk_secretsmanager::Client::new(sdk_config);
    let output = client
        .get_secret_value()
        .secret_id(secret_arn)
        .send()
        .await
        .map_err(|e| StoreError::Config {
            reason: format!(
                "cannot read secret {secret_arn} ({}): {}",
                var::RECO_PG_SECRET_ARN,
                aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
            ),
        })?;
    let json = output.secret_string().ok_or_else(|| StoreError::Config {
        reason: format!("secret {secret_arn} has no SecretString"),
    })?;
    let secret = PgSecret::parse(secret_arn, json)?;
    Ok(connect_options_from_secret(&secret, host, port, database))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rds_secret_builds_tls_required_options() {
        let secret = PgSecret::parse(
            "arn:test",
            r#"{"username":"reco_admin","password":"p@ss word"}"#,
        )
        .unwrap();
        let options = connect_options_from_secret(&secret, "db.example", 5433, "reco");
        assert_eq!(options.get_host(), "db.example");
        assert_eq!(options.get_port(), 5433);
        assert_eq!(options.get_username(), "reco_admin");
        assert_eq!(options.get_database(), Some("reco"));
        assert!(matches!(options.get_ssl_mode(), PgSslMode::Require));
    }

    #[tokio::test]
    async fn a_url_target_is_used_as_given_and_a_bad_one_is_named() {
        let sdk = aws_config::SdkConfig::builder().build();
        let options = connect_options(
            &PgTarget::Url("postgres://reco:pw@127.0.0.1:15432/reco".into()),
            &sdk,
        )
        .await
        .unwrap();
        assert_eq!(
            (options.get_host(), options.get_port()),
            ("127.0.0.1", 15432)
        );
        assert_eq!(options.get_database(), Some("reco"));
        let err = connect_options(&PgTarget::Url("not a url".into()), &sdk)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("RECO_PG_URL"), "{err}");
    }

    #[test]
    fn malformed_secret_names_the_secret() {
        let err = PgSecret::parse("arn:aws:secretsmanager:x", r#"{"user":"a"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("arn:aws:secretsmanager:x"), "{err}");
    }
}
