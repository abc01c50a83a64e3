//! The Lambda's configuration, parsed once at start-up from the environment.

use reco_domain::Settings;
use reco_domain::artifacts::{MODEL_FILE, ModelPrefix};
use reco_domain::settings::{DEFAULT_MODEL_PREFIX, SettingsError, var};
use reco_domain::transform::{DEFAULT_KNN_K, MAX_KNN_K};

use crate::pg_index::DEFAULT_EXACT_KNN_MAX_ITEMS;

/// Everything the handler reads from the environment (database settings excepted: the
/// vector store reads those itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformConfig {
    /// Items per list (`RECO_KNN_K`).
    pub knn_k: usize,
    /// Catalogues of at most this many items are searched exactly in memory
    /// (`RECO_EXACT_KNN_MAX_ITEMS`, default [`DEFAULT_EXACT_KNN_MAX_ITEMS`]; 0: always pgvector's
    /// HNSW index).
    pub exact_knn_max_items: usize,
    /// Model version pinned by `RECO_MODEL_VERSION`; `None` follows the loaded embeddings.
    pub model_version_pin: Option<String>,
    /// Bucket of model artifacts (`RECO_ARTIFACTS_BUCKET`).
    pub artifacts_bucket: String,
    /// Key prefix of model versions (`RECO_MODEL_PREFIX`), ending in `/`.
    pub model_prefix: String,
}

impl TransformConfig {
    /// Reads and checks the settings; errors name the variable.
    pub fn from_settings(settings: &Settings) -> Result<Self, SettingsError> {
        let knn_k = settings.parse_or(var::RECO_KNN_K, DEFAULT_KNN_K)?;
        if knn_k == 0 || knn_k > MAX_KNN_K {
            return Err(SettingsError::Invalid {
                name: var::RECO_KNN_K.to_owned(),
                value: knn_k.to_string(),
                reason: format!("must be between 1 and {MAX_KNN_K}"),
            });
        }
        let model_prefix = ModelPrefix::new(
            settings
                .get(var::RECO_MODEL_PREFIX)
                .unwrap_or(DEFAULT_MODEL_PREFIX),
        )
        .as_str()
        .to_owned();
        Ok(Self {
            knn_k,
            exact_knn_max_items: settings
                .parse_or(var::RECO_EXACT_KNN_MAX_ITEMS, DEFAULT_EXACT_KNN_MAX_ITEMS)?,
            model_version_pin: settings.get(var::RECO_MODEL_VERSION).map(str::to_owned),
            artifacts_bucket: settings.require(var::RECO_ARTIFACTS_BUCKET)?.to_owned(),
            model_prefix,
        })
    }

    /// Key of model `version`'s artifact.
    pub fn model_key(&self, version: &str) -> String {
        ModelPrefix::new(&self.model_prefix).key(version, MODEL_FILE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_checks() {
        let mut settings = Settings::default();
        let err = TransformConfig::from_settings(&settings)
            .unwrap_err()
            .to_string();
        assert!(err.contains("RECO_ARTIFACTS_BUCKET"), "{err}");
        settings.set(var::RECO_ARTIFACTS_BUCKET, "b");
        settings.set(var::RECO_MODEL_PREFIX, "m");
        let config = TransformConfig::from_settings(&settings).unwrap();
        assert_eq!(config.knn_k, DEFAULT_KNN_K);
        assert_eq!(config.model_key("v1"), "m/v1/model.json");
        assert_eq!(config.model_version_pin, None);
        assert_eq!(config.exact_knn_max_items, DEFAULT_EXACT_KNN_MAX_ITEMS);
        settings.set(var::RECO_EXACT_KNN_MAX_ITEMS, "0");
        assert_eq!(
            TransformConfig::from_settings(&settings)
                .unwrap()
                .exact_knn_max_items,
            0
        );
        settings.set(var::RECO_EXACT_KNN_MAX_ITEMS, "many");
        let err = TransformConfig::from_settings(&settings)
            .unwrap_err()
            .to_string();
        assert!(err.contains("RECO_EXACT_KNN_MAX_ITEMS"), "{err}");
        settings.set(var::RECO_EXACT_KNN_MAX_ITEMS, "");
        settings.set(var::RECO_KNN_K, "0");
        let err = TransformConfig::from_settings(&settings)
            .unwrap_err()
            .to_string();
        assert!(err.contains("RECO_KNN_K"), "{err}");
    }
}
