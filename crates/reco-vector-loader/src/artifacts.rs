//! Model artifacts on S3, as the trainer writes them:
//! `s3://<bucket>/<prefix><version>/item_embeddings.csv` and `user_embeddings.csv`, and
//! `<prefix>LATEST` holding the newest good version's name (written last).

use reco_domain::Settings;
use reco_domain::settings::{DEFAULT_MODEL_PREFIX, var};
use tokio::io::AsyncBufRead;

use crate::{EmbeddingFile, EmbeddingSource, LoadError, LoadReport, StoreError, VectorStore};

use reco_domain::artifacts::ModelPrefix;
pub use reco_domain::artifacts::{
    ITEM_EMBEDDINGS_CSV as ITEM_EMBEDDINGS_FILE, LATEST_FILE,
    USER_EMBEDDINGS_CSV as USER_EMBEDDINGS_FILE,
};

/// Where model versions live: a bucket and a key prefix (ending in `/`, or empty).
#[derive(Debug, Clone)]
pub struct ModelArtifacts {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: ModelPrefix,
}

impl ModelArtifacts {
    /// Artifacts in `bucket` under `prefix` (a missing trailing `/` is added).
    pub fn new(client: aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Self {
        Self {
            client,
            bucket: bucket.to_owned(),
            prefix: ModelPrefix::new(prefix),
        }
    }

    /// Artifacts named by `RECO_ARTIFACTS_BUCKET` and `RECO_MODEL_PREFIX` (default `models/`).
    pub fn from_settings(
        client: aws_sdk_s3::Client,
        settings: &Settings,
    ) -> Result<Self, StoreError> {
        let bucket =
            settings
                .require(var::RECO_ARTIFACTS_BUCKET)
                .map_err(|e| StoreError::Config {
                    reason: e.to_string(),
                })?;
        let prefix = settings
            .get(var::RECO_MODEL_PREFIX)
            .unwrap_or(DEFAULT_MODEL_PREFIX);
        Ok(Self::new(client, bucket, prefix))
    }

    /// The key of `file` in model `version`.
    pub fn key(&self, version: &str, file: &str) -> String {
        self.prefix.key(version, file)
    }

    /// The newest good version, read from `<prefix>LATEST`.
    pub async fn latest_version(&self) -> Result<String, LoadError> {
        let key = self.prefix.latest_key();
        let object = self.get(&key).await?;
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| self.s3_error(&key, e.to_string()))?
            .into_bytes();
        let version = std::str::from_utf8(&bytes)
            .map_err(|_| self.s3_error(&key, "LATEST is not UTF-8 text".to_owned()))?
            .trim()
            .to_owned();
        if version.is_empty() {
            return Err(self.s3_error(&key, "LATEST is empty".to_owned()));
        }
        Ok(version)
    }

    /// Streams of both embeddings files of `version`.
    pub async fn open(
        &self,
        version: &str,
    ) -> Result<
        EmbeddingSource<
            impl AsyncBufRead + Unpin + Send + use<>,
            impl AsyncBufRead + Unpin + Send + use<>,
        >,
        LoadError,
    > {
        let items_key = self.key(version, ITEM_EMBEDDINGS_FILE);
        let users_key = self.key(version, USER_EMBEDDINGS_FILE);
        let items = self.get(&items_key).await?;
        let users = self.get(&users_key).await?;
        Ok(EmbeddingSource {
            model_version: version.to_owned(),
            items: EmbeddingFile {
                name: format!("s3://{}/{items_key}", self.bucket),
                reader: Box::pin(items.body.into_async_read()),
            },
            users: EmbeddingFile {
                name: format!("s3://{}/{users_key}", self.bucket),
                reader: Box::pin(users.body.into_async_read()),
            },
        })
    }

    async fn get(
        &self,
        key: &str,
    ) -> Result<aws_sdk_s3::operation::get_object::GetObjectOutput, LoadError> {
        self.client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| {
                use aws_sdk_s3::error::ProvideErrorMetadata;
                // The service's code and message name the problem (NoSuchKey, AccessDenied);
                // the full context (raw response) only when there is none (network errors).
                let reason = match (e.code(), e.message()) {
                    (Some(code), Some(message)) => format!("{code}: {message}"),
                    (Some(code), None) => code.to_owned(),
                    _ => aws_sdk_s3::error::DisplayErrorContext(&e).to_string(),
                };
                self.s3_error(key, reason)
            })
    }

    fn s3_error(&self, key: &str, reason: String) -> LoadError {
        LoadError::S3 {
            bucket: self.bucket.clone(),
            key: key.to_owned(),
            reason,
        }
    }
}

impl VectorStore {
    /// Loads model `version` (default: the one named by `LATEST`) from S3 and activates it.
    pub async fn load_from_s3(
        &self,
        artifacts: &ModelArtifacts,
        version: Option<&str>,
        progress: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<LoadReport, LoadError> {
        let version = match version {
            Some(v) => v.to_owned(),
            None => artifacts.latest_version().await?,
        };
        progress(&format!(
            "loading model version {version} from s3://{}/{}",
            artifacts.bucket,
            artifacts.key(&version, "")
        ));
        let source = artifacts.open(&version).await?;
        self.load_version(source, progress).await
    }
}
