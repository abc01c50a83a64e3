//! `reco score-all`: the top `k` products of every customer with a user embedding, minus the
//! products the customer already rated, as `batch` latest documents; plus the `popular`
//! fallback document (the most rated products of the training snapshot).
//!
//! One run scores one [`Shard`]: a contiguous range of the customers sorted by number, so the
//! N Lambdas of a Step Functions Distributed Map cover every customer exactly once.
//!
//! 1. Model version (layout: `reco_domain::artifacts`): `--model` or `<prefix>LATEST` in the
//!    artifacts bucket; its `model.json`
//!    names the training snapshot (`training.source`).
//! 2. Embeddings: `item_embeddings.parquet` whole (the catalogue is small), then
//!    `user_embeddings.parquet` twice: ids only to find the shard's range, then the vectors of
//!    the shard's customers only.
//! 3. Snapshot: the parts its `_manifest.json` lists, two columns only (`customer_number`,
//!    `product_code`); the shard's (customer, product) pairs become exclusion lists, every row
//!    counts towards popularity (shard 0). Full rows are never materialised.
//! 4. Scoring in chunks of [`CHUNK_CUSTOMERS`] ([`crate::scoring`], every core) on a blocking
//!    thread while the previous chunk's documents are written ([`DocumentSink`], newest wins,
//!    [`PUBLISH_CONCURRENCY`] at a time): at most two chunks of documents exist at once.
//!
//! Documents carry the run's start time as `generated_at`, and ids derived from the model
//! version and customer only: re-running a shard with the same start time rewrites nothing
//! (every write is kept), and a newer stream document is never replaced by an older run.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::ops::Range;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray as _, Int64Array, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float32Type};
use bytes::Bytes;
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use rayon::prelude::*;
use reco_aws::experiments::ExperimentStore;
use reco_aws::{Bucket, StorageError};
use reco_domain::artifacts::{
    ITEM_EMBEDDINGS_PARQUET, MODEL_FILE, ModelPrefix, USER_EMBEDDINGS_PARQUET,
};
use reco_domain::experiment::{Variant, assign};
use reco_domain::model::MODEL_FORMAT_VERSION;
use reco_domain::serving::{
    DocumentProvenance, DocumentSource, LATEST_DOCUMENT_SCHEMA, LatestDocument, ProductCatalogue,
};
use reco_domain::training::{
    self, COL_CUSTOMER_NUMBER, COL_PRODUCT_CODE, SnapshotDate, SnapshotDateError, SnapshotError,
    TRAINING_PREFIX,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::catalogue::{CatalogueError, CatalogueSource};
use crate::documents::{DocumentStore, DocumentStoreError, WriteOutcome};
use crate::publisher::PUBLISH_CONCURRENCY;
use crate::scoring::{Exclusions, ItemMatrix, ScoringError, top_k};

mod documents;
mod inputs;

use documents::chunk_documents;
pub use documents::{
    batch_document, batch_recommendation_id, popular_document, popular_recommendation_id,
};
use inputs::load_shard;

/// Column names of the embeddings files.
const COL_ID: &str = "id";
const COL_EMBEDDING: &str = "embedding";

/// Default products per customer: the stream's `RECO_KNN_K` default, so a batch document and
/// a stream document show lists of the same length.
pub const DEFAULT_K: usize = reco_domain::transform::DEFAULT_KNN_K;
/// Largest `k`: a document must stay under `MAX_DOCUMENT_BYTES` (16 KB); 50 products with
/// display fields are about 7 KB.
pub const MAX_K: usize = 50;
/// Customers scored per chunk: bounds the documents held at once (the chunk being written and
/// the one being scored, about 2 x 16k x 2 KB) whatever the shard's size.
pub const CHUNK_CUSTOMERS: usize = 16_384;
/// Rows per decoded Parquet batch.
const PARQUET_BATCH_ROWS: usize = 8_192;
/// Least time between two progress events.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(5);

/// A contiguous range of the customers sorted by number: shard `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 0-based, below `count`.
    pub index: u32,
    /// Number of shards, at least 1.
    pub count: u32,
}

