//! Model artifacts from the artifacts bucket: `<model prefix><version>/model.bin` (the compact
//! binary copy, the towers only: known customers' vectors are read from the vector database),
//! or `model.json` for versions published without it (layout: [`reco_domain::artifacts`]),
//! read through the object-store seam.
//!
//! At a cold start the function does not know which model it needs until the database says
//! which embeddings are active. [`S3ModelStore::prefetch`] fetches and parses a likely
//! version in the background meanwhile: the pinned one, else the live one, read in one GET
//! from `<model prefix>LATEST.model.bin` (the copy of the live version's `model.bin` that
//! publishing writes just before `LATEST`; its header names the version), or, when that copy
//! is missing or refused, the version `LATEST` names. The [`ModelStore::load`] of that same
//! version then takes the prefetched model instead of fetching it again; a load of any other
//! version ignores (and stops) the prefetch, so a copy of another version than the active
//! embeddings' is never served for them.

use std::sync::{Arc, Mutex, OnceLock};

use reco_aws::Bucket;
use reco_domain::artifacts::{LATEST_MODEL_BIN_FILE, MODEL_BIN_FILE, MODEL_FILE, ModelPrefix};
use reco_domain::model::{ModelArtifact, ModelError};
use tokio::task::JoinHandle;

use crate::ports::{ModelLoadError, ModelStore};

/// Loads model artifacts from the artifacts bucket.
#[derive(Debug, Clone)]
pub struct S3ModelStore {
    bucket: Bucket,
    prefix: ModelPrefix,
    /// A model being fetched ahead of its first load; shared by the store's clones.
    ahead: Arc<Mutex<Option<Prefetch>>>,
}

/// Which version to fetch ahead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrefetchVersion {
    /// The live version (written by `reco train`, read by `reco load-embeddings`: normally
    /// the version whose embeddings are active): its copy next to `LATEST`, else the version
    /// `LATEST` names.
    Latest,
    /// This version (the function's pinned one).
    Exactly(String),
}

/// A background fetch: the version, once known, and the task.
#[derive(Debug)]
struct Prefetch {
    version: Arc<OnceLock<String>>,
    task: JoinHandle<Option<ModelArtifact>>,
}

impl S3ModelStore {
    /// A store reading model versions under `prefix` in `bucket`.
    pub fn new(bucket: Bucket, prefix: ModelPrefix) -> Self {
        Self {
            bucket,
            prefix,
            ahead: Arc::default(),
        }
    }

    /// Starts fetching and parsing `version` in the background (on the current tokio
    /// runtime), replacing an earlier prefetch. A failed prefetch (no live copy and no
    /// `LATEST`, a missing or invalid model) only leaves the later [`ModelStore::load`] to
    /// fetch as usual.
    pub fn prefetch(&self, version: PrefetchVersion) {
        let known = Arc::new(OnceLock::new());
        let store = self.clone();
        let version_slot = known.clone();
        let task = tokio::spawn(async move {
            let started = std::time::Instant::now();
            if version == PrefetchVersion::Latest
                && let Some(model) = store.live_copy().await
            {
                version_slot.get_or_init(|| model.model_version().to_owned());
                // Logged so that cold-start measurements see the one GET and the parse.
                tracing::info!(
                    model_version = %model.model_version(),
                    elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
                    file = LATEST_MODEL_BIN_FILE,
                    "model prefetched"
                );
                return Some(model);
            }
            let version = match version {
                PrefetchVersion::Exactly(version) => version,
                PrefetchVersion::Latest => store.latest_version().await?,
            };
            let named = started.elapsed();
            let version = version_slot.get_or_init(|| version).clone();
            match store.fetch(&version).await {
                Ok(model) => {
                    // Logged so that cold-start measurements see the fetch and parse (and
                    // the read of LATEST before them).
                    tracing::info!(
                        model_version = %version,
                        elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
                        latest_ms = named.as_secs_f64() * 1e3,
                        "model prefetched"
                    );
                    Some(model)
                }
                Err(error) => {
                    tracing::info!(error = %error, "model prefetch failed; the model is fetched when needed");
                    None
                }
            }
        });
        let previous = self
            .ahead
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(Prefetch {
                version: known,
                task,
            });
        if let Some(previous) = previous {
            previous.task.abort();
        }
    }

