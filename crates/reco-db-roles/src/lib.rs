//! reco's least-privilege database roles, created and kept by the project's own migration
//! (`reco db migrate`, and the pipeline Lambda's `migrate` step on AWS), connected as the
//! master user:
//!
//! | role | database | may | used by |
//! |---|---|---|---|
//! | `reco_reader` | PostgreSQL | CONNECT; USAGE on the schema; SELECT on the embedding views, the versioned tables and `reco_embedding_versions` (also those the loader creates later) | the transform Lambda |
//! | `reco_loader` | PostgreSQL | CONNECT; USAGE and CREATE on the schema; owns what it creates (versioned tables, views, the versions table) | `load-embeddings` |
//! | `reco_etl` | MySQL | SELECT on the source database | the ETL |
//!
//! The statements are the versioned files `sql/roles/postgres.sql` and `sql/roles/mysql.sql`,
//! built into the binary. Each role's password is random ([`password::generate`]), lives
//! only in the role's Secrets Manager secret and is changed as a rotation function would
//! ([`secret`]); without `rotate` a password that still logs in is kept.

use std::fmt;

use serde::Serialize;

pub mod config;
pub mod mysql;
pub mod password;
pub mod postgres;
pub mod secret;

pub use aws_sdk_secretsmanager::Client as SecretsClient;
pub use config::{RoleSecretArgs, RoleSecretIds};
pub use secret::{RoleSecret, SecretError};

use sqlx::mysql::MySqlConnectOptions;
use sqlx::postgres::PgConnectOptions;

/// The role statements for PostgreSQL (`sql/roles/postgres.sql`).
pub const POSTGRES_SQL: &str = include_str!("../../../sql/roles/postgres.sql");
/// The user statements for MySQL / MariaDB (`sql/roles/mysql.sql`).
pub const MYSQL_SQL: &str = include_str!("../../../sql/roles/mysql.sql");

/// PostgreSQL role of the readers (the transform Lambda).
pub const READER: &str = "reco_reader";
/// PostgreSQL role of the embeddings loader.
pub const LOADER: &str = "reco_loader";
/// MySQL user of the ETL.
pub const ETL: &str = "reco_etl";

/// Longest MySQL user name (MySQL 8; MariaDB allows 80).
const MAX_MYSQL_USER_LEN: usize = 32;

/// The role names: the fixed names, behind an optional prefix (tests give every run roles
/// of its own: roles are cluster-wide in PostgreSQL and server-wide in MySQL).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleNames {
    prefix: String,
}

impl RoleNames {
    /// The names with `prefix` (empty in production): lowercase letters, digits and `_`,
    /// starting with a letter, at most 24 bytes (a MySQL user name has at most 32).
    pub fn new(prefix: &str) -> Result<Self, MigrateError> {
        let fits = prefix.len() + ETL.len() <= MAX_MYSQL_USER_LEN;
        let valid = prefix.is_empty()
            || (prefix.starts_with(|c: char| c.is_ascii_lowercase())
                && prefix
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
        if !(fits && valid) {
            return Err(MigrateError::Config {
                reason: format!(
                    "role prefix {prefix:?} must be lowercase letters, digits and '_', start with a letter and have at most {} characters",
                    MAX_MYSQL_USER_LEN - ETL.len()
                ),
            });
        }
        Ok(Self {
            prefix: prefix.to_owned(),
        })
    }

    /// The PostgreSQL reader role.
    pub fn reader(&self) -> String {
        format!("{}{READER}", self.prefix)
    }

    /// The PostgreSQL loader role.
    pub fn loader(&self) -> String {
        format!("{}{LOADER}", self.prefix)
    }

    /// The MySQL ETL user.
    pub fn etl(&self) -> String {
        format!("{}{ETL}", self.prefix)
    }
}

/// What the migration did to a role's password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordAction {
    /// The secret's password still logs in; nothing changed.
    Kept,
    /// The role had no working password in its secret: one was set and written.
    Set,
    /// `rotate` asked for a new password: set, written, the old one no longer logs in.
    Rotated,
    /// A staged value from a run that stopped after setting the password was made current.
    Resumed,
}

impl fmt::Display for PasswordAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Kept => "kept",
            Self::Set => "set",
            Self::Rotated => "rotated",
            Self::Resumed => "resumed",
        })
    }
}

/// One role after the migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleReport {
    /// The role or user name.
    pub role: String,
    /// `postgres` or `mysql`.
    pub engine: &'static str,
    /// The secret holding its credentials.
    pub secret: String,
    /// What happened to its password.
    pub password: PasswordAction,
}