/// A `--shard` value that is not `I/N` with `0 <= I < N`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid shard {value:?}: {reason}; expected I/N with 0 <= I < N (e.g. 0/4)")]
pub struct ShardError {
    /// The text given.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Shard {
    /// Everyone: shard 0 of 1.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Shard `index` of `count`.
    pub fn new(index: u32, count: u32) -> Result<Self, ShardError> {
        let error = |reason: &str| ShardError {
            value: format!("{index}/{count}"),
            reason: reason.to_owned(),
        };
        if count == 0 {
            return Err(error("N must be at least 1"));
        }
        if index >= count {
            return Err(error("I must be below N (shards are numbered from 0)"));
        }
        Ok(Self { index, count })
    }

    /// This shard's positions among `len` sorted customers: consecutive shards' ranges meet,
    /// together they cover `0..len`, and their sizes differ by at most one.
    pub fn range(&self, len: usize) -> Range<usize> {
        let at = |i: u32| (len as u128 * u128::from(i) / u128::from(self.count)) as usize;
        at(self.index)..at(self.index + 1)
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = |reason: &str| ShardError {
            value: s.to_owned(),
            reason: reason.to_owned(),
        };
        let (i, n) = s.split_once('/').ok_or_else(|| error("no '/'"))?;
        let i: u32 = i.trim().parse().map_err(|_| error("I is not a number"))?;
        let n: u32 = n.trim().parse().map_err(|_| error("N is not a number"))?;
        Shard::new(i, n).map_err(|e| error(&e.reason))
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// What a run scores and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoreAllConfig {
    /// Model version; `None`: the one `LATEST` names.
    pub model_version: Option<String>,
    /// Key prefix of model versions (`reco_domain::artifacts`).
    pub model_prefix: ModelPrefix,
    /// Training snapshot date whose pairs are excluded; `None`: the one the model was trained
    /// on (`training.source`), else the newest.
    pub snapshot: Option<String>,
    /// Which customers.
    pub shard: Shard,
    /// Products per customer (and in the popular document).
    pub k: usize,
    /// The run's start time, every document's `generated_at` (RFC 3339 UTC, milliseconds).
    /// Shards of one run, and retries, pass the same time.
    pub generated_at: String,
    /// Customers per chunk.
    pub chunk_customers: usize,
}

/// `generated_at`'s format: RFC 3339 UTC with milliseconds, fixed width, so that newest-wins
/// can compare times as text.
const GENERATED_AT_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.3fZ";

impl ScoreAllConfig {
    /// The defaults: the live model under `model_prefix`, [`DEFAULT_K`] products, every
    /// customer, starting now.
    pub fn new(model_prefix: ModelPrefix) -> Self {
        Self {
            model_version: None,
            model_prefix,
            snapshot: None,
            shard: Shard::ALL,
            k: DEFAULT_K,
            generated_at: chrono::Utc::now().format(GENERATED_AT_FORMAT).to_string(),
            chunk_customers: CHUNK_CUSTOMERS,
        }
    }

