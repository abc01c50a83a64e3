//! A role's Secrets Manager secret, changed the way a Secrets Manager rotation function
//! changes one: the new value is staged as `AWSPENDING`, the database takes the password,
//! a login proves it, and only then does `AWSCURRENT` (what every reader gets) move to it.
//! A run stopped in between leaves the current value working; the next run finds the staged
//! value, sees that it logs in, and finishes the move.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata as _};
use serde::Deserialize;

/// Stage label of the value readers get.
pub const CURRENT: &str = "AWSCURRENT";
/// Stage label of a value written but not yet in use.
pub const PENDING: &str = "AWSPENDING";

/// Why a secret could not be read or written (its id, the operation, the service's reason).
#[derive(Debug, Clone, thiserror::Error)]
#[error("secret {secret}: {operation} failed: {reason}")]
pub struct SecretError {
    /// The secret's name or ARN.
    pub secret: String,
    /// `GetSecretValue`, `PutSecretValue` or `UpdateSecretVersionStage`.
    pub operation: &'static str,
    /// The first line of the service's answer.
    pub reason: String,
}

/// One version of a role's secret: its id and the credentials in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCredentials {
    /// Secrets Manager's version id.
    pub version_id: String,
    /// `username` of the JSON.
    pub username: String,
    /// `password` of the JSON.
    pub password: String,
}

/// The two fields every role secret has (the MySQL one has host, port and dbname too).
#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

/// The secret of one role, named by ARN or name.
#[derive(Debug, Clone)]
pub struct RoleSecret {
    client: Client,
    id: String,
}

impl RoleSecret {
    /// The secret `id` (ARN or name), read and written with `client`.
    pub fn new(client: Client, id: impl Into<String>) -> Self {
        Self {
            client,
            id: id.into(),
        }
    }

    /// The secret's ARN or name, as given.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn error<E>(
        &self,
        operation: &'static str,
        e: aws_sdk_secretsmanager::error::SdkError<E>,
    ) -> SecretError
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        tracing::debug!(secret = %self.id, operation, error = ?e, "Secrets Manager call failed");
        SecretError {
            secret: self.id.clone(),
            operation,
            reason: DisplayErrorContext(&e)
                .to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned(),
        }
    }

    /// The version labelled `stage`, or `None` when no version has it (a secret Terraform
    /// created holds no value until the first migration). A value that is not JSON with
    /// `username` and `password` is treated as absent: the migration replaces it.
    pub async fn get(&self, stage: &str) -> Result<Option<StoredCredentials>, SecretError> {
        let output = match self
            .client
            .get_secret_value()
            .secret_id(&self.id)
            .version_stage(stage)
            .send()
            .await
        {
            Ok(output) => output,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(self.error("GetSecretValue", e)),
        };
        let (Some(version_id), Some(text)) = (output.version_id(), output.secret_string()) else {
            return Ok(None);
        };
        Ok(match serde_json::from_str::<Credentials>(text) {
            Ok(c) => Some(StoredCredentials {
                version_id: version_id.to_owned(),
                username: c.username,
                password: c.password,
            }),
            Err(_) => {
                tracing::warn!(secret = %self.id, stage, "secret value is not JSON with username and password; it will be replaced");
                None
            }
        })
    }

    /// Writes `value` as a new version labelled [`PENDING`] only; readers still get the
    /// current one. Returns the new version's id.
    pub async fn stage(&self, value: &str) -> Result<String, SecretError> {
        let output = self
            .client
            .put_secret_value()
            .secret_id(&self.id)
            .secret_string(value)
            .version_stages(PENDING)
            .send()
            .await
            .map_err(|e| self.error("PutSecretValue", e))?;
        output
            .version_id()
            .map(str::to_owned)
            .ok_or_else(|| SecretError {
                secret: self.id.clone(),
                operation: "PutSecretValue",
                reason: "the answer has no version id".to_owned(),
            })
    }

    /// Moves [`CURRENT`] to `version_id` (from `current`, the version that had it, if any)
    /// and takes [`PENDING`] off it.
    pub async fn promote(
        &self,
        version_id: &str,
        current: Option<&str>,
    ) -> Result<(), SecretError> {
        self.client
            .update_secret_version_stage()
            .secret_id(&self.id)
            .version_stage(CURRENT)
            .move_to_version_id(version_id)
            .set_remove_from_version_id(current.map(str::to_owned))
            .send()
            .await
            .map_err(|e| self.error("UpdateSecretVersionStage", e))?;
        // A leftover PENDING label on the current version is harmless (the next run sees the
        // same version under both labels and does nothing); only worth a warning.
        if let Err(e) = self
            .client
            .update_secret_version_stage()
            .secret_id(&self.id)
            .version_stage(PENDING)
            .remove_from_version_id(version_id)
            .send()
            .await
        {
            tracing::warn!(secret = %self.id, error = %e.code().unwrap_or("unknown"), "AWSPENDING label not removed");
        }
        Ok(())
    }
}
