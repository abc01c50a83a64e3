//! The capabilities the handler needs, as small traits: a neighbour index (the vector
//! database) and a model store (the artifacts bucket). Adapters implement them; the
//! in-memory ones in `reco_testkit::fakes` make handler tests fast.

use std::collections::HashMap;
use std::future::Future;

use reco_domain::transform::{CustomerEmbedder, KnnAnswer, KnnQuery};

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

/// Why the index could not answer a whole batch. A query the database refuses on its own is
/// not this: it is answered `Err(QueryRejected)` in its place and the others are answered.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The database cannot be reached: the handler retries within the invocation's deadline,
    /// then fails the invocation so that Firehose retries it.
    #[error("vector database unreachable: {reason}")]
    Unavailable {
        /// The driver's message.
        reason: String,
    },
    /// The database refused the credentials (rotated password): the handler asks the index
    /// to re-read them once ([`NeighbourIndex::refresh_credentials`]) and retries.
    #[error("vector database refused the credentials: {reason}")]
    Authentication {
        /// The driver's message.
        reason: String,
    },
    /// The embeddings version asked for is gone (a newer load dropped its table): the
    /// handler reads the active version and its model again and redoes the batch.
    #[error("embeddings version {embedding_version} is no longer loaded")]
    VersionGone {
        /// The version that was asked for.
        embedding_version: String,
    },
    /// The database failed the request for a reason no retry fixes (a bug or a schema
    /// problem; not one query's bad value).
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

    /// Answers every query (in order) with at most `k` items of `version`'s embeddings (never
    /// another version's: [`IndexError::VersionGone`] once it is gone), in one round trip
    /// when no query is refused. Each answer is the query's own: a query the database cannot
    /// take fails alone, with its reason.
    fn knn_batch(
        &self,
        version: &IndexVersion,
        queries: &[KnnQuery],
        k: usize,
    ) -> impl Future<Output = Result<Vec<KnnAnswer>, IndexError>> + Send;

    /// The loaded embeddings of `model_version`, active or not (`reco load-embeddings
    /// --inactive`): what an experiment's treatment is answered from; `None` when that
    /// model's embeddings are not loaded. Indexes holding one version only answer with the
    /// active version when it is that model's.
    fn loaded_version_of(
        &self,
        model_version: &str,
    ) -> impl Future<Output = Result<Option<IndexVersion>, IndexError>> + Send {
        async move {
            Ok(self
                .active_version()
                .await?
                .filter(|v| v.model_version == model_version))
        }
    }

    /// The stored embeddings of `customers` in `version` (what the daily training computed
    /// for the customers it knows): the model a function loads holds the towers only, so a
    /// known customer's vector is read here, a customer absent from the answer is embedded
    /// from the event's features. Fails with [`IndexError::VersionGone`] once `version` is
    /// gone. Indexes that hold no customer embeddings answer with none.
    fn customer_vectors(
        &self,
        version: &IndexVersion,
        customers: &[i64],
    ) -> impl Future<Output = Result<HashMap<i64, Vec<f32>>, IndexError>> + Send {
        let _ = (version, customers);
        async { Ok(HashMap::new()) }
    }

    /// Re-reads the credentials (after [`IndexError::Authentication`]); `Ok(true)` when they
    /// changed. Indexes without credentials have nothing to re-read.
    fn refresh_credentials(&self) -> impl Future<Output = Result<bool, IndexError>> + Send {
        async { Ok(false) }
    }
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
