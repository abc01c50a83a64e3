//! The experiment state in the artifacts bucket: `current.json` read and replaced with
//! compare-and-set puts (`If-None-Match: *` for the first write, `If-Match: <etag>` after), and
//! one immutable audit object per change. Layout and state changes are
//! [`reco_domain::experiment`]'s; this module is only their I/O.

use bytes::Bytes;
use object_store::{
    Attribute, Attributes, ObjectStoreExt as _, PutMode, PutOptions, UpdateVersion,
};
use reco_domain::artifacts::ModelPrefix;
use reco_domain::experiment::{
    AuditEntry, Change, ExperimentError, ExperimentState, audit_key, audit_prefix, current_key,
};

use crate::storage::{Bucket, ObjectPath, StorageError};

/// The experiment state could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentStoreError {
    /// The object store failed.
    #[error(transparent)]
    Store(#[from] StorageError),
    /// The stored file is unreadable or the change is not allowed.
    #[error("{location}: {source}")]
    Experiment {
        /// `s3://bucket/key` of the file, or of the state for a refused change.
        location: String,
        /// What is wrong.
        #[source]
        source: ExperimentError,
    },
    /// Someone else changed the state between this command's read and its write.
    #[error(
        "{location} changed while this command ran (another operator?): run `reco experiment status` and try again"
    )]
    Conflict {
        /// `s3://bucket/key` of the state.
        location: String,
    },
}

