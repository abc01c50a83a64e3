//! The Lambda's configuration: one typed struct built by clap from the environment (flags work
//! too, for tools that run the binary by hand), and the plain values the handler is built from.
//!
//! Each option's value name is its variable's name, so an invalid value is reported as, e.g.,
//! `invalid value '0' for '--knn-k <RECO_KNN_K>'`.

use clap::{Args, Parser};
use reco_config::{AwsArgs, ConfigError, ModelStoreArgs, PgArgs, var};
use reco_domain::artifacts::{MODEL_FILE, ModelPrefix};
use reco_domain::transform::{DEFAULT_KNN_K, MAX_KNN_K};
use reco_vector_store::{
    DEFAULT_EF_SEARCH, DEFAULT_KNN_PARALLELISM, EF_SEARCH_RANGE, StoreError, StoreOptions,
};

use crate::customer_vectors::DEFAULT_CUSTOMER_VECTOR_CACHE;
use crate::knn_cache::DEFAULT_KNN_CACHE_ITEMS;
use crate::pg_index::DEFAULT_EXACT_KNN_MAX_ITEMS;
use crate::replica::{DEFAULT_KNN_RECALL_TARGET, DEFAULT_MEMORY_INDEX_MAX_MB};
use crate::retry::RetryPolicy;

/// Time an invocation has when no Lambda runtime gives a deadline (the local Firehose,
/// benchmarks): the deployed transform Lambda's default timeout (`transform_timeout` in
/// `terraform/modules/streaming-inference/variables.tf`).
pub const DEFAULT_INVOCATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// A recall target: a number in (0, 1].
fn parse_recall_target(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(t) if t > 0.0 && t <= 1.0 => Ok(t),
        _ => Err(format!("{value:?} is not a recall within (0, 1]")),
    }
}

/// The transform's own options, shared by the Lambda ([`TransformConfig`]) and the local
/// Firehose (`reco firehose-local` flattens this group too).
#[derive(Debug, Clone, Args)]
pub struct TransformArgs {
    /// Items per recommendation list.
    #[arg(
        long = "knn-k",
        env = var::RECO_KNN_K,
        value_name = var::RECO_KNN_K,
        default_value_t = DEFAULT_KNN_K as u64,
        value_parser = clap::value_parser!(u64).range(1..=MAX_KNN_K as u64)
    )]
    pub knn_k: u64,
    /// Catalogues of at most this many items are searched exactly in memory (0: always
    /// pgvector's HNSW index).
    #[arg(
        long = "exact-knn-max-items",
        env = var::RECO_EXACT_KNN_MAX_ITEMS,
        value_name = var::RECO_EXACT_KNN_MAX_ITEMS,
        default_value_t = DEFAULT_EXACT_KNN_MAX_ITEMS
    )]
    pub exact_knn_max_items: usize,
    /// Item vectors the k-NN caches of the pgvector path hold at most (0: caches off).
    #[arg(
        long = "knn-cache-items",
        env = var::RECO_KNN_CACHE_ITEMS,
        value_name = var::RECO_KNN_CACHE_ITEMS,
        default_value_t = DEFAULT_KNN_CACHE_ITEMS
    )]
    pub knn_cache_items: usize,
    /// Known customers whose stored vectors are kept per version (0: every batch reads its
    /// customers).
    #[arg(
        long = "customer-vector-cache",
        env = var::RECO_CUSTOMER_VECTOR_CACHE,
        value_name = var::RECO_CUSTOMER_VECTOR_CACHE,
        default_value_t = DEFAULT_CUSTOMER_VECTOR_CACHE
    )]
    pub customer_vector_cache: usize,
    /// Bound in MiB of the in-memory partitioned replica of a catalogue above the exact
    /// limit (0: never built, the HNSW path serves).
    #[arg(
        long = "memory-index-max-mb",
        env = var::RECO_MEMORY_INDEX_MAX_MB,
        value_name = var::RECO_MEMORY_INDEX_MAX_MB,
        default_value_t = DEFAULT_MEMORY_INDEX_MAX_MB
    )]
    pub memory_index_max_mb: usize,
    /// recall@k against exact search the replica's probe count is chosen for, in (0, 1].
    #[arg(
        long = "knn-recall-target",
        env = var::RECO_KNN_RECALL_TARGET,
        value_name = var::RECO_KNN_RECALL_TARGET,
        default_value_t = DEFAULT_KNN_RECALL_TARGET,
        value_parser = parse_recall_target
    )]
    pub knn_recall_target: f64,
    /// Gzip each delivered record on its own (one gzip member per record, so objects are
    /// `.ndjson.gz` files while the delivery stream itself stores them UNCOMPRESSED).
    #[arg(
        long = "record-gzip",
        env = var::RECO_RECORD_GZIP,
        value_name = var::RECO_RECORD_GZIP,
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub record_gzip: bool,
    /// Give `Ok` records `metadata.partitionKeys` (customer number): only a delivery stream
    /// with dynamic partitioning reads them.
    #[arg(
        long = "partition-keys",
        env = var::RECO_PARTITION_KEYS,
        value_name = var::RECO_PARTITION_KEYS,
        default_value_t = false,
        action = clap::ArgAction::Set
    )]
    pub partition_keys: bool,
    /// Model version to serve only (the invocation fails while other embeddings are loaded);
    /// unset: follow the loaded embeddings.
    #[arg(long = "model-version", env = var::RECO_MODEL_VERSION, value_name = var::RECO_MODEL_VERSION)]
    pub model_version: Option<String>,
    /// HNSW `ef_search` of k-NN queries (candidates kept per search).
    #[arg(
        long = "ef-search",
        env = var::RECO_EF_SEARCH,
        value_name = var::RECO_EF_SEARCH,
        default_value_t = DEFAULT_EF_SEARCH,
        value_parser = clap::value_parser!(u32)
            .range(i64::from(*EF_SEARCH_RANGE.start())..=i64::from(*EF_SEARCH_RANGE.end()))
    )]
    pub ef_search: u32,
    /// Statements a large k-NN batch is split into, on as many connections.
    #[arg(
        long = "knn-parallelism",
        env = var::RECO_KNN_PARALLELISM,
        value_name = var::RECO_KNN_PARALLELISM,
        default_value_t = DEFAULT_KNN_PARALLELISM,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub knn_parallelism: u32,
}

