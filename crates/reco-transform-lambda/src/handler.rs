//! The Firehose transformation handler: per invocation, one model check (cached), the pure
//! per-record transform, and one batched k-NN request (one pgvector statement, or the exact
//! in-memory search of a small catalogue: see [`crate::pg_index`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use lambda_runtime::LambdaEvent;
use reco_aws::emf::{MetricSet, Unit};
use reco_domain::firehose::{FirehoseEvent, FirehoseResponse, FirehoseResult};
use reco_domain::recommendation::Provenance;
use reco_domain::transform::{
    AnswerCountMismatch, BatchOutcome, CustomerEmbedder, RecordError, RecordFailure, finish_batch,
    prepare_batch,
};
use tokio::sync::Mutex;

use crate::config::TransformOptions;
use crate::ports::{IndexError, IndexVersion, ModelLoadError, ModelStore, NeighbourIndex};

/// How long the active embedding version is trusted before it is read again: a new load
/// (`reco load-embeddings` swaps versions atomically) is picked up within this time.
pub const VERSION_RECHECK_INTERVAL: Duration = Duration::from_secs(30);

/// Failed records logged one by one per invocation; the rest are only counted.
pub const MAX_LOGGED_FAILURES: usize = 20;

/// The `Service` dimension of the transform's metrics.
pub const METRICS_SERVICE: &str = "transform";

/// Why an invocation failed as a whole (Firehose retries the batch, then writes it under
/// the error prefix). Bad records never cause this: they come back `ProcessingFailed`.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The vector database failed (unreachable: retryable).
    #[error(transparent)]
    Index(#[from] IndexError),
    /// No embeddings are loaded yet.
    #[error("no embeddings are loaded in the vector database (run `reco load-embeddings`)")]
    NoEmbeddings,
    /// The model could not be loaded.
    #[error(transparent)]
    Model(#[from] ModelLoadError),
    /// `RECO_MODEL_VERSION` pins a model whose embeddings are not the loaded ones.
    #[error(
        "RECO_MODEL_VERSION={pinned} but the vector database serves embeddings of model {active}"
    )]
    PinMismatch {
        /// The pinned version.
        pinned: String,
        /// The model of the loaded embeddings.
        active: String,
    },
    /// The model's dimension differs from the loaded embeddings'.
    #[error("model {model_version} has dimension {model_dim}, the loaded embeddings {index_dim}")]
    DimensionMismatch {
        /// The model.
        model_version: String,
        /// Its dimension.
        model_dim: usize,
        /// The index's dimension.
        index_dim: usize,
    },
    /// The k-NN adapter answered the wrong number of queries.
    #[error(transparent)]
    Answers(#[from] AnswerCountMismatch),
}

impl HandlerError {
    /// Whether Firehose retrying the same batch may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            HandlerError::Index(IndexError::Unavailable { .. })
                | HandlerError::Model(ModelLoadError::Fetch { .. })
                | HandlerError::NoEmbeddings
        )
    }
}

struct Serving<Model> {
    model: Arc<Model>,
    version: IndexVersion,
    checked_at: Instant,
}

/// The handler's state: adapters, settings and the model currently served (loaded once per
/// container and reused until the loaded embeddings change).
pub struct Transformer<I: NeighbourIndex, M: ModelStore> {
    index: I,
    models: M,
    knn_k: usize,
    pin: Option<String>,
    serving: Mutex<Option<Serving<M::Model>>>,
}

/// The result of one batch: the response and why records failed.
#[derive(Debug, Clone)]
pub struct Transformed {
    /// What the Lambda returns to Firehose.
    pub response: FirehoseResponse,
    /// Counts.
    pub counts: InvocationCounts,
    /// The `ProcessingFailed` records and their reasons.
    pub failures: Vec<RecordFailure>,
    /// How long the batch's k-NN request took (`None` when no record needed one).
    pub knn_elapsed: Option<Duration>,
}

