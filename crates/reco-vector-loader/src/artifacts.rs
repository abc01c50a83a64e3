//! Model artifacts in the object store, as the trainer writes them (the contract is
//! [`reco_domain::artifacts`]): `<prefix><version>/item_embeddings.csv` and
//! `user_embeddings.csv`, and `<prefix>LATEST` holding the newest good version's name.
//!
//! Embeddings files can be hundreds of MB: they are streamed into the load (object body ->
//! `AsyncBufRead`), never held whole in memory.

use futures_util::TryStreamExt as _;
use object_store::ObjectStoreExt as _;
use reco_aws::experiments::ExperimentStore;
use reco_aws::storage::StorageErrorKind;
use reco_aws::{Bucket, ObjectPath, StorageError};
use reco_domain::artifacts::{ITEM_EMBEDDINGS_CSV, MODEL_FILE, ModelPrefix, USER_EMBEDDINGS_CSV};
use reco_domain::model::MODEL_FORMAT_VERSION;
use tokio::io::AsyncBufRead;
use tokio_util::io::StreamReader;

use crate::loader::PreparedSource;
use crate::{EmbeddingFile, EmbeddingSource, LoadError};

/// The fields of `model.json` the load checks (the towers are not read).
#[derive(serde::Deserialize)]
struct ModelHeader {
    format_version: u32,
    model_version: String,
    dim: usize,
}

/// Where model versions live: a bucket and a key prefix.
#[derive(Debug, Clone)]
pub struct ModelArtifacts {
    bucket: Bucket,
    prefix: ModelPrefix,
}

impl ModelArtifacts {
    /// Artifacts in `bucket` under `prefix`.
    pub fn new(bucket: Bucket, prefix: ModelPrefix) -> Self {
        Self { bucket, prefix }
    }

    /// `s3://bucket/<prefix><version>/`, for messages.
    pub fn location(&self, version: &str) -> String {
        self.bucket.location(&self.prefix.version_prefix(version))
    }

    /// The newest good version, read from `<prefix>LATEST`.
    pub async fn latest_version(&self) -> Result<String, LoadError> {
        let key = self.prefix.latest_key();
        let bytes = self.bucket.get(&key).await?;
        let bad = |reason: &str| LoadError::BadFile {
            file: self.bucket.location(&key),
            reason: reason.to_owned(),
        };
        let version = std::str::from_utf8(&bytes)
            .map_err(|_| bad("LATEST is not UTF-8 text"))?
            .trim();
        if version.is_empty() {
            return Err(bad("LATEST is empty"));
        }
        Ok(version.to_owned())
    }

    /// What a load's cleanup keeps: the versions the running A/B experiment names (read from
    /// `<prefix>experiments/current.json`; none when no experiment runs), or nothing dropped
    /// when the state cannot be read (a version in use must never be dropped).
    pub async fn experiment_retention(&self) -> crate::Retention {
        let store = ExperimentStore::new(self.bucket.clone(), self.prefix.clone());
        match store.read().await {
            Ok(state) => crate::Retention::Keep(
                state
                    .experiment
                    .iter()
                    .flat_map(|e| e.named_versions())
                    .map(str::to_owned)
                    .collect(),
            ),
            Err(e) => {
                tracing::warn!(error = %e, "running experiment unknown: old embedding versions are kept");
                crate::Retention::DropNothing
            }
        }
    }

    /// The embedding dimension `model.json` of `version` declares; refuses a version without
    /// `model.json`, with another format or whose `model.json` names another version.
    pub async fn model_dim(&self, version: &str) -> Result<usize, LoadError> {
        let key = self.prefix.key(version, MODEL_FILE);
        let bytes = self
            .bucket
            .get(&key)
            .await
            .map_err(|e| self.missing(version, MODEL_FILE, e))?;
        let bad = |reason: String| LoadError::BadFile {
            file: self.bucket.location(&key),
            reason,
        };
        let header: ModelHeader = serde_json::from_slice(&bytes)
            .map_err(|e| bad(format!("not a model artifact: {e}")))?;
        if header.format_version != MODEL_FORMAT_VERSION {
            return Err(bad(format!(
                "format_version {} (this loader reads {MODEL_FORMAT_VERSION})",
                header.format_version
            )));
        }
        if header.model_version != version {
            return Err(bad(format!(
                "it is model version {:?}, not {version:?}",
                header.model_version
            )));
        }
        Ok(header.dim)
    }