impl TransformArgs {
    /// The transformer's plain values, with model versions under `model_prefix`.
    pub fn options(&self, model_prefix: &str) -> TransformOptions {
        TransformOptions {
            knn_k: usize::try_from(self.knn_k).unwrap_or(MAX_KNN_K),
            exact_knn_max_items: self.exact_knn_max_items,
            knn_cache_items: self.knn_cache_items,
            customer_vector_cache: self.customer_vector_cache,
            memory_index_max_mb: self.memory_index_max_mb,
            knn_recall_target: self.knn_recall_target,
            model_version_pin: self.model_version.clone().filter(|v| !v.is_empty()),
            model_prefix: ModelPrefix::new(model_prefix),
            record_gzip: self.record_gzip,
            partition_keys: self.partition_keys,
            ..TransformOptions::default()
        }
    }

    /// `base` (the pool of a Lambda or of the CLI) with this group's query tuning, checked.
    pub fn store_options(&self, base: StoreOptions) -> Result<StoreOptions, StoreError> {
        base.with_tuning(self.ef_search, self.knn_parallelism)
    }
}

/// Everything the transform Lambda is configured with, from its environment.
#[derive(Debug, Clone, Parser)]
#[command(about = "reco's Firehose transformation Lambda (configured by its environment)")]
pub struct TransformConfig {
    /// k, the exact-search threshold, the version pin, the HNSW tuning.
    #[command(flatten)]
    pub transform: TransformArgs,
    /// AWS endpoint, region and credentials.
    #[command(flatten)]
    pub aws: AwsArgs,
    /// The vector database.
    #[command(flatten)]
    pub pg: PgArgs,
    /// The artifacts bucket and the model prefix.
    #[command(flatten)]
    pub models: ModelStoreArgs,
}

impl TransformConfig {
    /// The transformer's plain values.
    pub fn options(&self) -> TransformOptions {
        self.transform.options(&self.models.model_prefix)
    }

    /// The artifacts bucket, or an error naming `RECO_ARTIFACTS_BUCKET`.
    pub fn artifacts_bucket(&self) -> Result<&str, ConfigError> {
        self.models.bucket()
    }
}

/// The plain values a [`crate::Transformer`] and its adapters are built from.
#[derive(Debug, Clone, PartialEq)]
pub struct TransformOptions {
    /// Items per list, within `1..=MAX_KNN_K`.
    pub knn_k: usize,
    /// Catalogues of at most this many items are searched exactly in memory (0: never).
    pub exact_knn_max_items: usize,
    /// Item vectors the k-NN caches of the pgvector path hold at most (0: caches off).
    pub knn_cache_items: usize,
    /// Known customers whose stored vectors are kept per version (0: none kept).
    pub customer_vector_cache: usize,
    /// Bound in MiB of a large catalogue's in-memory replica (0: never built).
    pub memory_index_max_mb: usize,
    /// recall@k the replica's probe count is chosen for.
    pub knn_recall_target: f64,
    /// The only model version served; `None` follows the loaded embeddings.
    pub model_version_pin: Option<String>,
    /// Each `Ok` record's data is one gzip member of its NDJSON line (`RECO_RECORD_GZIP`).
    pub record_gzip: bool,
    /// `Ok` records carry `metadata.partitionKeys` (`RECO_PARTITION_KEYS`; dynamic
    /// partitioning only).
    pub partition_keys: bool,
    /// Where model versions live in the artifacts bucket.
    pub model_prefix: ModelPrefix,
    /// How an unreachable database is retried within an invocation.
    pub retry: RetryPolicy,
    /// Time an invocation has when the caller gives no deadline (the Lambda runtime does).
    pub invocation_timeout: std::time::Duration,
    /// How long the active version is trusted before it is read again.
    pub version_recheck_interval: std::time::Duration,
}

