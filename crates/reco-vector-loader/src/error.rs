//! Why a load failed. The active version is always left untouched.

use reco_aws::StorageError;
use reco_vector_store::StoreError;

/// Where in an embeddings file a problem was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePosition {
    /// The file's name (e.g. `item_embeddings.csv` or its `s3://` location).
    pub file: String,
    /// 1-based line number (the header is line 1).
    pub line: u64,
}

impl std::fmt::Display for FilePosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// Why loading a model version's embeddings failed. The active version is left untouched.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A line of an embeddings file is malformed (bad literal, wrong dimension, duplicate id, ...).
    #[error("{at}: {reason}")]
    Malformed {
        /// File and line of the offending record.
        at: FilePosition,
        /// What was wrong.
        reason: String,
    },
    /// A file has the wrong shape: an embeddings file with a header other than
    /// `id,embedding` or no rows, an empty `LATEST`.
    #[error("{file}: {reason}")]
    BadFile {
        /// The file.
        file: String,
        /// What was wrong.
        reason: String,
    },
    /// Item and user embeddings disagree on the dimension.
    #[error("dimension mismatch: item embeddings have {items}, user embeddings have {users}")]
    DimensionMismatch {
        /// Dimension of the item embeddings.
        items: usize,
        /// Dimension of the user embeddings.
        users: usize,
    },
    /// The database rejected or could not perform a step of the load.
    #[error("loading embeddings failed while {step}: {source}")]
    Database {
        /// The step (e.g. "building the HNSW index").
        step: &'static str,
        /// The database error.
        #[source]
        source: StoreError,
    },
    /// Reading an embeddings file failed part-way.
    #[error("reading {file} failed: {source}")]
    Read {
        /// The file.
        file: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Opening a model artifact in the object store failed (`get s3://bucket/key failed: ...`).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A file the load needs (`model.json` or an embeddings file) is not in the version's
    /// folder: the version was not trained (or not completely published).
    #[error(
        "model version {version} has no {file} ({location}): train it first (`reco train`), or name a trained version with --model"
    )]
    VersionIncomplete {
        /// The model version.
        version: String,
        /// The missing file's name.
        file: &'static str,
        /// Where it was looked for.
        location: String,
    },
    /// The embeddings files do not have the dimension the version's `model.json` declares.
    #[error(
        "model version {version}: model.json has dimension {model_dim} but {file} has {file_dim}: the files do not belong together; train the version again (`reco train`)"
    )]
    ModelDimensionMismatch {
        /// The model version.
        version: String,
        /// Dimension in `model.json`.
        model_dim: usize,
        /// The embeddings file that disagrees.
        file: String,
        /// Its dimension.
        file_dim: usize,
    },
    /// A model version name is not acceptable.
    #[error("invalid model version {version:?}: {reason}")]
    InvalidVersion {
        /// The offending name.
        version: String,
        /// Why it was refused.
        reason: String,
    },
}

impl LoadError {
    pub(crate) fn db(step: &'static str) -> impl FnOnce(sqlx::Error) -> LoadError {
        move |e| LoadError::Database {
            step,
            source: StoreError::from(e),
        }
    }
}
