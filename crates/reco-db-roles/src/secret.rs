//! A role's Secrets Manager secret, changed the way a Secrets Manager rotation function
//! changes one: the new value is staged as `AWSPENDING`, the database takes the password,
//! a login proves it, and only then does `AWSCURRENT` (what every reader gets) move to it.
//! A run stopped in between leaves the current value working; the next run finds the staged
//! value, sees that it logs in, and finishes the move.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata};
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

/// One version of a role's secret: its id, the credentials in it and its whole JSON text.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredCredentials {
    /// Secrets Manager's version id.
    pub version_id: String,
    /// `username` of the JSON.
    pub username: String,
    /// `password` of the JSON.
    pub password: String,
    /// The JSON text as stored.
    pub value: String,
}

impl std::fmt::Debug for StoredCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredCredentials")
            .field("version_id", &self.version_id)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
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
        E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    {
        tracing::debug!(secret = %self.id, operation, error = ?e, "Secrets Manager call failed");
        let reason = match (e.code(), e.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_owned(),
            _ => DisplayErrorContext(&e)
                .to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned(),
        };
        SecretError {
            secret: self.id.clone(),
            operation,
            reason,
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
                value: text.to_owned(),
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

    /// Makes `value`, staged as version `version_id`, what readers get: written again as a new
    /// version, which takes [`CURRENT`] (the old one becomes `AWSPREVIOUS`), and the staged
    /// version loses [`PENDING`]. A second write rather than moving the label: the AWS
    /// emulator answers label-less reads from the last written version, not from the label.
    pub async fn promote(&self, version_id: &str, value: &str) -> Result<(), SecretError> {
        self.client
            .put_secret_value()
            .secret_id(&self.id)
            .secret_string(value)
            .send()
            .await
            .map_err(|e| self.error("PutSecretValue", e))?;
        // A leftover PENDING label is harmless (the next run finds a staged value equal to the
        // current one and does nothing). The first value of a secret may not carry it at all
        // (it became current when written), so a refusal here is only logged for debugging.
        if let Err(e) = self
            .client
            .update_secret_version_stage()
            .secret_id(&self.id)
            .version_stage(PENDING)
            .remove_from_version_id(version_id)
            .send()
            .await
        {
            tracing::debug!(secret = %self.id, error = %e.code().unwrap_or("unknown"), "AWSPENDING label not removed");
        }
        Ok(())
    }
}
