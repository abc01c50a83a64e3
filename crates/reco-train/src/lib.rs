//! reco's trainer: implicit ALS for the id parts plus ridge feature towers, offline
//! evaluation against a most-popular baseline, and publication of the model version
//! (embeddings CSV + Parquet, `model.json`, `metrics.json`, then `LATEST`).
//!
//! Used by `reco train`, `reco eval` and the scheduled job binary `reco-train-job`.
//!
//! A training job flows through one file per step: [`read`] (newest snapshot, Parquet rows)
//! -> [`train`] (synchronous CPU work: the [`tuning`] search on a validation split, held-out
//! evaluation of the winner and of the live version, the full model) -> [`gate`] (challenger
//! against champion on the same held-out split) -> [`publish`] (the version's files, then `LATEST`),
//! joined by [`job::run`]. [`config`] holds the typed options and [`metrics`] `metrics.json`.

pub mod als;
pub mod config;
pub mod evaluation;
pub mod files;
pub mod gate;
pub mod interactions;
pub mod job;
pub mod metrics;
pub mod offline;
pub mod publish;
pub mod read;
pub mod snapshot;
pub mod split;
pub mod towers;
pub mod train;
pub mod tuning;

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
    Storage(#[from] reco_aws::StorageError),
    /// The model artifact failed its own checks.
    #[error(transparent)]
    Model(#[from] reco_domain::model::ModelError),
    /// A version cannot become the live one.
    #[error("model version {version} cannot go live: {reason}")]
    NotPromotable {
        /// The version.
        version: String,
        /// Why (missing, unreadable, or refused by the quality gate).
        reason: String,
    },
}

/// Runs CPU-bound `work` on tokio's blocking thread pool and waits for it; a panic in `work`
/// resumes on the caller.
pub(crate) async fn on_blocking_thread<T, F>(work: F) -> Result<T, TrainError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, TrainError> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(e) => match e.try_into_panic() {
            Ok(payload) => std::panic::resume_unwind(payload),
            Err(e) => panic!("blocking task cancelled by the runtime shutting down: {e}"),
        },
    }
}