impl ExperimentStoreError {
    /// The refused change or unreadable file, when that is what failed.
    pub fn experiment_error(&self) -> Option<&ExperimentError> {
        match self {
            ExperimentStoreError::Experiment { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The stored state and the version it was read at (`None`: no `current.json` yet).
#[derive(Debug, Clone)]
pub struct VersionedState {
    /// The state (no experiment when the object does not exist).
    pub state: ExperimentState,
    /// ETag/version of the object read, for `If-Match`.
    pub version: Option<UpdateVersion>,
}

/// The experiment state and audit trail of one artifacts bucket and model prefix.
#[derive(Debug, Clone)]
pub struct ExperimentStore {
    bucket: Bucket,
    prefix: ModelPrefix,
}

impl ExperimentStore {
    /// The experiments of the models under `prefix` in `bucket` (the artifacts bucket).
    pub fn new(bucket: Bucket, prefix: ModelPrefix) -> Self {
        Self { bucket, prefix }
    }

    /// `s3://bucket/<prefix>experiments/current.json`.
    pub fn current_location(&self) -> String {
        self.bucket.location(&current_key(&self.prefix))
    }

    /// The running experiment's state; a missing `current.json` is "no experiment".
    pub async fn read(&self) -> Result<ExperimentState, ExperimentStoreError> {
        Ok(self.read_versioned().await?.state)
    }

    /// The state with the ETag it was read at.
    pub async fn read_versioned(&self) -> Result<VersionedState, ExperimentStoreError> {
        let key = current_key(&self.prefix);
        let path = ObjectPath::from(key.as_str());
        let store_error = |e| StorageError::from_store("get", self.bucket.location(&key), e);
        let result = match self.bucket.store().get(&path).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => {
                return Ok(VersionedState {
                    state: ExperimentState::none(),
                    version: None,
                });
            }
            Err(e) => return Err(store_error(e).into()),
        };
        let version = UpdateVersion {
            e_tag: result.meta.e_tag.clone(),
            version: result.meta.version.clone(),
        };
        let bytes = result.bytes().await.map_err(store_error)?;
        let state = ExperimentState::from_json_slice(&bytes).map_err(|source| {
            ExperimentStoreError::Experiment {
                location: self.bucket.location(&key),
                source,
            }
        })?;
        Ok(VersionedState {
            state,
            version: Some(version),
        })
    }

    /// Reads the state, applies `change` to it and writes the result only if nobody changed
    /// the state in between (else [`ExperimentStoreError::Conflict`]), then writes the audit
    /// entry (never replacing one).
    pub async fn apply(
        &self,
        change: impl FnOnce(&ExperimentState) -> Result<Change, ExperimentError>,
    ) -> Result<Change, ExperimentStoreError> {
        let key = current_key(&self.prefix);
        let read = self.read_versioned().await?;
        let change = change(&read.state).map_err(|source| ExperimentStoreError::Experiment {
            location: self.bucket.location(&key),
            source,
        })?;
        let mode = match read.version {
            Some(version) => PutMode::Update(version),
            None => PutMode::Create,
        };
        self.put_json(&key, change.state.to_json_vec(), mode)
            .await
            .map_err(|e| match e {
                ExperimentStoreError::Store(s)
                    if s.kind == crate::storage::StorageErrorKind::Conflict =>
                {
                    ExperimentStoreError::Conflict {
                        location: self.bucket.location(&key),
                    }
                }
                other => other,
            })?;
        let audit = audit_key(&self.prefix, &change.audit);
        self.put_json(&audit, change.audit.to_json_vec(), PutMode::Create)
            .await?;
        tracing::info!(
            experiment = %change.audit.experiment,
            action = change.audit.action.as_str(),
            audit = %self.bucket.location(&audit),
            "experiment changed"
        );
        Ok(change)
    }

    /// `name`'s audit entries, oldest first.
    pub async fn history(&self, name: &str) -> Result<Vec<AuditEntry>, ExperimentStoreError> {
        let keys = self.bucket.list(&audit_prefix(&self.prefix, name)).await?;
        let mut entries = Vec::with_capacity(keys.len());
        for key in keys {
            let bytes = self.bucket.get(&key).await?;
            let entry = AuditEntry::from_json_slice(&bytes).map_err(|source| {
                ExperimentStoreError::Experiment {
                    location: self.bucket.location(&key),
                    source,
                }
            })?;
            entries.push(entry);
        }
        entries.sort_by(|a, b| a.at.cmp(&b.at));
        Ok(entries)
    }

    async fn put_json(
        &self,
        key: &str,
        body: Vec<u8>,
        mode: PutMode,
    ) -> Result<(), ExperimentStoreError> {
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::ContentType, "application/json".into());
        let options = PutOptions {
            mode,
            attributes,
            ..PutOptions::default()
        };
        self.bucket
            .store()
            .put_opts(&ObjectPath::from(key), Bytes::from(body).into(), options)
            .await
            .map_err(|e| StorageError::from_store("put", self.bucket.location(key), e))?;
        Ok(())
    }
}

/// Who is running this process, for audit entries: the STS caller ARN on AWS, `$USER@host`
/// on the local emulator (or when STS cannot answer; the reason goes to the log).
pub async fn caller_identity(aws: &crate::AwsArgs) -> String {
    let local = local_identity();
    if aws.endpoint().is_some() {
        return local;
    }
    let config = crate::sdk_config(aws).await;
    match aws_sdk_sts::Client::new(&config)
        .get_caller_identity()
        .send()
        .await
    {
        Ok(out) => out.arn().map(str::to_owned).unwrap_or(local),
        Err(e) => {
            tracing::warn!(error = %e, identity = %local, "STS GetCallerIdentity failed; recording the local user");
            local
        }
    }
}

fn local_identity() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".to_owned());
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{user}@{host}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use reco_domain::experiment::{ExperimentAction, StartRequest};

    fn start(name: &str) -> impl FnOnce(&ExperimentState) -> Result<Change, ExperimentError> {
        let name = name.to_owned();
        move |state| {
            state.start(
                StartRequest {
                    name,
                    treatment_model_version: "v2".into(),
                    control_model_version: None,
                    treatment_share: 0.1,
                },
                "2026-12-03T10:00:00.000Z",
                "ops@host",
            )
        }
    }

    #[tokio::test]
    async fn changes_are_written_with_an_audit_trail_and_conflicts_are_refused() {
        let store =
            ExperimentStore::new(Bucket::in_memory("artifacts"), ModelPrefix::new("models"));
        assert_eq!(store.read().await.unwrap(), ExperimentState::none());
        store.apply(start("towers-v2")).await.unwrap();
        let err = store.apply(start("other")).await.unwrap_err();
        assert!(
            matches!(
                err.experiment_error(),
                Some(ExperimentError::AlreadyRunning { .. })
            ),
            "{err}"
        );
        // A write based on a stale read loses.
        let stale = store.read_versioned().await.unwrap();
        store
            .apply(|s| s.set_share("towers-v2", 0.5, "2026-12-03T10:01:00.000Z", "ops@host"))
            .await
            .unwrap();
        let change = stale
            .state
            .set_share("towers-v2", 0.2, "2026-12-03T10:02:00.000Z", "x")
            .unwrap();
        let lost = store
            .put_json(
                &current_key(&store.prefix),
                change.state.to_json_vec(),
                PutMode::Update(stale.version.unwrap()),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(lost, ExperimentStoreError::Store(ref s) if s.kind == crate::storage::StorageErrorKind::Conflict),
            "{lost}"
        );
        store
            .apply(|s| s.stop("towers-v2", "2026-12-03T10:03:00.000Z", "ops@host"))
            .await
            .unwrap();
        assert_eq!(store.read().await.unwrap(), ExperimentState::none());
        let history = store.history("towers-v2").await.unwrap();
        let actions: Vec<ExperimentAction> = history.iter().map(|e| e.action).collect();
        assert_eq!(
            actions,
            [
                ExperimentAction::Start,
                ExperimentAction::Share,
                ExperimentAction::Stop
            ]
        );
        assert_eq!(history[1].after.as_ref().unwrap().treatment_share, 0.5);
        assert!(store.history("other").await.unwrap().is_empty());
        // A new experiment can start after the stop (If-Match on the stopped state).
        store.apply(start("next")).await.unwrap();
        assert_eq!(store.read().await.unwrap().experiment.unwrap().name, "next");
        assert!(local_identity().contains('@'));
    }
}
