//! reco's embeddings loader: a model version's embeddings -> PostgreSQL + pgvector, made the
//! active version atomically. Used by `reco load-embeddings` (and jobs); readers link only
//! `reco-vector-store`.
//!
//! - **Source** ([`ModelArtifacts`]): the trainer's `item_embeddings.csv` and
//!   `user_embeddings.csv` of a version (default: the one `LATEST` names), streamed from the
//!   object store; any [`EmbeddingSource`] of buffered readers can be loaded.
//! - **Guard** ([`ModelArtifacts::open_checked`], [`PreparedSource`]): before the database
//!   is touched, the version's `model.json` must exist and declare the dimension of both
//!   files' first rows; a version that was not (completely) trained is refused by name.
//! - **Load** ([`Loader::load_version`]): CSV ([`csv`]) parsed in parallel blocks -> binary
//!   `COPY` ([`copy_binary`]) into new versioned tables -> primary keys + HNSW (cosine) index,
//!   in one transaction under an advisory lock (waited for at most
//!   [`schema::LOAD_LOCK_TIMEOUT`]; a killed load's lock and tables go with its connection).
//! - **Swap**: in that same transaction the views `item_emb` / `user_emb` are re-pointed and the
//!   version marked active; old versions are dropped afterwards, except the versions a running
//!   A/B experiment names and versions staged after the active one ([`Retention`]). With
//!   [`Loader::inactive`] the version is loaded and recorded but not swapped in (an
//!   experiment's treatment).
//!
//! Progress is reported with `tracing` events; the caller shows the [`LoadReport`].

mod artifacts;
mod copy;
pub mod copy_binary;
pub mod csv;
mod encode;
mod error;
mod loader;
mod records;
pub mod schema;
mod swap;

pub use artifacts::ModelArtifacts;
pub use error::{FilePosition, LoadError};
pub use loader::{EmbeddingFile, EmbeddingSource, LoadReport, Loader, PreparedSource, Retention};
pub use schema::DEFAULT_MAINTENANCE_WORK_MEM;