/// Why the migration stopped: the role, what failed, what to do next.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// A setting is missing or malformed.
    #[error("{reason}")]
    Config {
        /// What is wrong and which setting to fix.
        reason: String,
    },
    /// The master user could not connect, or a statement failed.
    #[error("{role}: {step} failed: {error}; {next}")]
    Database {
        /// The role (or `postgres` / `mysql` for the whole script).
        role: String,
        /// What was being done.
        step: &'static str,
        /// What to check or do.
        next: &'static str,
        /// The server's error (in the message, so not also a `source()`).
        error: sqlx::Error,
    },
    /// A role exists with powers the master user cannot take away.
    #[error(
        "{role}: {reason}; a superuser must remove them (or drop the role), then run `reco db migrate` again"
    )]
    UnsafeRole {
        /// The role.
        role: String,
        /// The attributes or memberships found.
        reason: String,
    },
    /// The role's secret could not be read or written.
    #[error("{role}: {error}; {next}")]
    Secret {
        /// The role.
        role: String,
        /// What state this leaves and what to do.
        next: String,
        /// The Secrets Manager error (in the message, so not also a `source()`).
        error: SecretError,
    },
    /// The password just set does not log in.
    #[error(
        "{role}: the new password does not log in ({detail}); the secret still holds the previous one; check the server's authentication settings (pg_hba.conf / the user's host)"
    )]
    LoginFailed {
        /// The role.
        role: String,
        /// What the server said.
        detail: String,
    },
}

/// One migration run: which databases (connected as their master user), which role
/// secrets, the role names, and whether to rotate.
#[derive(Debug, Clone)]
pub struct Migration {
    /// The role names.
    pub names: RoleNames,
    /// New passwords for every role.
    pub rotate: bool,
    /// The vector database's master connection and the two role secrets.
    pub postgres: Option<(PgConnectOptions, postgres::PgRoleSecrets)>,
    /// The source database's master connection and `reco_etl`'s secret.
    pub mysql: Option<(MySqlConnectOptions, RoleSecret)>,
}

impl Migration {
    /// The run over `ids`' secrets, read and written with `client`; the connections are
    /// the callers' (they resolve URLs and master secrets).
    pub fn new(
        names: RoleNames,
        rotate: bool,
        client: &SecretsClient,
        ids: &RoleSecretIds,
        postgres: Option<PgConnectOptions>,
        mysql: Option<MySqlConnectOptions>,
    ) -> Self {
        let secret = |id: &String| RoleSecret::new(client.clone(), id.clone());
        Self {
            names,
            rotate,
            postgres: postgres
                .zip(ids.postgres.as_ref())
                .map(|(options, (reader, loader))| {
                    (
                        options,
                        postgres::PgRoleSecrets {
                            reader: secret(reader),
                            loader: secret(loader),
                        },
                    )
                }),
            mysql: mysql
                .zip(ids.mysql.as_ref())
                .map(|(options, etl)| (options, secret(etl))),
        }
    }

