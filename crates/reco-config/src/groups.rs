//! Option groups shared by several binaries. Each field is a flag bound to its environment
//! variable (`--flag` wins over `VAR`, which wins over the `.local/` files); binaries flatten
//! the groups they need into their own config and hand the values to the libraries.

use std::path::PathBuf;

use clap::Args;

use crate::tls::DbCa;
use crate::{ConfigError, required, var};

/// Which AWS endpoint, region and credentials the clients use.
#[derive(Debug, Clone, Default, Args)]
pub struct AwsArgs {
    /// Endpoint of the AWS emulator; unset against real AWS.
    #[arg(id = "aws_endpoint_url", long = "aws-endpoint-url", env = var::AWS_ENDPOINT_URL, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// AWS region of every client (default: the SDK's chain).
    #[arg(id = "aws_region", long = "aws-region", env = var::AWS_REGION, value_name = "REGION")]
    pub region: Option<String>,
    /// Static access key (the local stack's dummy keys); unset: the default credential chain.
    #[arg(id = "aws_access_key_id", long = "aws-access-key-id", env = var::AWS_ACCESS_KEY_ID, hide = true)]
    pub access_key_id: Option<String>,
    /// Static secret key paired with the access key.
    #[arg(id = "aws_secret_access_key", long = "aws-secret-access-key", env = var::AWS_SECRET_ACCESS_KEY, hide = true, hide_env_values = true)]
    pub secret_access_key: Option<String>,
    /// Session token paired with the static keys.
    #[arg(id = "aws_session_token", long = "aws-session-token", env = var::AWS_SESSION_TOKEN, hide = true, hide_env_values = true)]
    pub session_token: Option<String>,
}

impl AwsArgs {
    /// The static key pair and token, when both keys are set.
    pub fn static_keys(&self) -> Option<(&str, &str, Option<&str>)> {
        let key = self.access_key_id.as_deref().filter(|v| !v.is_empty())?;
        let secret = self
            .secret_access_key
            .as_deref()
            .filter(|v| !v.is_empty())?;
        let token = self.session_token.as_deref().filter(|v| !v.is_empty());
        Some((key, secret, token))
    }

    /// The emulator endpoint, when set.
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint_url.as_deref().filter(|v| !v.is_empty())
    }
}

/// PostgreSQL's default port, the RDS port when `RECO_PG_PORT` is unset.
pub const DEFAULT_PG_PORT: u16 = 5432;

/// Where the vector database is: a URL locally, or the RDS secret plus host on AWS.
#[derive(Debug, Clone, Default, Args)]
pub struct PgArgs {
    /// Vector database URL (`postgres://user:pass@host:port/db?sslmode=...`), local use.
    #[arg(id = "pg_url", long = "pg-url", env = var::RECO_PG_URL, value_name = "URL", hide_env_values = true)]
    pub url: Option<String>,
    /// With the URL: a secret (JSON username, password) whose credentials replace the URL's and
    /// are re-read when the database refuses them.
    #[arg(id = "pg_credentials_secret_arn", long = "pg-credentials-secret-arn", env = var::RECO_PG_CREDENTIALS_SECRET_ARN, value_name = "ARN")]
    pub credentials_secret_arn: Option<String>,
    /// RDS-managed secret (JSON username, password) of the vector database, on AWS.
    #[arg(id = "pg_secret_arn", long = "pg-secret-arn", env = var::RECO_PG_SECRET_ARN, value_name = "ARN")]
    pub secret_arn: Option<String>,
    /// Vector database host, with the secret.
    #[arg(id = "pg_host", long = "pg-host", env = var::RECO_PG_HOST, value_name = "HOST")]
    pub host: Option<String>,
    /// Vector database port, with the secret.
    #[arg(id = "pg_port", long = "pg-port", env = var::RECO_PG_PORT, value_name = "PORT", default_value_t = DEFAULT_PG_PORT)]
    pub port: u16,
    /// Vector database name, with the secret.
    #[arg(id = "pg_database", long = "pg-database", env = var::RECO_PG_DATABASE, value_name = "NAME")]
    pub database: Option<String>,
    /// PEM file of the CAs the server's certificate must chain to, with the secret (default:
    /// the built-in Amazon RDS CA bundle).
    #[arg(id = "pg_ca_file", long = "pg-ca-file", env = var::RECO_DB_CA_FILE, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
}

