//! Model artifacts from the artifacts bucket: `<model prefix><version>/model.json`
//! (layout: [`reco_domain::artifacts`]), read through the object-store seam.

use reco_aws::Bucket;
use reco_domain::artifacts::{MODEL_FILE, ModelPrefix};
use reco_domain::model::ModelArtifact;

use crate::ports::{ModelLoadError, ModelStore};

/// Loads model artifacts from the artifacts bucket.
#[derive(Debug, Clone)]
pub struct S3ModelStore {
    bucket: Bucket,
    prefix: ModelPrefix,
}

impl S3ModelStore {
    /// A store reading model versions under `prefix` in `bucket`.
    pub fn new(bucket: Bucket, prefix: ModelPrefix) -> Self {
        Self { bucket, prefix }
    }
}

impl ModelStore for S3ModelStore {
    type Model = ModelArtifact;

    async fn load(&self, version: &str) -> Result<ModelArtifact, ModelLoadError> {
        let key = self.prefix.key(version, MODEL_FILE);
        let location = self.bucket.location(&key);
        let bytes = self
            .bucket
            .get(&key)
            .await
            .map_err(|e| ModelLoadError::Fetch {
                version: version.to_owned(),
                location: location.clone(),
                reason: e.reason,
            })?;
        ModelArtifact::from_json_slice(&bytes).map_err(|e| ModelLoadError::Invalid {
            version: version.to_owned(),
            location,
            reason: e.to_string(),
        })
    }

    fn dim(model: &ModelArtifact) -> usize {
        model.dim()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[tokio::test]
    async fn a_missing_model_is_a_fetch_error_and_garbage_is_invalid() {
        let bucket = Bucket::in_memory("artifacts");
        let store = S3ModelStore::new(bucket.clone(), ModelPrefix::new("models"));
        let err = store.load("v1").await.unwrap_err();
        assert!(matches!(err, ModelLoadError::Fetch { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "cannot fetch model v1 from memory://artifacts/models/v1/model.json: no such object"
        );
        bucket
            .put(
                "models/v1/model.json",
                Bytes::from_static(b"{"),
                "application/json",
            )
            .await
            .unwrap();
        let err = store.load("v1").await.unwrap_err();
        assert!(matches!(err, ModelLoadError::Invalid { .. }), "{err}");
    }
}