    /// Both embeddings files of `version` opened and checked against its `model.json`
    /// (present, same dimension in all three) without touching the database.
    pub async fn open_checked(
        &self,
        version: &str,
    ) -> Result<
        PreparedSource<
            impl AsyncBufRead + Unpin + Send + use<>,
            impl AsyncBufRead + Unpin + Send + use<>,
        >,
        LoadError,
    > {
        crate::loader::check_model_version(version)?;
        let dim = self.model_dim(version).await?;
        PreparedSource::prepare(self.open(version).await?, Some(dim)).await
    }

    /// A not-found error of `file` of `version` as [`LoadError::VersionIncomplete`].
    fn missing(&self, version: &str, file: &'static str, e: StorageError) -> LoadError {
        if e.is_not_found() {
            LoadError::VersionIncomplete {
                version: version.to_owned(),
                file,
                location: self.bucket.location(&self.prefix.key(version, file)),
            }
        } else {
            e.into()
        }
    }

    /// Streams of both embeddings files of `version`; fails early when either is missing.
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
        Ok(EmbeddingSource {
            model_version: version.to_owned(),
            items: self
                .stream(&self.prefix.key(version, ITEM_EMBEDDINGS_CSV))
                .await
                .map_err(|e| self.missing(version, ITEM_EMBEDDINGS_CSV, e))?,
            users: self
                .stream(&self.prefix.key(version, USER_EMBEDDINGS_CSV))
                .await
                .map_err(|e| self.missing(version, USER_EMBEDDINGS_CSV, e))?,
        })
    }

    /// The object at `key` as a buffered byte stream named by its location; errors while
    /// reading name the location too.
    async fn stream(
        &self,
        key: &str,
    ) -> Result<EmbeddingFile<impl AsyncBufRead + Unpin + Send + use<>>, StorageError> {
        let location = self.bucket.location(key);
        let path = ObjectPath::parse(key).map_err(|e| StorageError {
            operation: "get",
            location: location.clone(),
            kind: StorageErrorKind::Other,
            reason: format!("not a valid object key: {e}"),
        })?;
        let object = self
            .bucket
            .store()
            .get(&path)
            .await
            .map_err(|e| StorageError::from_store("get", location.clone(), e))?;
        let body = object.into_stream().map_err(std::io::Error::from);
        Ok(EmbeddingFile {
            name: location,
            reader: StreamReader::new(body),
        })
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use tokio::io::AsyncBufReadExt as _;

    use super::*;

    #[tokio::test]
    async fn latest_names_the_version_and_files_stream_from_the_bucket() {
        let bucket = Bucket::in_memory("artifacts");
        let artifacts = ModelArtifacts::new(bucket.clone(), ModelPrefix::new("models"));
        let err = artifacts.latest_version().await.unwrap_err().to_string();
        assert_eq!(
            err,
            "get memory://artifacts/models/LATEST failed: no such object"
        );
        bucket
            .put("models/LATEST", Bytes::from_static(b" \n"), "text/plain")
            .await
            .unwrap();
        let err = artifacts.latest_version().await.unwrap_err().to_string();
        assert!(err.contains("models/LATEST: LATEST is empty"), "{err}");
        bucket
            .put("models/LATEST", Bytes::from_static(b"v2\n"), "text/plain")
            .await
            .unwrap();
        assert_eq!(artifacts.latest_version().await.unwrap(), "v2");

        bucket
            .put(
                "models/v2/item_embeddings.csv",
                Bytes::from_static(b"id,embedding\nS10_1678,\"[1,2]\"\n"),
                "text/csv",
            )
            .await
            .unwrap();
        let missing = artifacts.open("v2").await.err().unwrap();
        assert!(matches!(&missing, LoadError::VersionIncomplete { .. }));
        assert_eq!(
            missing.to_string(),
            "model version v2 has no user_embeddings.csv (memory://artifacts/models/v2/user_embeddings.csv): \
             train it first (`reco train`), or name a trained version with --model"
        );
        bucket
            .put(
                "models/v2/user_embeddings.csv",
                Bytes::from_static(b"id,embedding\n103,\"[3,4]\"\n"),
                "text/csv",
            )
            .await
            .unwrap();
        let source = artifacts.open("v2").await.unwrap();
        assert_eq!(source.model_version, "v2");
        assert_eq!(
            source.items.name,
            "memory://artifacts/models/v2/item_embeddings.csv"
        );
        let mut lines = source.users.reader.lines();
        let mut read = Vec::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            read.push(line);
        }
        assert_eq!(read, ["id,embedding", "103,\"[3,4]\""]);
    }
}
