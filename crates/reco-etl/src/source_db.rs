//! Connecting to the source MySQL database: `RECO_MYSQL_URL` (local use) or the Secrets
//! Manager secret `RECO_MYSQL_SECRET_ARN` (JSON `host`, `port`, `username`, `password`,
//! `dbname`, as RDS and the Terraform `etl` module write it).

use std::time::Duration;

use aws_config::SdkConfig;
use reco_domain::Settings;
use reco_domain::settings::var;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};

/// Connections the ETL keeps: one streams ratings, one serves side queries.
const POOL_CONNECTIONS: u32 = 2;
/// How long to wait for the database before reporting it unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default MySQL port when the secret omits it.
const DEFAULT_MYSQL_PORT: u16 = 3306;

/// Why the source database could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum SourceDbError {
    /// Neither variable is set.
    #[error("no source database configured: set {url} (local) or {secret} (AWS)", url = var::RECO_MYSQL_URL, secret = var::RECO_MYSQL_SECRET_ARN)]
    NotConfigured,
    /// `RECO_MYSQL_URL` does not parse.
    #[error("RECO_MYSQL_URL is not a valid mysql:// URL: {source}")]
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

/// Connection options of the source database from the settings (URL first, then secret).
pub async fn connect_options(
    settings: &Settings,
    sdk: Option<&SdkConfig>,
) -> Result<MySqlConnectOptions, SourceDbError> {
    if let Some(url) = settings.get(var::RECO_MYSQL_URL) {
        return url
            .parse::<MySqlConnectOptions>()
            .map_err(|source| SourceDbError::BadUrl { source });
    }
    let Some(arn) = settings.get(var::RECO_MYSQL_SECRET_ARN) else {
        return Err(SourceDbError::NotConfigured);
    };
    let secret_error = |reason: String| SourceDbError::Secret {
        arn: arn.to_owned(),
        reason,
    };
    let sdk = match sdk {
        Some(sdk) => sdk.clone(),
        None => reco_aws::sdk_config(settings).await,
    };
    let client = aws_sdk_secretsmanager::Client::new(&sdk);
    let value = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| {
            secret_error(format!(
                "{}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(e)
            ))
        })?;
    let text = value
        .secret_string()
        .ok_or_else(|| secret_error("secret has no SecretString".into()))?;
    let secret: MySqlSecret = serde_json::from_str(text).map_err(|e| {
        secret_error(format!(
            "expected JSON host, port, username, password, dbname: {e}"
        ))
    })?;
    let port = match secret.port {
        None => DEFAULT_MYSQL_PORT,
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| secret_error(format!("invalid port {n}")))?,
        Some(serde_json::Value::String(s)) => s
            .parse()
            .map_err(|_| secret_error(format!("invalid port {s:?}")))?,
        Some(other) => return Err(secret_error(format!("invalid port {other}"))),
    };
    let mut options = MySqlConnectOptions::new()
        .host(&secret.host)
        .port(port)
        .username(&secret.username)
        .password(&secret.password);
    if let Some(db) = secret.dbname.as_deref() {
        options = options.database(db);
    }
    Ok(options)
}

/// A small pool on the source database; fails fast when it is unreachable.
pub async fn connect(options: MySqlConnectOptions) -> Result<MySqlPool, SourceDbError> {
    let target = format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("")
    );
    MySqlPoolOptions::new()
        .max_connections(POOL_CONNECTIONS)
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(|source| SourceDbError::Unreachable { target, source })
}