impl Transformed {
    /// The invocation's metrics (Service `transform`): the record counts, the batch size
    /// and the k-NN time when there was a k-NN request.
    pub fn metrics(&self) -> MetricSet {
        let mut metrics = MetricSet::new(METRICS_SERVICE);
        let c = &self.counts;
        metrics
            .count("RecordsOk", c.ok as u64)
            .count("RecordsFailed", c.failed as u64)
            .count("RecordsDropped", c.dropped as u64)
            .count("ResponseFull", c.response_full as u64)
            .count("BatchRecords", c.records as u64);
        if let Some(knn) = self.knn_elapsed {
            metrics.value(
                "KnnMilliseconds",
                Unit::Milliseconds,
                knn.as_secs_f64() * 1e3,
            );
        }
        metrics
    }
}

/// Counts of one invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvocationCounts {
    /// Records received.
    pub records: usize,
    /// Records returned `Ok`.
    pub ok: usize,
    /// Records returned `ProcessingFailed` (for any reason, `response_full` included).
    pub failed: usize,
    /// Records returned `Dropped`.
    pub dropped: usize,
    /// Of the `failed` records, those returned unprocessed because the response reached
    /// Lambda's payload limit (valid events, not bad input).
    pub response_full: usize,
}

impl InvocationCounts {
    /// The counts of a finished batch of `records` records, read from the results it
    /// returns, so that they always agree with what Firehose is told.
    pub fn of_outcome(records: usize, outcome: &BatchOutcome) -> Self {
        let results = outcome.response.records.iter().map(|r| r.result);
        let count = |wanted: FirehoseResult| results.clone().filter(|r| *r == wanted).count();
        Self {
            records,
            ok: count(FirehoseResult::Ok),
            failed: count(FirehoseResult::ProcessingFailed),
            dropped: count(FirehoseResult::Dropped),
            response_full: outcome
                .failures
                .iter()
                .filter(|f| matches!(f.error, RecordError::ResponseFull { .. }))
                .count(),
        }
    }
}

impl<I: NeighbourIndex, M: ModelStore> Transformer<I, M> {
    /// A transformer over `index` and `models`; `options` give `k` and the version pin.
    pub fn new(index: I, models: M, options: &TransformOptions) -> Self {
        Self {
            index,
            models,
            knn_k: options.knn_k,
            pin: options.model_version_pin.clone(),
            serving: Mutex::new(None),
        }
    }

    /// The index adapter.
    pub fn index(&self) -> &I {
        &self.index
    }

    /// Loads the model of the active embeddings now (at container start) rather than on the
    /// first event.
    pub async fn warm_up(&self) -> Result<IndexVersion, HandlerError> {
        self.current().await.map(|(_, version)| version)
    }

    /// The model and embedding version to use, re-reading the active version when stale.
    async fn current(&self) -> Result<(Arc<M::Model>, IndexVersion), HandlerError> {
        let mut serving = self.serving.lock().await;
        if let Some(s) = serving.as_ref()
            && s.checked_at.elapsed() < VERSION_RECHECK_INTERVAL
        {
            return Ok((s.model.clone(), s.version.clone()));
        }
        let active = self
            .index
            .active_version()
            .await?
            .ok_or(HandlerError::NoEmbeddings)?;
        if let Some(pinned) = &self.pin
            && *pinned != active.model_version
        {
            return Err(HandlerError::PinMismatch {
                pinned: pinned.clone(),
                active: active.model_version,
            });
        }
        let model = match serving.as_ref() {
            Some(s) if s.model.model_version() == active.model_version => s.model.clone(),
            _ => {
                let started = Instant::now();
                let model = self.models.load(&active.model_version).await?;
                tracing::info!(
                    model_version = %active.model_version,
                    embedding_version = %active.embedding_version,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "model loaded"
                );
                Arc::new(model)
            }
        };
        if M::dim(&model) != active.dim {
            return Err(HandlerError::DimensionMismatch {
                model_version: active.model_version,
                model_dim: M::dim(&model),
                index_dim: active.dim,
            });
        }
        *serving = Some(Serving {
            model: model.clone(),
            version: active.clone(),
            checked_at: Instant::now(),
        });
        Ok((model, active))
    }