/// The vector database, resolved: a URL (with or without a credentials secret), or the RDS
/// secret with host, port and database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgTarget {
    /// A `postgres://` URL (local use); TLS as its query says.
    Url(String),
    /// A `postgres://` URL for host, port, database and TLS, with the user and password from a
    /// secret (JSON username, password) that is re-read when the database refuses them.
    UrlWithSecret {
        /// The URL.
        url: String,
        /// The credentials secret's ARN.
        arn: String,
    },
    /// RDS: credentials in Secrets Manager, always over TLS verified against `ca`
    /// (`verify-full`: the chain and the host name).
    Secret {
        /// The secret's ARN.
        arn: String,
        /// Host name.
        host: String,
        /// Port.
        port: u16,
        /// Database name.
        database: String,
        /// The certificate authorities the server's certificate must chain to.
        ca: DbCa,
    },
}

impl PgArgs {
    /// The URL if set (with the credentials secret when one is given), else the secret with
    /// host and database; an error names what is missing.
    pub fn target(&self) -> Result<PgTarget, ConfigError> {
        if let Some(url) = self.url.as_deref().filter(|v| !v.is_empty()) {
            return Ok(
                match self
                    .credentials_secret_arn
                    .as_deref()
                    .filter(|v| !v.is_empty())
                {
                    Some(arn) => PgTarget::UrlWithSecret {
                        url: url.to_owned(),
                        arn: arn.to_owned(),
                    },
                    None => PgTarget::Url(url.to_owned()),
                },
            );
        }
        Ok(PgTarget::Secret {
            arn: required(var::RECO_PG_SECRET_ARN, &self.secret_arn)
                .map_err(|_| missing_pg())?
                .to_owned(),
            host: required(var::RECO_PG_HOST, &self.host)?.to_owned(),
            port: self.port,
            database: required(var::RECO_PG_DATABASE, &self.database)?.to_owned(),
            ca: DbCa::from_file(self.ca_file.as_deref()),
        })
    }
}

fn missing_pg() -> ConfigError {
    ConfigError::Missing {
        name: var::RECO_PG_URL,
        hint: var::hint(var::RECO_PG_URL),
    }
}

/// Where the source MySQL database is: a URL locally, or the RDS secret on AWS.
#[derive(Debug, Clone, Default, Args)]
pub struct MysqlArgs {
    /// Source database URL (`mysql://user:pass@host:port/db`), local use.
    #[arg(id = "mysql_url", long = "mysql-url", env = var::RECO_MYSQL_URL, value_name = "URL", hide_env_values = true)]
    pub url: Option<String>,
    /// Secrets Manager secret (JSON host, port, username, password, dbname), on AWS.
    #[arg(id = "mysql_secret_arn", long = "mysql-secret-arn", env = var::RECO_MYSQL_SECRET_ARN, value_name = "ARN")]
    pub secret_arn: Option<String>,
    /// PEM file of the CAs the server's certificate must chain to, with the secret (default:
    /// the built-in Amazon RDS CA bundle).
    #[arg(id = "mysql_ca_file", long = "mysql-ca-file", env = var::RECO_DB_CA_FILE, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
}

/// The source database, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MysqlTarget {
    /// A `mysql://` URL (local use); TLS as its query says.
    Url(String),
    /// The secret (AWS), over TLS verified against `ca` (`VERIFY_IDENTITY`).
    Secret {
        /// The secret's ARN.
        arn: String,
        /// The certificate authorities the server's certificate must chain to.
        ca: DbCa,
    },
}

