//! reco's vector store on PostgreSQL + pgvector: the READ side, what the transform Lambda and
//! the scoring jobs link. Loading versions (binary `COPY`, HNSW build, atomic swap, model
//! artifacts on S3) is the `reco-vector-loader` crate.
//!
//! - **Schema** ([`schema`]): readers query the views `item_emb(id varchar, embedding vector(D))`
//!   and `user_emb(id int, embedding vector(D))`; each load fills versioned tables behind them
//!   and `reco_embedding_versions` records the active model and embedding version
//!   ([`VectorStore::active_version`]).
//! - **Querying** ([`VectorStore::knn_batch`]): a whole batch of k-NN requests (query vectors or
//!   "similar to these items", each with exclusions) in one statement served by the HNSW index;
//!   [`VectorStore::knn_batch_in_version`] reads one version's table, so answers match the
//!   model that embedded the queries; [`validate_request`] names a request the database
//!   would refuse before it can fail a batch.
//! - **Neighbour lists** ([`VectorStore::item_neighbours_in_version`]): given items' embeddings
//!   and their nearest items with embeddings, for clients that cache and merge answers.
//! - **Exact search in memory** ([`VectorStore::item_catalogue`], [`ExactIndex`]): a small
//!   catalogue read once per embedding version and searched by brute force, same answers.
//! - **Partitioned search in memory** ([`IvfIndex`]): a large catalogue grouped into k-means
//!   lists, each query scoring its `nprobe` nearest lists, `nprobe` calibrated per recall
//!   target against exact search ([`RecallSample`]).
//! - **Connecting** ([`connect_options`]): a URL locally, the RDS secret over TLS on AWS.

mod connection;
mod error;
mod exact;
mod ivf;
mod knn;
mod neighbours;
mod options;
pub mod schema;
mod store;

pub use connection::{PgSecret, connect_options, connect_options_from_secret};
pub use error::StoreError;
pub use exact::ExactIndex;
pub use ivf::{
    CALIBRATION_QUERIES, DEFAULT_IVF_SEED, IvfIndex, IvfParams, KMEANS_ITERATIONS,
    KMEANS_SAMPLE_PER_LIST, RecallSample,
};
pub use knn::{KnnRequest, MAX_ITEM_ID_BYTES, MAX_VECTOR_DIM, ScoredItem, validate_request};
pub use neighbours::{ItemNeighbours, Neighbour};
pub use options::{
    DEFAULT_EF_SEARCH, DEFAULT_KNN_K, DEFAULT_KNN_PARALLELISM, EF_SEARCH_RANGE,
    KNN_PART_MIN_REQUESTS, MAX_K, StoreOptions,
};
pub use reco_config::groups::PgTarget;
pub use store::{ActiveVersion, VectorStore};