    /// The live version's model from its copy next to `LATEST`; `None` (logged) when the copy
    /// is missing (published before it existed) or refused.
    async fn live_copy(&self) -> Option<ModelArtifact> {
        let started = std::time::Instant::now();
        let key = self.prefix.latest_model_bin_key();
        let bytes = match self.bucket.get(&key).await {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::info!(error = %error.reason, copy = %self.bucket.location(&key), "no live model copy; reading LATEST");
                return None;
            }
        };
        let parsed = self
            .parse(
                "LATEST",
                &key,
                bytes,
                started,
                ModelArtifact::from_bin_slice,
            )
            .await;
        match parsed {
            Ok(model) => Some(model),
            Err(error) => {
                tracing::warn!(error = %error, "live model copy refused; reading LATEST");
                None
            }
        }
    }

    /// The version `LATEST` names; `None` (logged) when it cannot be read.
    async fn latest_version(&self) -> Option<String> {
        let key = self.prefix.latest_key();
        let text = match self.bucket.get(&key).await {
            Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_owned(),
            Err(error) => {
                tracing::info!(error = %error.reason, pointer = %self.bucket.location(&key), "no model prefetch: cannot read LATEST");
                return None;
            }
        };
        (!text.is_empty()).then_some(text)
    }

    /// The prefetched model when it is `version`'s (waiting for it if still on its way).
    async fn take_prefetched(&self, version: &str) -> Option<ModelArtifact> {
        let ahead = self
            .ahead
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()?;
        match ahead.version.get() {
            // Another version: stop fetching it.
            Some(known) if known != version => {
                ahead.task.abort();
                None
            }
            // This version, or not yet known (LATEST still being read): wait for it.
            _ => {
                let model = ahead.task.await.ok().flatten()?;
                (model.model_version() == version).then_some(model)
            }
        }
    }

    /// Fetches and parses `version`'s model: its compact `model.bin` when the version has one
    /// (written by `reco train` since the binary copy exists), else, or when that copy cannot
    /// be read or is refused (logged), its `model.json`. The parse runs on a blocking thread,
    /// not on a runtime worker that also drives the database's connection during a cold start.
    async fn fetch(&self, version: &str) -> Result<ModelArtifact, ModelLoadError> {
        let started = std::time::Instant::now();
        let bin_key = self.prefix.key(version, MODEL_BIN_FILE);
        match self.bucket.get(&bin_key).await {
            Ok(bytes) => match self
                .parse(
                    version,
                    &bin_key,
                    bytes,
                    started,
                    ModelArtifact::from_bin_slice,
                )
                .await
            {
                Ok(model) => return Ok(model),
                Err(error) => {
                    tracing::warn!(error = %error, "model.bin refused; reading model.json instead");
                }
            },
            // A version published before the binary copy existed.
            Err(error) if error.is_not_found() => {
                tracing::info!(model_version = %version, "no model.bin; reading model.json");
            }
            Err(error) => {
                tracing::warn!(error = %error, "cannot fetch model.bin; reading model.json instead");
            }
        }
        let key = self.prefix.key(version, MODEL_FILE);
        let bytes = self
            .bucket
            .get(&key)
            .await
            .map_err(|e| ModelLoadError::Fetch {
                version: version.to_owned(),
                location: self.bucket.location(&key),
                reason: e.reason,
            })?;
        self.parse(
            version,
            &key,
            bytes,
            started,
            ModelArtifact::from_json_slice,
        )
        .await
    }

    /// Parses the fetched `bytes` of `key` with `parse` on a blocking thread; logs the fetch
    /// (since `started`) and parse times.
    async fn parse<B: AsRef<[u8]> + Send + 'static>(
        &self,
        version: &str,
        key: &str,
        bytes: B,
        started: std::time::Instant,
        parse: fn(&[u8]) -> Result<ModelArtifact, ModelError>,
    ) -> Result<ModelArtifact, ModelLoadError> {
        let fetched = started.elapsed();
        let size = bytes.as_ref().len();
        let invalid = |reason: String| ModelLoadError::Invalid {
            version: version.to_owned(),
            location: self.bucket.location(key),
            reason,
        };
        let model = tokio::task::spawn_blocking(move || parse(bytes.as_ref()))
            .await
            .map_err(|e| invalid(format!("the parse did not finish: {e}")))?
            .map_err(|e| invalid(e.to_string()))?;
        // Logged so that cold-start measurements can tell the fetch from the parse.
        tracing::info!(
            model_version = %model.model_version(),
            file = key.rsplit('/').next().unwrap_or(key),
            bytes = size,
            fetch_ms = fetched.as_secs_f64() * 1e3,
            parse_ms = (started.elapsed() - fetched).as_secs_f64() * 1e3,
            "model fetched and parsed"
        );
        Ok(model)
    }
}

impl ModelStore for S3ModelStore {
    type Model = ModelArtifact;

    async fn load(&self, version: &str) -> Result<ModelArtifact, ModelLoadError> {
        if let Some(model) = self.take_prefetched(version).await {
            return Ok(model);
        }
        self.fetch(version).await
    }

