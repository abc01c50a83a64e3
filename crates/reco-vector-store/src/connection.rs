//! Where the vector database is, as the binary's configuration resolved it ([`PgTarget`]): a
//! URL locally (TLS as its query says; `make local-up` writes `sslmode=verify-full`), a URL
//! whose credentials come from a secret, or on AWS the RDS-managed secret (JSON with
//! `username` and `password`) plus host, port and database, always over TLS verified against
//! the Amazon RDS CA bundle (or `RECO_DB_CA_FILE`): `verify-full` checks the chain and that the
//! certificate names the host.

use std::str::FromStr;

use reco_config::groups::PgTarget;
use reco_config::tls::DbCa;
use reco_config::var;
use serde::Deserialize;
use sqlx::postgres::{PgConnectOptions, PgSslMode};

use crate::StoreError;

/// The fields reco reads from an RDS-managed master-user secret (or a role's own secret).
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct PgSecret {
    /// The database user.
    pub username: String,
    /// Its password.
    pub password: String,
}

impl std::fmt::Debug for PgSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSecret")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
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

    /// `options` with this user and password.
    pub(crate) fn apply(&self, options: PgConnectOptions) -> PgConnectOptions {
        options.username(&self.username).password(&self.password)
    }
}

/// Connect options for an RDS database from its secret, host, port and database name, over
/// TLS verified against `ca` (`verify-full`: the chain and the host name). A server whose
/// certificate does not chain to `ca` or names another host is refused.
pub fn connect_options_from_secret(
    secret: &PgSecret,
    host: &str,
    port: u16,
    database: &str,
    ca: &DbCa,
) -> Result<PgConnectOptions, StoreError> {
    let pem = ca.pem().map_err(|e| StoreError::Config {
        reason: e.to_string(),
    })?;
    Ok(secret.apply(
        PgConnectOptions::new_without_pgpass()
            .host(host)
            .port(port)
            .database(database)
            .ssl_mode(PgSslMode::VerifyFull)
            .ssl_root_cert_from_pem(pem),
    ))
}

/// Where a store's credentials come from, kept so they can be re-read.
#[derive(Debug, Clone)]
pub(crate) struct SecretSource {
    /// The secret's ARN.
    pub(crate) arn: String,
    /// The variable that named it (for messages).
    pub(crate) variable: &'static str,
    client: aws_sdk_secretsmanager::Client,
}

impl SecretSource {
    fn new(arn: &str, variable: &'static str, sdk_config: &aws_config::SdkConfig) -> Self {
        Self {
            arn: arn.to_owned(),
            variable,
            client: aws_sdk_secretsmanager::Client::new(sdk_config),
        }
    }

    /// The secret's current value; an error names the secret and the variable.
    pub(crate) async fn read(&self) -> Result<PgSecret, StoreError> {
        let arn = &self.arn;
        let output = self
            .client
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .map_err(|e| StoreError::Config {
                reason: format!(
                    "cannot read secret {arn} ({}): {}",
                    self.variable,
                    aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
                ),
            })?;
        let json = output.secret_string().ok_or_else(|| StoreError::Config {
            reason: format!("secret {arn} has no SecretString"),
        })?;
        PgSecret::parse(arn, json)
    }
}

/// Connect options for `target` plus, when its credentials come from a secret, that secret's
/// source and the value read.
pub(crate) async fn resolve(
    target: &PgTarget,
    sdk_config: &aws_config::SdkConfig,
) -> Result<(PgConnectOptions, Option<(SecretSource, PgSecret)>), StoreError> {
    match target {
        PgTarget::Url(url) => Ok((parse_url(url)?, None)),
        PgTarget::UrlWithSecret { url, arn } => {
            let base = parse_url(url)?;
            let source = SecretSource::new(arn, var::RECO_PG_CREDENTIALS_SECRET_ARN, sdk_config);
            let secret = source.read().await?;
            Ok((secret.apply(base), Some((source, secret))))
        }
        PgTarget::Secret {
            arn,
            host,
            port,
            database,
            ca,
        } => {
            let source = SecretSource::new(arn, var::RECO_PG_SECRET_ARN, sdk_config);
            let secret = source.read().await?;
            let options = connect_options_from_secret(&secret, host, *port, database, ca)?;
            Ok((options, Some((source, secret))))
        }
    }
}

