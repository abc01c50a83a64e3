//! Where the role secrets are: flags bound to their environment variables, flattened into
//! `reco db migrate` and the pipeline Lambda's configuration.

use clap::Args;

use crate::{MigrateError, RoleNames};

/// Secret (JSON username, password) of the PostgreSQL role `reco_reader`.
pub const RECO_PG_READER_SECRET_ARN: &str = "RECO_PG_READER_SECRET_ARN";
/// Secret (JSON username, password) of the PostgreSQL role `reco_loader`.
pub const RECO_PG_LOADER_SECRET_ARN: &str = "RECO_PG_LOADER_SECRET_ARN";
/// Secret (JSON host, port, username, password, dbname) of the MySQL user `reco_etl`.
pub const RECO_MYSQL_ETL_SECRET_ARN: &str = "RECO_MYSQL_ETL_SECRET_ARN";
/// Prefix of the role names (empty in production; tests use their own).
pub const RECO_DB_ROLE_PREFIX: &str = "RECO_DB_ROLE_PREFIX";

/// The role secrets the migration writes; a database whose secrets are unset is left alone.
#[derive(Debug, Clone, Default, Args)]
pub struct RoleSecretArgs {
    /// Secret of the PostgreSQL role reco_reader (the transform Lambda's credentials).
    #[arg(long = "pg-reader-secret-arn", env = RECO_PG_READER_SECRET_ARN, value_name = "ARN")]
    pub pg_reader_secret_arn: Option<String>,
    /// Secret of the PostgreSQL role reco_loader (load-embeddings' credentials).
    #[arg(long = "pg-loader-secret-arn", env = RECO_PG_LOADER_SECRET_ARN, value_name = "ARN")]
    pub pg_loader_secret_arn: Option<String>,
    /// Secret of the MySQL user reco_etl (the ETL's credentials).
    #[arg(long = "mysql-etl-secret-arn", env = RECO_MYSQL_ETL_SECRET_ARN, value_name = "ARN")]
    pub mysql_etl_secret_arn: Option<String>,
    /// Prefix of the role names (tests give each run its own roles).
    #[arg(long = "role-prefix", env = RECO_DB_ROLE_PREFIX, value_name = "PREFIX", default_value = "")]
    pub role_prefix: String,
}

/// Which databases the migration touches, with their secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSecretIds {
    /// reco_reader's and reco_loader's secrets, when PostgreSQL is migrated.
    pub postgres: Option<(String, String)>,
    /// reco_etl's secret, when MySQL is migrated.
    pub mysql: Option<String>,
}

fn set(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

impl RoleSecretArgs {
    /// The role names (checked prefix).
    pub fn names(&self) -> Result<RoleNames, MigrateError> {
        RoleNames::new(&self.role_prefix)
    }

    /// The secrets to write: PostgreSQL needs both of its secrets, MySQL its one; at least
    /// one database must be configured. Errors name the variables.
    pub fn ids(&self) -> Result<RoleSecretIds, MigrateError> {
        let postgres = match (
            set(&self.pg_reader_secret_arn),
            set(&self.pg_loader_secret_arn),
        ) {
            (Some(r), Some(l)) => Some((r.to_owned(), l.to_owned())),
            (None, None) => None,
            _ => {
                return Err(MigrateError::Config {
                    reason: format!(
                        "set both {RECO_PG_READER_SECRET_ARN} and {RECO_PG_LOADER_SECRET_ARN} (the PostgreSQL roles are migrated together)"
                    ),
                });
            }
        };
        let mysql = set(&self.mysql_etl_secret_arn).map(str::to_owned);
        if postgres.is_none() && mysql.is_none() {
            return Err(MigrateError::Config {
                reason: format!(
                    "no role secret is configured: set {RECO_PG_READER_SECRET_ARN} and {RECO_PG_LOADER_SECRET_ARN} (PostgreSQL) and/or {RECO_MYSQL_ETL_SECRET_ARN} (MySQL); `make deploy-*` writes them to .local/outputs-<env>.env"
                ),
            });
        }
        Ok(RoleSecretIds { postgres, mysql })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Probe {
        #[command(flatten)]
        roles: RoleSecretArgs,
    }

    #[test]
    fn each_database_is_migrated_only_with_its_secrets() {
        let probe = Probe::parse_from(["p", "--mysql-etl-secret-arn", "arn:e"]);
        assert_eq!(
            probe.roles.ids().unwrap(),
            RoleSecretIds {
                postgres: None,
                mysql: Some("arn:e".into())
            }
        );
        let probe = Probe::parse_from(["p", "--pg-reader-secret-arn", "arn:r"]);
        let err = probe.roles.ids().unwrap_err().to_string();
        assert!(err.contains(RECO_PG_LOADER_SECRET_ARN), "{err}");
        let probe = Probe::parse_from(["p"]);
        let err = probe.roles.ids().unwrap_err().to_string();
        assert!(err.contains("no role secret"), "{err}");
        let probe = Probe::parse_from(["p", "--role-prefix", "Bad"]);
        assert!(probe.roles.names().is_err());
    }
}