    fn dim(model: &ModelArtifact) -> usize {
        model.dim()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;

    use super::*;

    /// A valid `model.json` of `version` (dimension 2, no features, no known ids).
    fn model_json(version: &str) -> Bytes {
        let tower = serde_json::json!({
            "categorical": [], "numeric": [], "weights": [0.5], "ids": [], "id_parts": []
        });
        Bytes::from(
            serde_json::json!({
                "format_version": 1, "model_version": version, "dim": 2, "factors": 1,
                "user_tower": tower, "item_tower": tower, "item_max_norm": 1.0,
                "training": {
                    "method": "test", "seed": 0, "iterations": 1, "regularization": 0.1,
                    "alpha": 1.0, "feature_regularization": 0.1, "source": "test", "rows": 0,
                    "users": 0, "items": 0, "trained_at": "2026-12-03T00:00:00Z", "final_loss": 0.0
                }
            })
            .to_string(),
        )
    }

    async fn put(bucket: &Bucket, key: &str, body: Bytes) {
        bucket.put(key, body, "application/json").await.unwrap();
    }

    /// Waits until the prefetch task has finished (fetched and parsed, or failed).
    async fn prefetch_done(store: &S3ModelStore) {
        for _ in 0..500 {
            let done = store
                .ahead
                .lock()
                .unwrap()
                .as_ref()
                .is_none_or(|a| a.task.is_finished());
            if done {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        panic!("the prefetch did not finish within a second");
    }

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

    #[tokio::test]
    async fn model_bin_is_preferred_and_model_json_read_without_it_or_when_it_is_refused() {
        let bucket = Bucket::in_memory("artifacts");
        let store = S3ModelStore::new(bucket.clone(), ModelPrefix::new("models"));
        let bin = |version| {
            let model = ModelArtifact::from_json_slice(&model_json(version)).unwrap();
            Bytes::from(model.to_bin_vec().unwrap())
        };
        // Only model.bin can answer: model.json is garbage.
        put(&bucket, "models/v1/model.bin", bin("v1")).await;
        put(&bucket, "models/v1/model.json", Bytes::from_static(b"{")).await;
        let model = store.load("v1").await.unwrap();
        assert_eq!((model.model_version(), model.dim()), ("v1", 2));
        // No model.bin (a version published before it): model.json.
        put(&bucket, "models/v2/model.json", model_json("v2")).await;
        assert_eq!(store.load("v2").await.unwrap().model_version(), "v2");
        // A truncated model.bin is refused and model.json read instead.
        let torn = bin("v3").slice(..20);
        put(&bucket, "models/v3/model.bin", torn).await;
        put(&bucket, "models/v3/model.json", model_json("v3")).await;
        assert_eq!(store.load("v3").await.unwrap().model_version(), "v3");
        // Both unusable: model.json's error, as before the binary copy.
        put(
            &bucket,
            "models/v4/model.bin",
            Bytes::from_static(b"RECOMODL"),
        )
        .await;
        put(&bucket, "models/v4/model.json", Bytes::from_static(b"[]")).await;
        let err = store.load("v4").await.unwrap_err();
        assert!(matches!(err, ModelLoadError::Invalid { .. }), "{err}");
        assert!(err.to_string().contains("models/v4/model.json"), "{err}");
    }

    #[tokio::test]
    async fn the_model_latest_names_is_fetched_ahead_and_served_by_the_load_of_its_version() {
        let bucket = Bucket::in_memory("artifacts");
        put(&bucket, "models/LATEST", Bytes::from_static(b"v1\n")).await;
        put(&bucket, "models/v1/model.json", model_json("v1")).await;
        let store = S3ModelStore::new(bucket.clone(), ModelPrefix::new("models"));
        store.prefetch(PrefetchVersion::Latest);
        prefetch_done(&store).await;
        // Gone from the bucket: only the prefetched copy can answer.
        put(&bucket, "models/v1/model.json", Bytes::from_static(b"{")).await;
        let model = store.load("v1").await.unwrap();
        assert_eq!((model.model_version(), model.dim()), ("v1", 2));
        // Taken once: the next load fetches (and finds the garbage).
        let err = store.load("v1").await.unwrap_err();
        assert!(matches!(err, ModelLoadError::Invalid { .. }), "{err}");
    }

    #[tokio::test]
    async fn a_load_of_another_version_ignores_the_prefetch() {
        let bucket = Bucket::in_memory("artifacts");
        put(&bucket, "models/LATEST", Bytes::from_static(b"v2")).await;
        put(&bucket, "models/v1/model.json", model_json("v1")).await;
        put(&bucket, "models/v2/model.json", model_json("v2")).await;
        let store = S3ModelStore::new(bucket.clone(), ModelPrefix::new("models"));
        store.prefetch(PrefetchVersion::Latest);
        // Whether the prefetch has finished or not, the load answers with its own version.
        assert_eq!(store.load("v1").await.unwrap().model_version(), "v1");
        store.prefetch(PrefetchVersion::Exactly("v1".into()));
        prefetch_done(&store).await;
        assert_eq!(store.load("v2").await.unwrap().model_version(), "v2");
        assert!(
            store.ahead.lock().unwrap().is_none(),
            "the prefetch was not dropped"
        );
    }

    #[tokio::test]
    async fn a_failed_prefetch_leaves_the_load_its_own_fetch_and_errors() {
        let bucket = Bucket::in_memory("artifacts");
        let store = S3ModelStore::new(bucket.clone(), ModelPrefix::new("models"));
        // No LATEST: nothing is fetched ahead; the model appears afterwards.
        store.prefetch(PrefetchVersion::Latest);
        prefetch_done(&store).await;
        put(&bucket, "models/v1/model.json", model_json("v1")).await;
        assert_eq!(store.load("v1").await.unwrap().model_version(), "v1");
        // A pinned version that is invalid: the load reports it as without the prefetch.
        put(&bucket, "models/v3/model.json", Bytes::from_static(b"[]")).await;
        store.prefetch(PrefetchVersion::Exactly("v3".into()));
        prefetch_done(&store).await;
        let err = store.load("v3").await.unwrap_err();
        assert!(matches!(err, ModelLoadError::Invalid { .. }), "{err}");
    }

    /// `version`'s `model.bin` bytes (the model of [`model_json`]).
    fn model_bin(version: &str) -> Bytes {
        let model = ModelArtifact::from_json_slice(&model_json(version)).unwrap();
        Bytes::from(model.to_bin_vec().unwrap())
    }

    #[tokio::test]
    async fn the_live_copy_is_read_in_one_get_without_latest() {
        let bucket = Bucket::in_memory("artifacts");
        // Only the copy: no LATEST, no version folder.
        put(&bucket, "models/LATEST.model.bin", model_bin("v1")).await;
        let store = S3ModelStore::new(bucket.clone(), ModelPrefix::new("models"));
        store.prefetch(PrefetchVersion::Latest);
        prefetch_done(&store).await;
        let model = store.load("v1").await.unwrap();
        assert_eq!((model.model_version(), model.dim()), ("v1", 2));
        // Taken once: the next load reads the version folder (empty here).
        let err = store.load("v1").await.unwrap_err();
        assert!(err.to_string().contains("models/v1/model.json"), "{err}");
        // A pinned version does not read the copy.
        store.prefetch(PrefetchVersion::Exactly("v1".into()));
        prefetch_done(&store).await;
        assert!(store.load("v1").await.is_err());
    }

    #[tokio::test]
    async fn a_missing_or_refused_live_copy_falls_back_to_latest() {
        let bucket = Bucket::in_memory("artifacts");
        put(&bucket, "models/LATEST", Bytes::from_static(b"v2")).await;
        put(&bucket, "models/v2/model.bin", model_bin("v2")).await;
        let store = S3ModelStore::new(bucket.clone(), ModelPrefix::new("models"));
        let torn = model_bin("v2").slice(..30);
        for copy in [None, Some(torn), Some(Bytes::from_static(b"{}"))] {
            if let Some(copy) = copy {
                put(&bucket, "models/LATEST.model.bin", copy).await;
            }
            store.prefetch(PrefetchVersion::Latest);
            prefetch_done(&store).await;
            // Gone from the version folder: only the prefetch (through LATEST) can answer.
            bucket
                .delete(&["models/v2/model.bin".to_owned()])
                .await
                .unwrap();
            assert_eq!(store.load("v2").await.unwrap().model_version(), "v2");
            put(&bucket, "models/v2/model.bin", model_bin("v2")).await;
        }
    }

    #[tokio::test]
    async fn a_live_copy_of_another_version_is_not_served_for_the_active_one() {
        let bucket = Bucket::in_memory("artifacts");
        // A copy of v1 while the active embeddings are v2's (say a move of LATEST that
        // failed half-way, or embeddings loaded from another version).
        put(&bucket, "models/LATEST.model.bin", model_bin("v1")).await;
        put(&bucket, "models/LATEST", Bytes::from_static(b"v1")).await;
        put(&bucket, "models/v2/model.json", model_json("v2")).await;
        let store = S3ModelStore::new(bucket.clone(), ModelPrefix::new("models"));
        store.prefetch(PrefetchVersion::Latest);
        // Finished or not, the load of v2 answers v2, and the prefetch is dropped.
        let model = store.load("v2").await.unwrap();
        assert_eq!(model.model_version(), "v2");
        assert!(store.ahead.lock().unwrap().is_none());
        store.prefetch(PrefetchVersion::Latest);
        prefetch_done(&store).await;
        assert_eq!(store.load("v2").await.unwrap().model_version(), "v2");
    }
}