fn parse_url(url: &str) -> Result<PgConnectOptions, StoreError> {
    PgConnectOptions::from_str(url).map_err(|e| StoreError::Config {
        reason: format!("{} is not a PostgreSQL URL: {e}", var::RECO_PG_URL),
    })
}

/// Connect options for `target`: the URL as given (local use; with a credentials secret, its
/// user and password replaced by the secret's), or the RDS secret fetched from Secrets Manager
/// with `sdk_config` and TLS verified against the target's CA.
pub async fn connect_options(
    target: &PgTarget,
    sdk_config: &aws_config::SdkConfig,
) -> Result<PgConnectOptions, StoreError> {
    Ok(resolve(target, sdk_config).await?.0)
}

#[cfg(test)]
mod tests {
    use sqlx::ConnectOptions;

    use super::*;

    fn query_param(options: &PgConnectOptions, name: &str) -> Option<String> {
        options
            .to_url_lossy()
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    #[test]
    fn rds_secret_builds_verify_full_options_rooted_in_the_rds_bundle() {
        let secret = PgSecret::parse(
            "arn:test",
            r#"{"username":"reco_reader","password":"p@ss word"}"#,
        )
        .unwrap();
        let options =
            connect_options_from_secret(&secret, "db.example", 5433, "reco", &DbCa::Rds).unwrap();
        assert_eq!(options.get_host(), "db.example");
        assert_eq!(options.get_port(), 5433);
        assert_eq!(options.get_username(), "reco_reader");
        assert_eq!(options.get_database(), Some("reco"));
        assert!(matches!(options.get_ssl_mode(), PgSslMode::VerifyFull));
        let root = query_param(&options, "sslrootcert").expect("no root certificate set");
        assert_eq!(
            root.as_bytes(),
            reco_config::tls::RDS_CA_BUNDLE,
            "the root is not the RDS bundle"
        );
    }

    #[test]
    fn a_ca_file_replaces_the_bundle_and_a_missing_one_is_named() {
        let secret = PgSecret::parse("a", r#"{"username":"u","password":"p"}"#).unwrap();
        let dir = std::env::temp_dir().join(format!("reco-vs-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("ca.pem");
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        std::fs::write(&file, pem).unwrap();
        let options =
            connect_options_from_secret(&secret, "h", 1, "d", &DbCa::File(file.clone())).unwrap();
        assert!(matches!(options.get_ssl_mode(), PgSslMode::VerifyFull));
        assert_eq!(query_param(&options, "sslrootcert").as_deref(), Some(pem));
        std::fs::remove_dir_all(&dir).unwrap();
        let err = connect_options_from_secret(&secret, "h", 1, "d", &DbCa::File(file))
            .unwrap_err()
            .to_string();
        assert!(err.contains("RECO_DB_CA_FILE"), "{err}");
    }

    #[test]
    fn a_secret_never_shows_its_password_in_debug_output() {
        let secret = PgSecret::parse("a", r#"{"username":"u","password":"hunter2"}"#).unwrap();
        let shown = format!("{secret:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("redacted"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn a_url_target_is_used_as_given_and_a_bad_one_is_named() {
        let sdk = aws_config::SdkConfig::builder().build();
        let options = connect_options(
            &PgTarget::Url(
                "postgres://reco:pw@127.0.0.1:15432/reco?sslmode=verify-full&sslrootcert=%2Fca.pem"
                    .into(),
            ),
            &sdk,
        )
        .await
        .unwrap();
        assert_eq!(
            (options.get_host(), options.get_port()),
            ("127.0.0.1", 15432)
        );
        assert_eq!(options.get_database(), Some("reco"));
        assert!(matches!(options.get_ssl_mode(), PgSslMode::VerifyFull));
        assert_eq!(
            query_param(&options, "sslrootcert").as_deref(),
            Some("file: /ca.pem")
        );
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