    /// Refuses a `k`, start time, version or snapshot that would make bad documents.
    pub fn validate(&self) -> Result<(), ScoreAllError> {
        let invalid = |reason: String| Err(ScoreAllError::Invalid { reason });
        if self.k == 0 || self.k > MAX_K {
            return invalid(format!("k = {} must be within 1..={MAX_K}", self.k));
        }
        if !is_rfc3339_millis(&self.generated_at) {
            return invalid(format!(
                "start time {:?} is not RFC 3339 UTC with milliseconds (YYYY-MM-DDTHH:MM:SS.mmmZ)",
                self.generated_at
            ));
        }
        if let Some(v) = &self.model_version
            && (v.is_empty() || v.contains('/') || v.trim() != v)
        {
            return invalid(format!("model version {v:?} is not a version name"));
        }
        if let Some(s) = &self.snapshot {
            s.parse::<SnapshotDate>()
                .map_err(|e| ScoreAllError::Invalid {
                    reason: e.to_string(),
                })?;
        }
        if self.chunk_customers == 0 {
            return invalid("chunk of 0 customers".to_owned());
        }
        Ok(())
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` naming a real instant, in the fixed width newest-wins compares
/// as text.
fn is_rfc3339_millis(s: &str) -> bool {
    chrono::NaiveDateTime::parse_from_str(s, GENERATED_AT_FORMAT)
        .is_ok_and(|t| t.format(GENERATED_AT_FORMAT).to_string() == s)
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum ScoreAllError {
    /// No model version is live.
    #[error("no live model: {location} does not exist; train first (`reco train`)")]
    NoLatest {
        /// Where `LATEST` was looked for.
        location: String,
    },
    /// The version asked for does not exist.
    #[error("no model version {version}: {location} does not exist (`reco train` writes versions)")]
    NoModel {
        /// The version.
        version: String,
        /// Where its `model.json` was looked for.
        location: String,
    },
    /// An embeddings file of the version is missing.
    #[error(
        "missing embeddings file {location}: the model version is incomplete; train again (`reco train`)"
    )]
    MissingEmbeddings {
        /// The file.
        location: String,
    },
    /// User and item embeddings disagree on the dimension.
    #[error(
        "dimension mismatch: user embeddings ({users_location}) have {users} dimensions, item embeddings ({items_location}) {items}"
    )]
    DimensionMismatch {
        /// User dimension.
        users: usize,
        /// Item dimension.
        items: usize,
        /// User file.
        users_location: String,
        /// Item file.
        items_location: String,
    },
    /// No training snapshot to take exclusions and popularity from.
    #[error("no training snapshot at {location}: run the ETL first (`reco etl`)")]
    NoSnapshot {
        /// Where it was looked for.
        location: String,
    },
    /// The catalogue is missing or unreadable (its message says `reco etl`).
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
    /// The running A/B experiment could not be read (documents would carry the wrong variant).
    #[error(transparent)]
    Experiment(#[from] reco_aws::experiments::ExperimentStoreError),
    /// An input object is not what it should be.
    #[error("{location}: {reason}")]
    Malformed {
        /// The object.
        location: String,
        /// What is wrong, naming the row or column.
        reason: String,
    },
    /// The object store failed.
    #[error(transparent)]
    Store(#[from] StorageError),
    /// A document could not be written.
    #[error(transparent)]
    Document(#[from] DocumentStoreError),
    /// The configuration is invalid.
    #[error("{reason}")]
    Invalid {
        /// What is wrong.
        reason: String,
    },
    /// The scoring kernel refused its inputs.
    #[error("scoring: {0}")]
    Scoring(#[from] ScoringError),
}

fn malformed(location: &str, reason: impl Into<String>) -> ScoreAllError {
    ScoreAllError::Malformed {
        location: location.to_owned(),
        reason: reason.into(),
    }
}

/// Where documents go: the newest-wins [`DocumentStore`], or a stand-in (a benchmark's sink
/// that only serialises).
pub trait DocumentSink: Sync {
    /// Writes `doc` unless the stored document is as new or newer.
    fn write(
        &self,
        doc: &LatestDocument,
    ) -> impl Future<Output = Result<WriteOutcome, DocumentStoreError>> + Send;
}

impl DocumentSink for DocumentStore {
    fn write(
        &self,
        doc: &LatestDocument,
    ) -> impl Future<Output = Result<WriteOutcome, DocumentStoreError>> + Send {
        self.put_if_newer(doc)
    }
}

/// Everything one shard is scored from, in memory.
#[derive(Debug, Clone)]
pub struct ShardInputs {
    /// The model version (also the embedding version: both come from one training run).
    pub model_version: String,
    /// The training snapshot date the exclusions come from.
    pub snapshot: String,
    /// Every item with a non-zero embedding, unit length.
    pub items: ItemMatrix,
    /// Customers with a user embedding in the whole model.
    pub customers_total: usize,
    /// The shard's customers, ascending.
    pub customers: Vec<i64>,
    /// Their unit embeddings, row-major, `customers.len() x items.dim()`.
    pub users: Vec<f32>,
    /// Item rows each customer already rated.
    pub exclusions: Exclusions,
    /// Ratings per product over the whole snapshot, most rated first (ties by code); read by
    /// shard 0 only, for the popular document.
    pub popularity: Option<Vec<(String, u64)>>,
    /// Display fields.
    pub catalogue: Arc<ProductCatalogue>,
    /// While an A/B experiment runs: only the customers assigned to this variant get a
    /// document from these inputs, stamped with the experiment and the variant.
    pub variant: Option<VariantInputs>,
}

/// Which customers of an A/B experiment a [`ShardInputs`] serves.
#[derive(Debug, Clone, PartialEq)]
pub struct VariantInputs {
    /// The experiment's name.
    pub experiment: String,
    /// Its treatment share ([`reco_domain::experiment::assign`]).
    pub treatment_share: f64,
    /// The variant these inputs' model version serves.
    pub variant: Variant,
}

impl VariantInputs {
    /// Whether `customer_number` is in this variant.
    pub fn serves(&self, customer_number: i64) -> bool {
        assign(&self.experiment, customer_number, self.treatment_share) == self.variant
    }
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreAllReport {
    /// The model version scored.
    pub model_version: String,
    /// The snapshot excluded.
    pub snapshot: String,
    /// The shard.
    pub shard: Shard,
    /// Items searched.
    pub items: usize,
    /// Item embeddings left out because they are zero (no direction to rank by).
    pub zero_items: u64,
    /// Customers with a user embedding, all shards.
    pub customers_total: u64,
    /// The shard's customers.
    pub customers: u64,
    /// Documents built.
    pub scored: u64,
    /// Customers of the shard without a document: a zero embedding, or every item rated.
    pub empty: u64,
    /// Documents written.
    pub written: u64,
    /// Documents kept because the stored one was as new or newer.
    pub kept: u64,
    /// The popular document's outcome (shard 0 only).
    pub popular: Option<WriteOutcome>,
    /// Snapshot rows read.
    pub snapshot_rows: u64,
    /// Distinct (customer, item) pairs excluded in the shard.
    pub excluded_pairs: u64,
    /// Seconds reading inputs.
    pub load_seconds: f64,
    /// Seconds in all.
    pub seconds: f64,
}

/// Scores `config.shard` of the model in `artifacts` against the snapshot and catalogue in
/// `lake`, writing documents to `sink`; progress is reported as `tracing` events.
pub async fn score_all<S: DocumentSink>(
    config: &ScoreAllConfig,
    artifacts: &Bucket,
    lake: &Bucket,
    sink: &S,
) -> Result<ScoreAllReport, ScoreAllError> {
    config.validate()?;
    let started = Instant::now();
    let experiment = ExperimentStore::new(artifacts.clone(), config.model_prefix.clone())
        .read()
        .await?
        .experiment;
    let Some(experiment) = experiment else {
        let (inputs, snapshot_rows, zero_items) = load_shard(config, artifacts, lake).await?;
        let load_seconds = started.elapsed().as_secs_f64();
        let mut report = score_shard(inputs, config, sink).await?;
        report.snapshot_rows = snapshot_rows;
        report.zero_items = zero_items;
        report.load_seconds = load_seconds;
        report.seconds = started.elapsed().as_secs_f64();
        return Ok(report);
    };
    // An experiment runs: each variant's version scores the shard, and each customer keeps
    // the document of its own variant (both versions' inputs are read; the control's version
    // is the experiment's, else the configured or live one).
    let active = resolve_version(config, artifacts).await?;
    let mut report: Option<ScoreAllReport> = None;
    for variant in [Variant::Control, Variant::Treatment] {
        let version = experiment.model_version(variant, &active).to_owned();
        let variant_config = ScoreAllConfig {
            model_version: Some(version),
            ..config.clone()
        };
        let loaded = Instant::now();
        let (mut inputs, snapshot_rows, zero_items) =
            load_shard(&variant_config, artifacts, lake).await?;
        let load_seconds = loaded.elapsed().as_secs_f64();
        inputs.variant = Some(VariantInputs {
            experiment: experiment.name.clone(),
            treatment_share: experiment.treatment_share,
            variant,
        });
        if variant == Variant::Treatment {
            // One popular document per run: the control's.
            inputs.popularity = None;
        }
        let part = score_shard(inputs, &variant_config, sink).await?;
        tracing::info!(
            experiment = %experiment.name,
            variant = variant.as_str(),
            model_version = %part.model_version,
            scored = part.scored,
            "variant scored"
        );
        report = Some(match report {
            None => ScoreAllReport {
                snapshot_rows,
                zero_items,
                load_seconds,
                ..part
            },
            Some(mut total) => {
                total.scored += part.scored;
                total.empty += part.empty;
                total.written += part.written;
                total.kept += part.kept;
                total.excluded_pairs += part.excluded_pairs;
                total.load_seconds += load_seconds;
                total
            }
        });
    }
    let mut report = report.expect("two variants scored");
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The model version to score: `config.model_version`, else what `LATEST` holds.
async fn resolve_version(
    config: &ScoreAllConfig,
    artifacts: &Bucket,
) -> Result<String, ScoreAllError> {
    if let Some(v) = &config.model_version {
        return Ok(v.clone());
    }
    let key = config.model_prefix.latest_key();
    let body = artifacts
        .get_opt(&key)
        .await?
        .ok_or_else(|| ScoreAllError::NoLatest {
            location: artifacts.location(&key),
        })?;
    let version = String::from_utf8_lossy(&body).trim().to_owned();
    if version.is_empty() || version.contains('/') {
        return Err(malformed(
            &artifacts.location(&key),
            format!("{version:?} is not a model version"),
        ));
    }
    Ok(version)
}

/// The part of `model.json` score-all needs.
#[derive(Deserialize)]
struct ModelHeader {
    format_version: u32,
    dim: usize,
    training: TrainingHeader,
}

#[derive(Deserialize)]
struct TrainingHeader {
    source: String,
}

/// The `snapshot=YYYY-MM-DD` named in a training source (`s3://lake/training_ratings/...`).
fn snapshot_of_source(source: &str) -> Option<String> {
    let at = source.find("snapshot=")? + "snapshot=".len();
    let date: SnapshotDate = source.get(at..at + 10)?.parse().ok()?;
    Some(date.to_string())
}

/// Scores the shard of `inputs` and writes its documents (and, for shard 0, the popular
/// document) to `sink`: chunk `i + 1` is scored on a blocking thread while chunk `i` is
/// written. `config` gives `k`, the start time, the shard and the chunk size.
pub async fn score_shard<S: DocumentSink>(
    inputs: ShardInputs,
    config: &ScoreAllConfig,
    sink: &S,
) -> Result<ScoreAllReport, ScoreAllError> {
    config.validate()?;
    let started = Instant::now();
    let inputs = Arc::new(inputs);
    let n = inputs.customers.len();
    let mut report = ScoreAllReport {
        model_version: inputs.model_version.clone(),
        snapshot: inputs.snapshot.clone(),
        shard: config.shard,
        items: inputs.items.len(),
        zero_items: 0,
        customers_total: inputs.customers_total as u64,
        customers: n as u64,
        scored: 0,
        empty: 0,
        written: 0,
        kept: 0,
        popular: None,
        snapshot_rows: 0,
        excluded_pairs: inputs.exclusions.total() as u64,
        load_seconds: 0.0,
        seconds: 0.0,
    };
    let chunks: Vec<Range<usize>> = (0..n)
        .step_by(config.chunk_customers)
        .map(|start| start..(start + config.chunk_customers).min(n))
        .collect();
    let spawn = |range: Range<usize>| {
        let inputs = inputs.clone();
        let generated_at = config.generated_at.clone();
        let k = config.k;
        tokio::task::spawn_blocking(move || chunk_documents(&inputs, range, k, &generated_at))
    };
    let mut pending = chunks.first().cloned().map(spawn);
    let mut last_message = Instant::now();
    for next in chunks.iter().skip(1).map(Some).chain([None]) {
        let Some(handle) = pending.take() else { break };
        let chunk = match handle.await {
            Ok(chunk) => chunk?,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => {
                return Err(ScoreAllError::Invalid {
                    reason: format!("scoring task cancelled: {e}"),
                });
            }
        };
        pending = next.cloned().map(spawn);
        report.empty += chunk.empty;
        report.scored += chunk.documents.len() as u64;
        // A hand-fed FuturesUnordered rather than `buffer_unordered` over a closure: the
        // closure's future type is not provably Send for every lifetime, which a Lambda needs.
        let mut documents = chunk.documents.iter();
        let mut writes = FuturesUnordered::new();
        loop {
            while writes.len() < PUBLISH_CONCURRENCY
                && let Some(doc) = documents.next()
            {
                writes.push(sink.write(doc));
            }
            let Some(outcome) = writes.next().await else {
                break;
            };
            match outcome? {
                WriteOutcome::Written => report.written += 1,
                WriteOutcome::Kept => report.kept += 1,
            }
        }
        if next.is_none() || last_message.elapsed() >= PROGRESS_INTERVAL {
            last_message = Instant::now();
            let done = report.scored + report.empty;
            tracing::info!(
                scored = done,
                customers = n,
                written = report.written,
                kept = report.kept,
                per_second = (done as f64 / started.elapsed().as_secs_f64().max(1e-9)).round(),
                "customers scored"
            );
        }
    }
    if config.shard.index == 0
        && let Some(popularity) = inputs.popularity.as_deref()
        && !popularity.is_empty()
    {
        let doc = popular_document(
            popularity,
            config.k,
            &inputs.model_version,
            &inputs.catalogue,
            &config.generated_at,
        );
        report.popular = Some(sink.write(&doc).await?);
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reco_domain::serving::{CatalogueProduct, POPULAR_DOCUMENT_KEY, customer_document_key};

    #[test]
    fn shards_cover_every_customer_once_and_bad_shards_are_named() {
        for len in [0usize, 1, 7, 1000, 1001] {
            for count in [1u32, 2, 3, 8] {
                let mut next = 0;
                for index in 0..count {
                    let r = Shard::new(index, count).unwrap().range(len);
                    assert_eq!(r.start, next, "{index}/{count} of {len}");
                    assert!(r.len() <= len / count as usize + 1);
                    next = r.end;
                }
                assert_eq!(next, len);
            }
        }
        assert_eq!("1/4".parse::<Shard>().unwrap(), Shard::new(1, 4).unwrap());
        assert_eq!(Shard::new(2, 3).unwrap().to_string(), "2/3");
        for bad in ["4/4", "1", "a/2", "0/0", "-1/2", "1/x"] {
            let err = bad.parse::<Shard>().unwrap_err().to_string();
            assert!(err.contains(bad) && err.contains("0 <= I < N"), "{err}");
        }
    }

    #[test]
    fn config_checks_k_start_time_version_and_snapshot() {
        let config = ScoreAllConfig {
            k: 7,
            ..ScoreAllConfig::new(ModelPrefix::new("models"))
        };
        assert_eq!((config.k, config.model_prefix.as_str()), (7, "models/"));
        assert_eq!(ScoreAllConfig::new(ModelPrefix::default()).k, DEFAULT_K);
        config.validate().unwrap();
        let with = |f: &dyn Fn(&mut ScoreAllConfig)| {
            let mut c = config.clone();
            f(&mut c);
            c.validate().map_err(|e| e.to_string())
        };
        assert!(with(&|c| c.k = 0).unwrap_err().contains("k = 0"));
        assert!(with(&|c| c.k = MAX_K + 1).is_err());
        assert!(
            with(&|c| c.generated_at = "2026-12-01T00:00:00Z".into())
                .unwrap_err()
                .contains("milliseconds")
        );
        for bad in [
            "2026-12-01T00:00:00.00Z",
            "2026-12-01T00:00:00.0000Z",
            "2026-12-01 00:00:00.000Z",
            "2026-02-30T00:00:00.000Z",
            "2026-12-01T00:00:00.000+00:00",
        ] {
            assert!(with(&|c| c.generated_at = bad.into()).is_err(), "{bad}");
        }
        assert!(with(&|c| c.generated_at = "2026-12-01T23:59:59.999Z".into()).is_ok());
        assert!(with(&|c| c.model_version = Some("../x".into())).is_err());
        assert!(with(&|c| c.snapshot = Some("2026-13-01".into())).is_err());
        assert!(with(&|c| c.snapshot = Some("2026-12-01".into())).is_ok());
    }

    #[test]
    fn snapshot_is_read_from_the_training_source() {
        assert_eq!(
            snapshot_of_source("s3://lake/training_ratings/snapshot=2026-12-01/").as_deref(),
            Some("2026-12-01")
        );
        assert_eq!(snapshot_of_source("/tmp/ratings.parquet"), None);
        assert_eq!(snapshot_of_source("x/snapshot=2026-02-30/"), None);
    }

    #[test]
    fn recommendation_ids_are_deterministic_hex_per_version_and_customer() {
        let a = batch_recommendation_id("v1", 103);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(a, batch_recommendation_id("v1", 103));
        assert_ne!(a, batch_recommendation_id("v1", 104));
        assert_ne!(a, batch_recommendation_id("v2", 103));
        // The separator keeps ("v1", 23) and ("v12", 3) apart.
        assert_ne!(
            batch_recommendation_id("v1", 23),
            batch_recommendation_id("v12", 3)
        );
        assert_ne!(popular_recommendation_id("v1"), a);
    }

    fn inputs() -> ShardInputs {
        let items = ItemMatrix::new(
            vec!["A".into(), "B".into(), "C".into()],
            vec![1.0, 0.0, 0.6, 0.8, 0.0, 1.0],
            2,
        )
        .unwrap();
        ShardInputs {
            model_version: "v1".into(),
            snapshot: "2026-12-01".into(),
            items,
            customers_total: 3,
            customers: vec![10, 11, 12],
            users: vec![1.0, 0.0, 0.0, 1.0, 0.0, 0.0],
            // Customer 10 rated A.
            exclusions: Exclusions::from_pairs(3, vec![(0, 0)]).unwrap(),
            popularity: Some(vec![("C".into(), 4), ("A".into(), 2), ("Z".into(), 1)]),
            catalogue: Arc::new(ProductCatalogue::new([CatalogueProduct {
                product_code: "B".into(),
                name: "Bee".into(),
                product_line: "Ships".into(),
                msrp_cents: 1250,
            }])),
            variant: None,
        }
    }

    fn config() -> ScoreAllConfig {
        ScoreAllConfig {
            model_version: None,
            model_prefix: ModelPrefix::default(),
            snapshot: None,
            shard: Shard::ALL,
            k: 2,
            generated_at: "2026-12-01T02:00:00.000Z".into(),
            chunk_customers: 2,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn documents_exclude_rated_products_and_carry_display_fields_and_provenance() {
        let store = DocumentStore::new(Bucket::in_memory("recs"));
        let report = score_shard(inputs(), &config(), &store).await.unwrap();
        assert_eq!(
            (
                report.customers,
                report.scored,
                report.empty,
                report.written,
                report.kept
            ),
            (3, 2, 1, 2, 0),
            "customer 12 has a zero embedding: no document"
        );
        assert_eq!(report.popular, Some(WriteOutcome::Written));
        let doc = store
            .get(&customer_document_key(10))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(doc.source, DocumentSource::Batch);
        let codes: Vec<&str> = doc
            .recommended
            .iter()
            .map(|i| i.product_code.as_str())
            .collect();
        assert_eq!(codes, ["B", "C"], "A is rated by customer 10");
        assert_eq!(doc.recommended[0].name.as_deref(), Some("Bee"));
        assert_eq!(doc.recommended[0].price, Some(12.5));
        assert!((doc.recommended[0].score - 0.6).abs() < 1e-6);
        assert!(doc.similar_to_session.is_empty());
        assert_eq!(doc.provenance.model_version, "v1");
        assert_eq!(doc.provenance.embedding_version, "v1");
        assert_eq!(doc.provenance.generated_at, "2026-12-01T02:00:00.000Z");
        assert_eq!(
            doc.provenance.recommendation_id,
            batch_recommendation_id("v1", 10)
        );
        assert!(
            store
                .get(&customer_document_key(12))
                .await
                .unwrap()
                .is_none()
        );
        let popular = store.get(POPULAR_DOCUMENT_KEY).await.unwrap().unwrap();
        assert_eq!(popular.source, DocumentSource::Popular);
        assert_eq!(popular.customer_number, None);
        let shares: Vec<(&str, f32)> = popular
            .recommended
            .iter()
            .map(|i| (i.product_code.as_str(), i.score))
            .collect();
        assert_eq!(shares, [("C", 1.0), ("A", 0.5)]);

        // The same run again: nothing changes. Shard 1 of 2 writes no popular document.
        let again = score_shard(inputs(), &config(), &store).await.unwrap();
        assert_eq!((again.written, again.kept), (0, 2));
        assert_eq!(again.popular, Some(WriteOutcome::Kept));
        let mut other = config();
        other.shard = Shard::new(1, 2).unwrap();
        assert_eq!(
            score_shard(inputs(), &other, &store).await.unwrap().popular,
            None
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn with_an_experiment_each_variant_writes_only_its_customers_stamped() {
        // Share 0.5 of experiment "exp-a": which of customers 10 and 11 land where.
        let expected: Vec<(i64, Variant)> = [10, 11].map(|c| (c, assign("exp-a", c, 0.5))).into();
        for variant in [Variant::Control, Variant::Treatment] {
            let store = DocumentStore::new(Bucket::in_memory("recs"));
            let mut inputs = inputs();
            inputs.variant = Some(VariantInputs {
                experiment: "exp-a".into(),
                treatment_share: 0.5,
                variant,
            });
            let report = score_shard(inputs, &config(), &store).await.unwrap();
            let mine: Vec<i64> = expected
                .iter()
                .filter(|(_, v)| *v == variant)
                .map(|(c, _)| *c)
                .collect();
            assert_eq!(report.written, mine.len() as u64, "{variant}");
            for (customer, assigned) in &expected {
                let doc = store.get(&customer_document_key(*customer)).await.unwrap();
                match doc {
                    Some(doc) => {
                        assert_eq!(*assigned, variant);
                        assert_eq!(doc.provenance.experiment.as_deref(), Some("exp-a"));
                        assert_eq!(doc.provenance.variant, Some(variant));
                    }
                    None => assert_ne!(*assigned, variant, "customer {customer}"),
                }
            }
        }
    }

    #[test]
    fn the_whole_run_is_send_so_a_lambda_can_run_it() {
        fn assert_send<T: Send>(_: &T) {}
        let store = DocumentStore::new(Bucket::in_memory("recs"));
        let bucket = Bucket::in_memory("a");
        let config = config();
        let future = score_all(&config, &bucket, &bucket, &store);
        assert_send(&future);
    }
}
