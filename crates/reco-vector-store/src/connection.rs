//! Where the vector database is: `RECO_PG_URL` locally, or on AWS the RDS-managed master
//! secret (`RECO_PG_SECRET_ARN`, JSON with `username` and `password` only) plus
//! `RECO_PG_HOST` / `RECO_PG_PORT` / `RECO_PG_DATABASE`, always over TLS.

use std::str::FromStr;

use reco_domain::Settings;
use reco_domain::settings::var;
use serde::Deserialize;
use sqlx::postgres::{PgConnectOptions, PgSslMode};

use crate::StoreError;

/// PostgreSQL's default port, used when `RECO_PG_PORT` is unset.
const DEFAULT_PG_PORT: u16 = 5432;

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

/// Connect options from the settings: `RECO_PG_URL` when set (local use), otherwise the
/// RDS secret fetched from Secrets Manager with `sdk_config`.
pub async fn connect_options(
    settings: &Settings,
    sdk_config: &aws_config::SdkConfig,
) -> Result<PgConnectOptions, StoreError> {
    if let Some(url) = settings.get(var::RECO_PG_URL) {
        return PgConnectOptions::from_str(url).map_err(|e| StoreError::Config {
            reason: format!("{} is not a PostgreSQL URL: {e}", var::RECO_PG_URL),
        });
    }
    let missing = |name: &str| StoreError::Config {
        reason: format!(
            "neither {} nor {name} is set (set the URL locally, or the secret ARN with \
             RECO_PG_HOST, RECO_PG_PORT and RECO_PG_DATABASE on AWS)",
            var::RECO_PG_URL
        ),
    };
    let secret_arn = settings
        .get(var::RECO_PG_SECRET_ARN)
        .ok_or_else(|| missing(var::RECO_PG_SECRET_ARN))?;
    let host = settings
        .get(var::RECO_PG_HOST)
        .ok_or_else(|| missing(var::RECO_PG_HOST))?;
    let database = settings
        .get(var::RECO_PG_DATABASE)
        .ok_or_else(|| missing(var::RECO_PG_DATABASE))?;
    let port = settings
        .parse_or(var::RECO_PG_PORT, DEFAULT_PG_PORT)
        .map_err(|e| StoreError::Config {
            reason: e.to_string(),
        })?;
    let client = aws_sdk_secretsmanager::Client::new(sdk_config);
    let output = client
        .get_secret_value()
        .secret_id(secret_arn)
        .send()
        .await
        .map_err(|e| StoreError::Config {
            reason: format!(
                "cannot read secret {secret_arn}: {}",
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

    #[test]
    fn malformed_secret_names_the_secret() {
        let err = PgSecret::parse("arn:aws:secretsmanager:x", r#"{"user":"a"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("arn:aws:secretsmanager:x"), "{err}");
    }
}