    /// Transforms one Firehose batch.
    pub async fn transform(&self, event: FirehoseEvent) -> Result<Transformed, HandlerError> {
        let records = event.records.len();
        let (model, version) = self.current().await?;
        let batch = prepare_batch(event.records, model.as_ref());
        let (answers, knn_elapsed) = if batch.queries.is_empty() {
            (Vec::new(), None)
        } else {
            let started = Instant::now();
            let answers = self.index.knn_batch(&batch.queries, self.knn_k).await?;
            (answers, Some(started.elapsed()))
        };
        let provenance = Provenance {
            model_version: version.model_version,
            embedding_version: version.embedding_version,
            generated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        };
        let outcome = finish_batch(batch, answers, &provenance, self.knn_k)?;
        for failure in outcome.failures.iter().take(MAX_LOGGED_FAILURES) {
            tracing::warn!(record_id = %failure.record_id, reason = %failure.error, "record failed");
        }
        let counts = InvocationCounts::of_outcome(records, &outcome);
        tracing::info!(
            records = counts.records,
            ok = counts.ok,
            failed = counts.failed,
            dropped = counts.dropped,
            response_full = counts.response_full,
            knn_ms = knn_elapsed.map(|d| d.as_secs_f64() * 1e3),
            "batch transformed"
        );
        Ok(Transformed {
            response: outcome.response,
            counts,
            failures: outcome.failures,
            knn_elapsed,
        })
    }
}

/// The Lambda entry point: `run(service_fn(|e| function_handler(e, &transformer)))`.
pub async fn function_handler<I: NeighbourIndex, M: ModelStore>(
    event: LambdaEvent<FirehoseEvent>,
    transformer: &Transformer<I, M>,
) -> Result<FirehoseResponse, lambda_runtime::Error> {
    handle_invocation(event, transformer)
        .await
        .map(|transformed| transformed.response)
}

/// One invocation as [`function_handler`] answers it, with the whole outcome (counts and
/// k-NN time for [`Transformed::metrics`]); a failed invocation is logged here.
pub async fn handle_invocation<I: NeighbourIndex, M: ModelStore>(
    event: LambdaEvent<FirehoseEvent>,
    transformer: &Transformer<I, M>,
) -> Result<Transformed, lambda_runtime::Error> {
    match transformer.transform(event.payload).await {
        Ok(transformed) => Ok(transformed),
        Err(error) => {
            tracing::error!(
                request_id = %event.context.request_id,
                retryable = error.is_retryable(),
                error = %error,
                "invocation failed"
            );
            Err(Box::new(error))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reco_domain::firehose::FirehoseResponseRecord;

    fn answer(id: &str, result: FirehoseResult) -> FirehoseResponseRecord {
        let mut record = FirehoseResponseRecord::failed(id.to_owned(), String::new());
        record.result = result;
        record
    }

    #[test]
    fn counts_separate_response_full_and_dropped_records_from_bad_input() {
        let outcome = BatchOutcome {
            response: FirehoseResponse {
                records: vec![
                    answer("a", FirehoseResult::Ok),
                    answer("b", FirehoseResult::ProcessingFailed),
                    answer("c", FirehoseResult::ProcessingFailed),
                    answer("d", FirehoseResult::Dropped),
                ],
            },
            failures: vec![
                RecordFailure {
                    record_id: "b".into(),
                    error: RecordError::ResponseFull { limit: 6 },
                },
                RecordFailure {
                    record_id: "c".into(),
                    error: reco_domain::event::EventError::NotBase64 { reason: "x".into() }.into(),
                },
            ],
            ok: 1,
        };
        let counts = InvocationCounts::of_outcome(4, &outcome);
        assert_eq!(
            counts,
            InvocationCounts {
                records: 4,
                ok: 1,
                failed: 2,
                dropped: 1,
                response_full: 1,
            }
        );
        let transformed = Transformed {
            response: outcome.response,
            counts,
            failures: outcome.failures,
            knn_elapsed: Some(Duration::from_micros(2_500)),
        };
        let metrics = transformed.metrics();
        assert_eq!(metrics.values("ResponseFull"), Some(&[1.0][..]));
        assert_eq!(metrics.values("RecordsDropped"), Some(&[1.0][..]));
        assert_eq!(metrics.values("RecordsFailed"), Some(&[2.0][..]));
        assert_eq!(metrics.values("KnnMilliseconds"), Some(&[2.5][..]));
    }
}
