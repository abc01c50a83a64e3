//! Errors of the vector store: query-time ([`StoreError`]) and load-time ([`LoadError`]).

use std::borrow::Cow;

/// Why a vector-store call failed. [`StoreError::is_retryable`] tells a caller (the Lambda)
/// whether the same call may succeed later (database unreachable) or never will (bad request).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or dropped the connection (network, TLS, pool timeout,
    /// server shutting down or out of connections). Retryable.
    #[error("vector database unreachable: {source}")]
    Unavailable {
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The request itself is wrong (e.g. a query vector whose dimension differs from the
    /// loaded embeddings). Not retryable.
    #[error("bad k-NN request: {reason}")]
    BadRequest {
        /// What was wrong, naming the request when known.
        reason: String,
    },
    /// No embeddings have been loaded into this database yet (`item_emb` does not exist).
    #[error("no embeddings loaded (run `reco load-embeddings` or sql/embeddings.sql first)")]
    NoActiveVersion,
    /// The connection settings are missing or malformed (e.g. the database secret).
    #[error("vector database settings: {reason}")]
    Config {
        /// What was wrong, naming the setting.
        reason: String,
    },
    /// Any other database error (a bug or a schema problem). Not retryable.
    #[error("vector database query failed: {source}")]
    Query {
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
}

impl StoreError {
    /// Whether retrying the same call later may succeed (the database was unreachable).
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(source: sqlx::Error) -> Self {
        match classify(&source) {
            ErrorClass::Unavailable => StoreError::Unavailable { source },
            ErrorClass::UndefinedTable => StoreError::NoActiveVersion,
            ErrorClass::BadData(message) => StoreError::BadRequest { reason: message },
            ErrorClass::Other => StoreError::Query { source },
        }
    }
}

enum ErrorClass {
    Unavailable,
    UndefinedTable,
    BadData(String),
    Other,
}

fn classify(error: &sqlx::Error) -> ErrorClass {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => ErrorClass::Unavailable,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or(Cow::Borrowed(""));
            match code.as_ref() {
                // Class 08 connection exception, 57P01..57P03 shutdown / cannot connect now,
                // 53300 too many connections (PostgreSQL "Appendix A. Error Codes").
                c if c.starts_with("08") => ErrorClass::Unavailable,
                "57P01" | "57P02" | "57P03" | "53300" => ErrorClass::Unavailable,
                "42P01" => ErrorClass::UndefinedTable,
                // Class 22 data exception: pgvector raises 22000 for "different vector
                // dimensions", and rejects NaN / infinite elements with class 22 too.
                c if c.starts_with("22") => ErrorClass::BadData(db.message().to_owned()),
                _ => ErrorClass::Other,
            }
        }
        _ => ErrorClass::Other,
    }
}

/// Where in an embeddings file a problem was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePosition {
    /// The file's name (e.g. `item_embeddings.csv` or its S3 URI).
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
    /// An embeddings file has a header other than `id,embedding` or no rows.
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
    /// Reading an embeddings file failed.
    #[error("reading {file} failed: {source}")]
    Read {
        /// The file.
        file: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Fetching model artifacts from S3 failed.
    #[error("fetching s3://{bucket}/{key} failed: {reason}")]
    S3 {
        /// The bucket.
        bucket: String,
        /// The object key.
        key: String,
        /// The SDK's error, rendered.
        reason: String,
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