impl Default for TransformOptions {
    fn default() -> Self {
        Self {
            knn_k: DEFAULT_KNN_K,
            exact_knn_max_items: DEFAULT_EXACT_KNN_MAX_ITEMS,
            knn_cache_items: DEFAULT_KNN_CACHE_ITEMS,
            customer_vector_cache: DEFAULT_CUSTOMER_VECTOR_CACHE,
            memory_index_max_mb: DEFAULT_MEMORY_INDEX_MAX_MB,
            knn_recall_target: DEFAULT_KNN_RECALL_TARGET,
            model_version_pin: None,
            record_gzip: true,
            partition_keys: false,
            model_prefix: ModelPrefix::default(),
            retry: RetryPolicy::default(),
            invocation_timeout: DEFAULT_INVOCATION_TIMEOUT,
            version_recheck_interval: crate::handler::VERSION_RECHECK_INTERVAL,
        }
    }
}

impl TransformOptions {
    /// How the transform writes `Ok` records (k, per-record gzip, partition keys).
    pub fn output(&self) -> reco_domain::transform::OutputOptions {
        reco_domain::transform::OutputOptions {
            k: self.knn_k,
            record_gzip: self.record_gzip,
            partition_keys: self.partition_keys,
        }
    }

    /// Key of model `version`'s artifact.
    pub fn model_key(&self, version: &str) -> String {
        self.model_prefix.key(version, MODEL_FILE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(flags: &[&str]) -> Result<TransformConfig, String> {
        TransformConfig::try_parse_from(std::iter::once("bootstrap").chain(flags.iter().copied()))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_checks() {
        let config = parse(&[]).unwrap();
        let err = config.artifacts_bucket().unwrap_err().to_string();
        assert!(err.contains("RECO_ARTIFACTS_BUCKET"), "{err}");

        let config = parse(&["--artifacts-bucket", "b", "--model-prefix", "m"]).unwrap();
        assert_eq!(config.artifacts_bucket().unwrap(), "b");
        let options = config.options();
        assert_eq!(options.knn_k, DEFAULT_KNN_K);
        assert_eq!(options.model_key("v1"), "m/v1/model.json");
        assert_eq!(options.model_version_pin, None);
        assert_eq!(options.exact_knn_max_items, DEFAULT_EXACT_KNN_MAX_ITEMS);
        assert_eq!(options.knn_cache_items, DEFAULT_KNN_CACHE_ITEMS);
        let config = parse(&["--knn-cache-items", "0"]).unwrap();
        assert_eq!(config.options().knn_cache_items, 0);

        assert!(options.record_gzip && !options.partition_keys);
        let config = parse(&["--record-gzip", "false", "--partition-keys", "true"]).unwrap();
        assert!(!config.options().record_gzip && config.options().partition_keys);
        let err = parse(&["--record-gzip", "maybe"]).unwrap_err();
        assert!(err.contains("RECO_RECORD_GZIP"), "{err}");

        let config = parse(&["--exact-knn-max-items", "0", "--model-version", "v7"]).unwrap();
        assert_eq!(config.options().exact_knn_max_items, 0);
        assert_eq!(config.options().model_version_pin.as_deref(), Some("v7"));

        let err = parse(&["--exact-knn-max-items", "many"]).unwrap_err();
        assert!(err.contains("RECO_EXACT_KNN_MAX_ITEMS"), "{err}");
        for bad in ["0", "1001"] {
            let err = parse(&["--knn-k", bad]).unwrap_err();
            assert!(err.contains("RECO_KNN_K"), "{err}");
        }
        assert_eq!(parse(&["--knn-k", "1000"]).unwrap().options().knn_k, 1000);
        assert_eq!(options.memory_index_max_mb, DEFAULT_MEMORY_INDEX_MAX_MB);
        assert_eq!(options.knn_recall_target, DEFAULT_KNN_RECALL_TARGET);
        let config = parse(&["--memory-index-max-mb", "0", "--knn-recall-target", "0.9"]).unwrap();
        assert_eq!(config.options().memory_index_max_mb, 0);
        assert_eq!(config.options().knn_recall_target, 0.9);
        for bad in ["0", "1.5", "high"] {
            let err = parse(&["--knn-recall-target", bad]).unwrap_err();
            assert!(err.contains("RECO_KNN_RECALL_TARGET"), "{err}");
        }
        let err = parse(&["--ef-search", "0"]).unwrap_err();
        assert!(err.contains("RECO_EF_SEARCH"), "{err}");
    }

    #[test]
    fn store_options_carry_the_query_tuning_and_are_checked() {
        let config = parse(&["--ef-search", "64", "--knn-parallelism", "2"]).unwrap();
        let options = config
            .transform
            .store_options(StoreOptions::for_lambda())
            .unwrap();
        assert_eq!((options.ef_search, options.knn_parallelism), (64, 2));
        // More statements than the Lambda's pool has connections.
        let config = parse(&["--knn-parallelism", "9"]).unwrap();
        let err = config
            .transform
            .store_options(StoreOptions::for_lambda())
            .unwrap_err()
            .to_string();
        assert!(err.contains("parallelism"), "{err}");
    }
}
