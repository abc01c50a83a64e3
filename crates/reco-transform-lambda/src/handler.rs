//! The Firehose transformation handler: per invocation, one model check (cached), the pure
//! per-record transform, and one batched k-NN request (one pgvector statement, or the exact
//! in-memory search of a small catalogue: see [`crate::pg_index`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use lambda_runtime::LambdaEvent;
use reco_domain::firehose::{FirehoseEvent, FirehoseResponse};
use reco_domain::recommendation::Provenance;
use reco_domain::transform::{
    AnswerCountMismatch, CustomerEmbedder, RecordFailure, finish_batch, prepare_batch,
};
use tokio::sync::Mutex;

use crate::config::TransformOptions;
use crate::ports::{IndexError, IndexVersion, ModelLoadError, ModelStore, NeighbourIndex};

/// How long the active embedding version is trusted before it is read again: a new load
/// (`reco load-embeddings` swaps versions atomically) is picked up within this time.
pub const VERSION_RECHECK_INTERVAL: Duration = Duration::from_secs(30);

/// Failed records logged one by one per invocation; the rest are only counted.
pub const MAX_LOGGED_FAILURES: usize = 20;

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
}

/// Counts of one invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvocationCounts {
    /// Records received.
    pub records: usize,
    /// Records returned `Ok`.
    pub ok: usize,
    /// Records returned `ProcessingFailed`.
    pub failed: usize,
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
        let answers = if batch.queries.is_empty() {
            Vec::new()
        } else {
            self.index.knn_batch(&batch.queries, self.knn_k).await?
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
        let counts = InvocationCounts {
            records,
            ok: outcome.ok,
            failed: outcome.failures.len(),
        };
        tracing::info!(
            records = counts.records,
            ok = counts.ok,
            failed = counts.failed,
            "batch transformed"
        );
        Ok(Transformed {
            response: outcome.response,
            counts,
            failures: outcome.failures,
        })
    }
}

/// The Lambda entry point: `run(service_fn(|e| function_handler(e, &transformer)))`.
pub async fn function_handler<I: NeighbourIndex, M: ModelStore>(
    event: LambdaEvent<FirehoseEvent>,
    transformer: &Transformer<I, M>,
) -> Result<FirehoseResponse, lambda_runtime::Error> {
    match transformer.transform(event.payload).await {
        Ok(transformed) => Ok(transformed.response),
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