    /// Runs PostgreSQL's part, then MySQL's; `progress` gets a line per step.
    pub async fn run(
        &self,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<Vec<RoleReport>, MigrateError> {
        let mut reports = Vec::new();
        match &self.postgres {
            Some((admin, secrets)) => reports.extend(
                postgres::migrate(admin, &self.names, secrets, self.rotate, progress).await?,
            ),
            None => progress("postgres: skipped (no role secrets configured)"),
        }
        match &self.mysql {
            Some((admin, secret)) => reports
                .push(mysql::migrate(admin, &self.names, secret, self.rotate, progress).await?),
            None => progress("mysql: skipped (no role secret configured)"),
        }
        Ok(reports)
    }
}

/// A database account whose password the migration manages.
pub(crate) trait Account {
    /// The role or user name.
    fn name(&self) -> &str;
    /// `postgres` or `mysql`.
    fn engine(&self) -> &'static str;
    /// Gives the account `password` (its old one stops working).
    async fn set_password(&mut self, password: &str) -> Result<(), sqlx::Error>;
    /// Whether `password` logs in as the account: `Ok(false)` when the server refuses it,
    /// an error when the server cannot be asked.
    async fn logs_in(&self, password: &str) -> Result<bool, sqlx::Error>;
    /// The secret's JSON for `password`.
    fn secret_value(&self, password: &str) -> String;
}

/// Makes `secret` hold a password that logs in as `account`: resumes a staged change, keeps a
/// working password (unless `rotate`), or sets a new one: staged, set, proven, promoted.
pub(crate) async fn ensure_password<A: Account>(
    account: &mut A,
    secret: &RoleSecret,
    rotate: bool,
) -> Result<RoleReport, MigrateError> {
    let role = account.name().to_owned();
    let engine = account.engine();
    let secret_failed = |next: &str| {
        let role = role.clone();
        let next = next.to_owned();
        move |error| MigrateError::Secret { role, next, error }
    };
    let login_check = |step| {
        let role = role.clone();
        move |error| MigrateError::Database {
            role,
            step,
            next: "check that the database is reachable and run `reco db migrate` again",
            error,
        }
    };
    let report = |password| RoleReport {
        role: role.clone(),
        engine,
        secret: secret.id().to_owned(),
        password,
    };
    let nothing_changed = "no password or secret was changed; check the secret exists and this identity may read and write it (GetSecretValue, PutSecretValue, UpdateSecretVersionStage), then run `reco db migrate` again";
    let current = secret
        .get(secret::CURRENT)
        .await
        .map_err(secret_failed(nothing_changed))?;
    let pending = secret
        .get(secret::PENDING)
        .await
        .map_err(secret_failed(nothing_changed))?;
    let current_password = current.as_ref().map(|c| &c.password);

    // A run that set the password but stopped before moving AWSCURRENT.
    if let Some(staged) =
        pending.filter(|p| p.username == role && current_password != Some(&p.password))
        && account
            .logs_in(&staged.password)
            .await
            .map_err(login_check("trying the staged password"))?
    {
        secret
            .promote(&staged.version_id, &staged.value)
            .await
            .map_err(secret_failed(
                "the staged value (AWSPENDING) is the password in use; run `reco db migrate` again to make it current",
            ))?;
        return Ok(report(PasswordAction::Resumed));
    }

    if !rotate
        && let Some(current) = &current
        && current.username == role
        && account
            .logs_in(&current.password)
            .await
            .map_err(login_check("trying the current password"))?
    {
        return Ok(report(PasswordAction::Kept));
    }

    let password = password::generate();
    let value = account.secret_value(&password);
    let version = secret
        .stage(&value)
        .await
        .map_err(secret_failed(nothing_changed))?;
    account
        .set_password(&password)
        .await
        .map_err(|error| MigrateError::Database {
            role: role.clone(),
            step: "setting the password",
            next: "the database and the secret's current value are unchanged; run `reco db migrate` again",
            error,
        })?;
    if !account
        .logs_in(&password)
        .await
        .map_err(login_check("logging in with the new password"))?
    {
        return Err(MigrateError::LoginFailed {
            role: role.clone(),
            detail: "authentication refused".to_owned(),
        });
    }
    secret
        .promote(&version, &value)
        .await
        .map_err(secret_failed(
            "the new password is set in the database and staged as AWSPENDING, but readers still get the old value: run `reco db migrate` again to make the staged value current",
        ))?;
    Ok(report(if current.is_some() {
        PasswordAction::Rotated
    } else {
        PasswordAction::Set
    }))
}

/// `template` with every `{{name}}` replaced by its value.
pub(crate) fn render(template: &str, values: &[(&str, &str)]) -> String {
    values
        .iter()
        .fold(template.to_owned(), |sql, (name, value)| {
            sql.replace(&format!("{{{{{name}}}}}"), value)
        })
}

/// Whether `name` may be spliced into SQL unquoted: lowercase ASCII letters, digits and
/// `_`, starting with a letter.
pub(crate) fn is_plain_identifier(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_take_a_checked_prefix() {
        let names = RoleNames::new("t123_").unwrap();
        assert_eq!(
            (names.reader(), names.loader(), names.etl()),
            (
                "t123_reco_reader".into(),
                "t123_reco_loader".into(),
                "t123_reco_etl".into()
            )
        );
        assert_eq!(RoleNames::default().reader(), READER);
        for bad in ["T_", "1a_", "a-b", "a'b", "abcdefghijklmnopqrstuvwxy"] {
            let err = RoleNames::new(bad).unwrap_err().to_string();
            assert!(err.contains("role prefix"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_scripts_use_only_known_placeholders() {
        for (script, known) in [
            (
                POSTGRES_SQL,
                &["reader", "loader", "database", "schema"][..],
            ),
            (MYSQL_SQL, &["etl", "database"][..]),
        ] {
            let mut rest = script;
            let mut seen = Vec::new();
            while let Some(start) = rest.find("{{") {
                let end = rest[start..].find("}}").expect("closed placeholder") + start;
                seen.push(&rest[start + 2..end]);
                rest = &rest[end + 2..];
            }
            assert!(!seen.is_empty());
            for name in &seen {
                assert!(known.contains(name), "unknown placeholder {name}");
            }
            for name in known {
                assert!(seen.contains(name), "{name} unused");
            }
        }
        let sql = render(
            POSTGRES_SQL,
            &[
                ("reader", "r"),
                ("loader", "l"),
                ("database", "\"d\""),
                ("schema", "public"),
            ],
        );
        assert!(!sql.contains("{{"));
        assert!(sql.contains("GRANT USAGE, CREATE ON SCHEMA public TO l;"));
    }

    #[test]
    fn plain_identifiers_are_lowercase_words() {
        assert!(is_plain_identifier("reco_t_1_2"));
        assert!(!is_plain_identifier("Reco"));
        assert!(!is_plain_identifier("a\"b"));
        assert!(!is_plain_identifier(""));
    }
}
