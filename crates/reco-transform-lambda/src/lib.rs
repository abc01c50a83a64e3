//! reco's Firehose transformation Lambda: embeds each click event with the trained user
//! tower and asks the vector database for recommendations, one batched k-NN per invocation.
//!
//! The per-record work is the pure transform in `reco_domain::transform`; this crate holds
//! the handler ([`handler`]), the capabilities it needs ([`ports`]), their adapters
//! ([`pg_index`], [`s3_models`]), the in-memory partitioned replica of large catalogues
//! ([`replica`]), the configuration ([`config`]), and the resilience layers
//! the handler uses: bounded retries within the invocation's deadline ([`retry`]) and
//! per-query isolation of refused k-NN queries ([`isolate`]). In-memory adapters for
//! tests are in `reco_testkit::fakes`.

pub mod config;
pub mod customer_vectors;
pub mod experiments;
pub mod handler;
pub mod isolate;
pub mod knn_cache;
pub mod pg_index;
pub mod ports;
pub mod replica;
pub mod retry;
pub mod s3_models;

pub use config::{TransformArgs, TransformConfig, TransformOptions};
pub use handler::{
    DatabaseReport, ExperimentCounts, HandlerError, InvocationCounts, Transformed, Transformer,
    function_handler, handle_invocation,
};
pub use retry::{Deadline, RetryPolicy};