impl MysqlArgs {
    /// The URL if set, else the secret; an error says what to set.
    pub fn target(&self) -> Result<MysqlTarget, ConfigError> {
        if let Some(url) = self.url.as_deref().filter(|v| !v.is_empty()) {
            return Ok(MysqlTarget::Url(url.to_owned()));
        }
        match self.secret_arn.as_deref().filter(|v| !v.is_empty()) {
            Some(arn) => Ok(MysqlTarget::Secret {
                arn: arn.to_owned(),
                ca: DbCa::from_file(self.ca_file.as_deref()),
            }),
            None => Err(ConfigError::Missing {
                name: var::RECO_MYSQL_URL,
                hint: var::hint(var::RECO_MYSQL_URL),
            }),
        }
    }
}

/// Default key prefix of model versions (`RECO_MODEL_PREFIX`).
pub const DEFAULT_MODEL_PREFIX: &str = "models/";

/// Where model versions live: the artifacts bucket and the key prefix.
#[derive(Debug, Clone, Default, Args)]
pub struct ModelStoreArgs {
    /// S3 bucket of model artifacts and embeddings.
    #[arg(id = "artifacts_bucket", long = "artifacts-bucket", env = var::RECO_ARTIFACTS_BUCKET, value_name = "BUCKET")]
    pub artifacts_bucket: Option<String>,
    /// Key prefix of model versions inside the artifacts bucket.
    #[arg(id = "model_prefix", long = "model-prefix", env = var::RECO_MODEL_PREFIX, value_name = "PREFIX", default_value = DEFAULT_MODEL_PREFIX)]
    pub model_prefix: String,
}

impl ModelStoreArgs {
    /// The artifacts bucket, or an error saying how to get one.
    pub fn bucket(&self) -> Result<&str, ConfigError> {
        required(var::RECO_ARTIFACTS_BUCKET, &self.artifacts_bucket)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Probe {
        #[command(flatten)]
        pg: PgArgs,
        #[command(flatten)]
        mysql: MysqlArgs,
        #[command(flatten)]
        models: ModelStoreArgs,
    }

    #[test]
    fn flags_resolve_targets_and_missing_parts_are_named() {
        let probe = Probe::parse_from(["probe", "--pg-url", "postgres://u@h/db"]);
        assert_eq!(
            probe.pg.target().unwrap(),
            PgTarget::Url("postgres://u@h/db".into())
        );
        assert_eq!(probe.models.model_prefix, DEFAULT_MODEL_PREFIX);

        let probe = Probe::parse_from([
            "probe",
            "--pg-secret-arn",
            "arn:s",
            "--pg-host",
            "db",
            "--pg-database",
            "reco",
            "--mysql-secret-arn",
            "arn:m",
        ]);
        assert_eq!(
            probe.pg.target().unwrap(),
            PgTarget::Secret {
                arn: "arn:s".into(),
                host: "db".into(),
                port: DEFAULT_PG_PORT,
                database: "reco".into(),
                ca: DbCa::Rds,
            }
        );
        assert_eq!(
            probe.mysql.target().unwrap(),
            MysqlTarget::Secret {
                arn: "arn:m".into(),
                ca: DbCa::Rds
            }
        );

        // One CA file serves both connections; a URL with a credentials secret keeps both.
        let probe = Probe::parse_from([
            "probe",
            "--pg-url",
            "postgres://h/db",
            "--pg-credentials-secret-arn",
            "arn:c",
            "--mysql-secret-arn",
            "arn:m",
            "--mysql-ca-file",
            "/ca.pem",
        ]);
        assert_eq!(
            probe.pg.target().unwrap(),
            PgTarget::UrlWithSecret {
                url: "postgres://h/db".into(),
                arn: "arn:c".into()
            }
        );
        assert_eq!(
            probe.mysql.target().unwrap(),
            MysqlTarget::Secret {
                arn: "arn:m".into(),
                ca: DbCa::File("/ca.pem".into())
            }
        );

        let probe = Probe::parse_from(["probe", "--pg-secret-arn", "arn:s"]);
        let err = probe.pg.target().unwrap_err().to_string();
        assert!(err.contains("RECO_PG_HOST"), "{err}");
        let err = probe.models.bucket().unwrap_err().to_string();
        assert!(
            err.contains("RECO_ARTIFACTS_BUCKET") && err.contains("deploy"),
            "{err}"
        );
    }
}
