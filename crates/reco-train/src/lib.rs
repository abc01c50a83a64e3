//! reco's trainer: implicit ALS for the id parts plus ridge feature towers, offline
//! evaluation against a most-popular baseline, and publication of the model version
//! (embeddings CSV + Parquet, `model.json`, `metrics.json`, then `LATEST`).
//!
//! Used by `reco train`, `reco eval` and the scheduled job binary `reco-train-job`.

pub mod als;
pub mod evaluation;
pub mod files;
pub mod interactions;
pub mod job;
pub mod offline;
pub mod snapshot;
pub mod store;
pub mod towers;

/// What can go wrong while reading, training or publishing.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Input rows do not have the expected shape.
    #[error("{source_name}:{line}: {reason}")]
    Malformed {
        /// File or object holding the bad row.
        source_name: String,
        /// 1-based line (0 when not line-oriented, e.g. Parquet).
        line: usize,
        /// What was wrong.
        reason: String,
    },
    /// The input holds no usable rows.
    #[error("{source_name}: no training rows ({reason})")]
    Empty {
        /// The input.
        source_name: String,
        /// Why nothing was usable.
        reason: String,
    },
    /// A hyper-parameter is out of range.
    #[error("invalid training setting {name}={value}: {reason}")]
    InvalidConfig {
        /// Setting name.
        name: &'static str,
        /// Offending value.
        value: String,
        /// The allowed range.
        reason: &'static str,
    },
    /// Object storage failed.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The model artifact failed its own checks.
    #[error(transparent)]
    Model(#[from] reco_domain::model::ModelError),
}
