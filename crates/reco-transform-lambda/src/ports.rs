//! The capabilities the handler needs, as small traits: a neighbour index (the vector
//! database) and a model store (the artifacts bucket). Adapters implement them; the
//! in-memory ones in `reco_testkit::fakes` make handler tests fast.

use std::future::Future;

use reco_domain::recommendation::ScoredItem;
use reco_domain::transform::{CustomerEmbedder, KnnQuery};

/// The embeddings the index currently serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexVersion {
    /// Model the embeddings were produced by.
    pub model_version: String,
    /// Version of the loaded embeddings.
    pub embedding_version: String,
    /// Embedding dimension.
    pub dim: usize,
}

/// Why the index could not answer.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The database cannot be reached: the invocation fails so that Firehose retries it.
    #[error("vector database unreachable: {reason}")]
    Unavailable {
        /// The driver's message.
        reason: String,
    },
    /// The database answered but refused the request or failed otherwise.
    #[error("vector database refused the k-NN request: {reason}")]
    Rejected {
        /// The driver's message.
        reason: String,
    },
}

/// A k-NN index over item embeddings.
pub trait NeighbourIndex: Send + Sync {
    /// The active embeddings, `None` when nothing is loaded yet.
    fn active_version(
        &self,
    ) -> impl Future<Output = Result<Option<IndexVersion>, IndexError>> + Send;

    /// Answers every query (in order) with at most `k` items, in one round trip.
    fn knn_batch(
        &self,
        queries: &[KnnQuery],
        k: usize,
    ) -> impl Future<Output = Result<Vec<Vec<ScoredItem>>, IndexError>> + Send;
}

/// Why a model could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ModelLoadError {
    /// The artifact could not be fetched (missing object, unreachable bucket).
    #[error("cannot fetch model {version} from {location}: {reason}")]
    Fetch {
        /// The version asked for.
        version: String,
        /// Where it was looked for (e.g. `s3://bucket/models/v1/model.json`).
        location: String,
        /// The client's message.
        reason: String,
    },
    /// The artifact was fetched but does not parse or is inconsistent.
    #[error("model {version} at {location} is invalid: {reason}")]
    Invalid {
        /// The version asked for.
        version: String,
        /// Where it was read.
        location: String,
        /// The parser's message.
        reason: String,
    },
}

/// Where trained models are kept.
pub trait ModelStore: Send + Sync {
    /// The model type, able to embed a customer.
    type Model: CustomerEmbedder + Send + Sync + 'static;

    /// Loads model `version`.
    fn load(
        &self,
        version: &str,
    ) -> impl Future<Output = Result<Self::Model, ModelLoadError>> + Send;

    /// Dimension of the model's embeddings.
    fn dim(model: &Self::Model) -> usize;
}

impl<M: ModelStore> ModelStore for &M {
    type Model = M::Model;

    fn load(
        &self,
        version: &str,
    ) -> impl Future<Output = Result<Self::Model, ModelLoadError>> + Send {
        (**self).load(version)
    }

    fn dim(model: &Self::Model) -> usize {
        M::dim(model)
    }
}
