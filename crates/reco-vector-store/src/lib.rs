//! reco's vector store on PostgreSQL + pgvector.
//!
//! - **Schema** ([`schema`]): readers query the views `item_emb(id varchar, embedding vector(D))`
//!   and `user_emb(id int, embedding vector(D))`; each load fills versioned tables behind them
//!   and `reco_embedding_versions` records the active model and embedding version.
//! - **Loading** ([`VectorStore::load_version`], [`VectorStore::load_from_s3`]): embeddings CSV
//!   -> binary `COPY` -> primary keys + HNSW (cosine) index -> atomic swap, in one transaction.
//! - **Querying** ([`VectorStore::knn_batch`]): a whole batch of k-NN requests (query vectors or
//!   "similar to these items", each with exclusions) in one statement served by the HNSW index.
//! - **Exact search in memory** ([`VectorStore::item_catalogue`], [`ExactIndex`]): a small
//!   catalogue read once per embedding version and searched by brute force, same answers.
//! - **Connecting** ([`connect_options`]): `RECO_PG_URL` locally, the RDS secret on AWS.

mod connection;
mod copy_binary;
pub mod csv;
mod error;
mod exact;
mod knn;
mod loader;
mod options;
mod s3_source;
pub mod schema;
mod store;

pub use connection::{PgSecret, connect_options, connect_options_from_secret};
pub use error::{FilePosition, LoadError, StoreError};
pub use exact::ExactIndex;
pub use knn::{KnnRequest, ScoredItem};
pub use loader::{EmbeddingFile, EmbeddingSource, LoadReport};
pub use options::{
    DEFAULT_EF_SEARCH, DEFAULT_KNN_K, DEFAULT_KNN_PARALLELISM, DEFAULT_MAINTENANCE_WORK_MEM,
    EF_SEARCH_RANGE, KNN_PART_MIN_REQUESTS, MAX_K, StoreOptions, knn_k,
};
pub use s3_source::{ITEM_EMBEDDINGS_FILE, LATEST_FILE, ModelArtifacts, USER_EMBEDDINGS_FILE};
pub use store::{ActiveVersion, VectorStore};
