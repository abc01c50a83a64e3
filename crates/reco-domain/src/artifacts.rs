//! The model-artifact contract: where a model version's files live and what they are called.
//! The trainer writes this layout, the embeddings loader, the transform Lambda and `score-all`
//! read it; every key of a model version is built here and nowhere else.
//!
//! ```text
//! <artifacts bucket>/<model prefix>LATEST                       the live version (text), written last
//! <artifacts bucket>/<model prefix>LATEST.model.bin             the live version's model.bin, written just before LATEST
//! <artifacts bucket>/<model prefix><version>/model.json         ModelArtifact (both towers)
//! <artifacts bucket>/<model prefix><version>/model.bin          the same, compact binary (optional)
//! <artifacts bucket>/<model prefix><version>/metrics.json       evaluation, gate, timings
//! <artifacts bucket>/<model prefix><version>/item_embeddings.{csv,parquet}
//! <artifacts bucket>/<model prefix><version>/user_embeddings.{csv,parquet}
//! ```
//! CSV: `id,embedding` with pgvector text literals (items: `id,embedding,cold`), what both
//! pgvector loads read (the binary COPY loader, `reco load-embeddings`, and
//! `sql/embeddings.sql` through RDS's `aws_s3` import, which takes only text formats);
//! Parquet: `id` (Utf8 for items, Int64 for users) and `embedding` FixedSizeList<Float32, D>
//! (items also `cold` Boolean), what `score-all` reads (typed, columnar, a quarter of the
//! CSV's size to decode) and what Athena can query.
//!
//! `cold` marks a catalogue product nobody rated: its embedding comes from the item tower's
//! feature part alone (product line, scale, stock, prices), so it can still be recommended.
//! Files written before the flag existed have no `cold` column; readers take it as false.
//!
//! `LATEST.model.bin` is a copy of the live version's `model.bin` (its header names the
//! version), written each time `LATEST` moves, just before it: a transform Lambda's cold start
//! reads the live model in one GET instead of two (`LATEST`, then the version's file). It is a
//! file next to `LATEST`, not a version folder; a reader that needs the live version's name
//! reads `LATEST`, and a reader of the copy checks the version it names (after a failed move it
//! may name the version `LATEST` is about to name, or an older one).

/// Default key prefix of model versions (`RECO_MODEL_PREFIX`).
pub const DEFAULT_MODEL_PREFIX: &str = "models/";
/// The pointer to the live version.
pub const LATEST_FILE: &str = "LATEST";
/// Copy of the live version's [`MODEL_BIN_FILE`] next to [`LATEST_FILE`] (written before it).
pub const LATEST_MODEL_BIN_FILE: &str = "LATEST.model.bin";
/// The model artifact.
pub const MODEL_FILE: &str = "model.json";
/// The model artifact's compact binary copy (`reco_domain::model`), read first by the transform
/// Lambda; versions published before it have only `model.json`.
pub const MODEL_BIN_FILE: &str = "model.bin";
/// Evaluation and gate report of the version.
pub const METRICS_FILE: &str = "metrics.json";
/// Item embeddings, CSV.
pub const ITEM_EMBEDDINGS_CSV: &str = "item_embeddings.csv";
/// User embeddings, CSV.
pub const USER_EMBEDDINGS_CSV: &str = "user_embeddings.csv";
/// Item embeddings, Parquet.
pub const ITEM_EMBEDDINGS_PARQUET: &str = "item_embeddings.parquet";
/// User embeddings, Parquet.
pub const USER_EMBEDDINGS_PARQUET: &str = "user_embeddings.parquet";

/// Header of `user_embeddings.csv` (and of item files written before the cold-start flag).
pub const EMBEDDINGS_CSV_HEADER: &str = "id,embedding";
/// Header of `item_embeddings.csv`: the id, the embedding and the cold-start flag.
pub const ITEM_EMBEDDINGS_CSV_HEADER: &str = "id,embedding,cold";
/// Column (CSV, Parquet and the versioned pgvector item table) of the cold-start flag: `true`
/// for a product with no interaction, embedded from its catalogue features alone.
pub const COLD_COLUMN: &str = "cold";

/// A key prefix of model versions, normalised once: no leading `/`, one trailing `/` (or
/// empty, for versions at the bucket's root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPrefix(String);

impl ModelPrefix {
    /// `prefix` normalised (`models`, `/models/` and `models/` are the same prefix).
    pub fn new(prefix: &str) -> Self {
        let p = prefix.trim_matches('/');
        if p.is_empty() {
            Self(String::new())
        } else {
            Self(format!("{p}/"))
        }
    }

    /// The prefix text, ending in `/` unless empty.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Key of the `LATEST` pointer.
    pub fn latest_key(&self) -> String {
        format!("{}{LATEST_FILE}", self.0)
    }

    /// Key of the live version's `model.bin` copy (next to `LATEST`, not in a version folder).
    pub fn latest_model_bin_key(&self) -> String {
        format!("{}{LATEST_MODEL_BIN_FILE}", self.0)
    }

    /// Folder of `version` (ending in `/`).
    pub fn version_prefix(&self, version: &str) -> String {
        format!("{}{version}/", self.0)
    }

    /// Key of `file` in `version`.
    pub fn key(&self, version: &str, file: &str) -> String {
        format!("{}{version}/{file}", self.0)
    }
}

impl Default for ModelPrefix {
    fn default() -> Self {
        Self::new(DEFAULT_MODEL_PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_normalised_once() {
        for text in ["models", "models/", "/models/", "models//"] {
            assert_eq!(ModelPrefix::new(text).as_str(), "models/", "{text}");
        }
        assert_eq!(ModelPrefix::new("").latest_key(), "LATEST");
        assert_eq!(ModelPrefix::new("/").key("v1", MODEL_FILE), "v1/model.json");
        let p = ModelPrefix::default();
        assert_eq!(p.latest_key(), "models/LATEST");
        assert_eq!(p.latest_model_bin_key(), "models/LATEST.model.bin");
        assert_eq!(
            ModelPrefix::new("").latest_model_bin_key(),
            "LATEST.model.bin"
        );
        // A file next to LATEST: no version folder is a prefix of it.
        assert!(
            !p.latest_model_bin_key()
                .starts_with(&p.version_prefix("LATEST"))
        );
        assert_eq!(p.version_prefix("v1"), "models/v1/");
        assert_eq!(
            p.key("v1", USER_EMBEDDINGS_PARQUET),
            "models/v1/user_embeddings.parquet"
        );
    }
}
