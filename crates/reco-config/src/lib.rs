//! reco's configuration at the edges.
//!
//! - [`var`]: the name and meaning of every environment variable reco reads, in one place.
//! - [`local`]: the `.local/` settings files (`make local-up`, `make deploy-*`) loaded under the
//!   process environment before anything parses it, and the one target-environment switch.
//! - [`groups`]: typed option groups (AWS, PostgreSQL, MySQL, model store) that every binary
//!   flattens into its own clap config, so a value comes from a flag or its variable and is
//!   passed down as a plain value. Library crates never read the environment.
//! - [`tls`]: the certificate authorities database connections verify servers against (the
//!   built-in Amazon RDS CA bundle, or `RECO_DB_CA_FILE`).

pub mod groups;
pub mod local;
pub mod tls;
pub mod var;

pub use groups::{AwsArgs, ModelStoreArgs, MysqlArgs, MysqlTarget, PgArgs, PgTarget};
pub use local::{LocalEnv, Target};
pub use tls::DbCa;

/// A setting that is missing or does not fit.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required setting is not given as a flag nor in the environment / `.local/` files.
    #[error("{name} is not set: {hint}")]
    Missing {
        /// The variable's name.
        name: &'static str,
        /// What to do: which command writes it, or how to set it.
        hint: &'static str,
    },
    /// A value is out of range or inconsistent with another.
    #[error("{name}={value:?} is invalid: {reason}")]
    Invalid {
        /// The variable's name.
        name: &'static str,
        /// The offending value.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// A settings file exists but cannot be read or has a malformed line.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// What was wrong (the parser names the line).
        reason: String,
    },
}

/// `value`, or [`ConfigError::Missing`] naming `name` with the hint of [`var::hint`].
pub fn required<'a>(name: &'static str, value: &'a Option<String>) -> Result<&'a str, ConfigError> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or(ConfigError::Missing {
            name,
            hint: var::hint(name),
        })
}
