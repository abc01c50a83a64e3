//! Model artifacts from S3: `s3://<RECO_ARTIFACTS_BUCKET>/<RECO_MODEL_PREFIX><version>/model.json`.

use reco_domain::model::ModelArtifact;

use crate::config::TransformConfig;
use crate::ports::{ModelLoadError, ModelStore};

/// Loads model artifacts from the artifacts bucket.
#[derive(Debug, Clone)]
pub struct S3ModelStore {
    client: aws_sdk_s3::Client,
    config: TransformConfig,
}

impl S3ModelStore {
    /// A store reading with `client` from the bucket and prefix of `config`.
    pub fn new(client: aws_sdk_s3::Client, config: TransformConfig) -> Self {
        Self { client, config }
    }
}

impl ModelStore for S3ModelStore {
    type Model = ModelArtifact;

    async fn load(&self, version: &str) -> Result<ModelArtifact, ModelLoadError> {
        let key = self.config.model_key(version);
        let location = format!("s3://{}/{key}", self.config.artifacts_bucket);
        let fetch = |reason: String| ModelLoadError::Fetch {
            version: version.to_owned(),
            location: location.clone(),
            reason,
        };
        let object = self
            .client
            .get_object()
            .bucket(&self.config.artifacts_bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| fetch(aws_sdk_s3::error::DisplayErrorContext(e).to_string()))?;
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| fetch(e.to_string()))?
            .into_bytes();
        ModelArtifact::from_json_slice(&bytes).map_err(|e| ModelLoadError::Invalid {
            version: version.to_owned(),
            location: location.clone(),
            reason: e.to_string(),
        })
    }

    fn dim(model: &ModelArtifact) -> usize {
        model.dim()
    }
}
