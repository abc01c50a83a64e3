//! The Firehose transformation handler: per invocation, one model check (cached), the pure
//! per-record transform, and one batched k-NN request (one pgvector statement, or the exact
//! in-memory search of a small catalogue: see [`crate::pg_index`]).
//!
//! Resilience, in the order it acts: a query the database refuses fails only its records
//! (per-query answers, [`crate::isolate`]); an unreachable database is retried within the
//! invocation's deadline ([`crate::retry`]); a version check that cannot reach the database
//! keeps serving the cached model and version (static stability); embeddings replaced under
//! a batch (their table dropped) make the handler read the active version and its model
//! again and redo the batch, so every record is stamped with the version that produced it.
//!
//! While an A/B experiment runs ([`crate::experiments`], `reco experiment start`), each valid
//! record's customer is assigned its variant (`reco_domain::experiment::assign`): the
//! treatment's customers are embedded by the treatment's model and answered from its loaded
//! embeddings (loaded `--inactive`), the others by the control's, in two k-NN requests whose
//! answers make one response in the records' order, each record stamped with its variant's
//! versions, the experiment and the variant. A treatment that cannot serve (embeddings not
//! loaded, model not fetchable, embeddings gone) leaves its customers to the control, stamped
//! `control`, with a warning and the `ExperimentTreatmentFallbacks` metric.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lambda_runtime::LambdaEvent;
use reco_aws::emf::{MetricSet, Unit};
use reco_domain::experiment::{Experiment, Variant};
use reco_domain::firehose::{FirehoseEvent, FirehoseResponse, FirehoseResult};
use reco_domain::recommendation::Provenance;
use reco_domain::transform::{
    AnswerCountMismatch, BatchOutcome, CustomerEmbedder, KnnAnswer, KnnQuery, OutputOptions,
    PreparedBatch, RecordError, RecordFailure, RecordStamp, finish_batch, finish_batch_stamped,
    prepare_batch,
};
use tokio::sync::Mutex;

use crate::config::TransformOptions;
use crate::experiments::ExperimentWatch;
use crate::ports::{IndexError, IndexVersion, ModelLoadError, ModelStore, NeighbourIndex};
use crate::retry::{Deadline, RetryCounts, RetryPolicy, with_retries};

/// How long the active embedding version is trusted before it is read again: a new load
/// (`reco load-embeddings` swaps versions atomically) is picked up within this time.
pub const VERSION_RECHECK_INTERVAL: Duration = Duration::from_secs(30);

/// Times one batch is redone because its embeddings version was replaced under it: each
/// redo follows a load that finished, and loads take minutes, so a second one is already rare.
pub const MAX_VERSION_REDOS: u32 = 3;

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
            HandlerError::Index(
                IndexError::Unavailable { .. }
                    | IndexError::Authentication { .. }
                    | IndexError::VersionGone { .. }
            ) | HandlerError::Model(ModelLoadError::Fetch { .. })
                | HandlerError::NoEmbeddings
        )
    }
}

/// How an invocation went with the vector database (for its log line and metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DatabaseReport {
    /// Retries and credential refreshes.
    pub retries: RetryCounts,
    /// The version re-check could not reach the database: the cached version was served.
    pub stale_version_served: bool,
    /// Times the batch was redone because its embeddings version was replaced.
    pub version_redos: u32,
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
    output: OutputOptions,
    pin: Option<String>,
    retry: RetryPolicy,
    invocation_timeout: Duration,
    version_recheck_interval: Duration,
    serving: Mutex<Option<Serving<M::Model>>>,
    experiments: Option<ExperimentWatch>,
    /// The model and loaded embeddings of each model version the running experiment names
    /// (`None`: not loaded or not fetchable, looked up again after the re-check interval).
    variants: Mutex<HashMap<String, Resolved<M::Model>>>,
}

type VariantServing<Model> = (Arc<Model>, IndexVersion);

struct Resolved<Model> {
    serving: Option<VariantServing<Model>>,
    checked_at: Instant,
}

/// What an experiment did to one batch (records answered per variant).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExperimentCounts {
    /// Records answered by the control's versions (fallbacks included).
    pub control: usize,
    /// Records answered by the treatment's versions.
    pub treatment: usize,
    /// Treatment customers answered by the control because the treatment's model or
    /// embeddings could not serve (stamped `control`).
    pub treatment_fallback: usize,
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
    /// How long the batch's k-NN request took, retries included (`None` when no record
    /// needed one).
    pub knn_elapsed: Option<Duration>,
    /// Retries, static stability and redos of this invocation.
    pub database: DatabaseReport,
    /// Per-variant counts when an experiment ran (`None`: no experiment).
    pub experiment: Option<ExperimentCounts>,
}

impl Transformed {
    /// The invocation's metrics (Service `transform`): the record counts, the batch size,
    /// what the database cost (retries, a stale version served, redos) and the k-NN time when
    /// there was a k-NN request.
    pub fn metrics(&self) -> MetricSet {
        let mut metrics = MetricSet::new(METRICS_SERVICE);
        let c = &self.counts;
        metrics
            .count("RecordsOk", c.ok as u64)
            .count("RecordsFailed", c.failed as u64)
            .count("RecordsDropped", c.dropped as u64)
            .count("ResponseFull", c.response_full as u64)
            .count("RecordsQueryRejected", c.query_rejected as u64)
            .count("BatchRecords", c.records as u64);
        let d = &self.database;
        metrics
            .count("IndexRetries", u64::from(d.retries.retries))
            .count(
                "CredentialRefreshes",
                u64::from(d.retries.credential_refreshes),
            )
            .count("StaleVersionServed", u64::from(d.stale_version_served))
            .count("VersionRedos", u64::from(d.version_redos));
        if let Some(e) = &self.experiment {
            metrics
                .count("ExperimentControlRecords", e.control as u64)
                .count("ExperimentTreatmentRecords", e.treatment as u64)
                .count("ExperimentTreatmentFallbacks", e.treatment_fallback as u64);
        }
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
    /// Of the `failed` records, those whose k-NN query the database refused.
    pub query_rejected: usize,
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
            query_rejected: outcome
                .failures
                .iter()
                .filter(|f| matches!(f.error, RecordError::QueryRejected(_)))
                .count(),
        }
    }
}

impl<I: NeighbourIndex, M: ModelStore> Transformer<I, M> {
    /// A transformer over `index` and `models`; `options` give `k`, how `Ok` records are
    /// written (per-record gzip, partition keys), the version pin, the retry policy, the
    /// version re-check interval and the time an invocation without a runtime deadline has.
    pub fn new(index: I, models: M, options: &TransformOptions) -> Self {
        Self {
            index,
            models,
            knn_k: options.knn_k,
            output: options.output(),
            pin: options.model_version_pin.clone(),
            retry: options.retry,
            invocation_timeout: options.invocation_timeout,
            version_recheck_interval: options.version_recheck_interval,
            serving: Mutex::new(None),
            experiments: None,
            variants: Mutex::new(HashMap::new()),
        }
    }

    /// This transformer serving the experiment `watch` reports (read from its cache, never
    /// on a batch's path; a batch waits only for the watch's first read, so that none is
    /// answered before the state is known); without it, or while no experiment runs, every
    /// record is served by the active version as before.
    pub fn with_experiments(mut self, watch: ExperimentWatch) -> Self {
        self.experiments = Some(watch);
        self
    }

    /// The index adapter.
    pub fn index(&self) -> &I {
        &self.index
    }

    /// Loads the model of the active embeddings now (at container start) rather than on the
    /// first event, and those of a running experiment's other versions. The experiment state
    /// is not waited for until the active version is served: its first read runs meanwhile.
    pub async fn warm_up(&self) -> Result<IndexVersion, HandlerError> {
        let deadline = Deadline::after(self.invocation_timeout);
        let mut report = DatabaseReport::default();
        let (_, version) = self.current(deadline, &mut report, false).await?;
        // A running experiment's versions too, so that its first batch loads nothing.
        if let Some(watch) = &self.experiments {
            watch.ready().await;
        }
        if let Some(experiment) = self.experiments.as_ref().and_then(ExperimentWatch::current) {
            for named in experiment.named_versions() {
                if named != version.model_version {
                    self.variant(named, deadline, &mut report).await;
                }
            }
        }
        Ok(version)
    }

    /// The model and embedding version to use, re-reading the active version when stale (or
    /// always, with `reread`: the cached version is gone). While a model is cached, a
    /// re-check that cannot reach the database keeps serving it (static stability).
    async fn current(
        &self,
        deadline: Deadline,
        report: &mut DatabaseReport,
        reread: bool,
    ) -> Result<(Arc<M::Model>, IndexVersion), HandlerError> {
        let mut serving = self.serving.lock().await;
        if let Some(s) = serving.as_mut()
            && !reread
        {
            if s.checked_at.elapsed() < self.version_recheck_interval {
                return Ok((s.model.clone(), s.version.clone()));
            }
            let check =
                Deadline::after(self.retry.response_margin + self.retry.cached_version_check)
                    .earlier(deadline);
            let read = with_retries(
                &self.index,
                &self.retry,
                check,
                "version check",
                &mut report.retries,
                || self.index.active_version(),
            )
            .await;
            match read {
                Err(
                    error @ (IndexError::Unavailable { .. } | IndexError::Authentication { .. }),
                ) => {
                    // Checked again after another interval, not on every batch of an outage.
                    s.checked_at = Instant::now();
                    report.stale_version_served = true;
                    tracing::warn!(
                        model_version = %s.version.model_version,
                        embedding_version = %s.version.embedding_version,
                        error = %error,
                        "cannot re-check the active version; serving the cached one"
                    );
                    return Ok((s.model.clone(), s.version.clone()));
                }
                read => {
                    let active = read?.ok_or(HandlerError::NoEmbeddings)?;
                    return self.serve(&mut serving, active).await;
                }
            }
        }
        let active = with_retries(
            &self.index,
            &self.retry,
            deadline,
            "version check",
            &mut report.retries,
            || self.index.active_version(),
        )
        .await?
        .ok_or(HandlerError::NoEmbeddings)?;
        self.serve(&mut serving, active).await
    }

    /// Makes `active` the served version, loading its model unless it is the cached one.
    async fn serve(
        &self,
        serving: &mut Option<Serving<M::Model>>,
        active: IndexVersion,
    ) -> Result<(Arc<M::Model>, IndexVersion), HandlerError> {
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

    /// Transforms one Firehose batch, with [`TransformOptions::invocation_timeout`] from now
    /// as its deadline (callers without a Lambda runtime: the local Firehose, benchmarks).
    pub async fn transform(&self, event: FirehoseEvent) -> Result<Transformed, HandlerError> {
        self.transform_until(event, Deadline::after(self.invocation_timeout))
            .await
    }

    /// Transforms one Firehose batch, retrying the database until `deadline` is near.
    pub async fn transform_until(
        &self,
        event: FirehoseEvent,
        deadline: Deadline,
    ) -> Result<Transformed, HandlerError> {
        let records = event.records.len();
        let mut report = DatabaseReport::default();
        let (mut model, mut version) = self.current(deadline, &mut report, false).await?;
        // Until the first read of the experiment state has finished, nobody knows whether a
        // customer is in a treatment (at once after a cold start's warm-up).
        if let Some(watch) = self.experiments.as_ref().filter(|w| !w.is_ready()) {
            let started = Instant::now();
            watch.ready().await;
            tracing::info!(
                waited_ms = started.elapsed().as_secs_f64() * 1e3,
                "batch waited for the first read of the experiment state"
            );
        }
        if let Some(experiment) = self.experiments.as_ref().and_then(ExperimentWatch::current) {
            return self
                .transform_experiment(event, deadline, report, (model, version), &experiment)
                .await;
        }
        let mut batch = prepare_batch(event.records, model.as_ref());
        let (answers, knn_elapsed) = if batch.queries.is_empty() {
            (Vec::new(), None)
        } else {
            let started = Instant::now();
            let answers = loop {
                let stored = self
                    .use_stored_vectors(&version, &mut batch, |_| true, deadline, &mut report)
                    .await;
                let asked = match stored {
                    Ok(()) => {
                        with_retries(
                            &self.index,
                            &self.retry,
                            deadline,
                            "k-NN",
                            &mut report.retries,
                            || self.index.knn_batch(&version, &batch.queries, self.knn_k),
                        )
                        .await
                    }
                    Err(error) => Err(error),
                };
                match asked {
                    Err(IndexError::VersionGone { embedding_version })
                        if report.version_redos < MAX_VERSION_REDOS =>
                    {
                        report.version_redos += 1;
                        (model, version) = self.current(deadline, &mut report, true).await?;
                        tracing::info!(
                            gone = %embedding_version,
                            model_version = %version.model_version,
                            embedding_version = %version.embedding_version,
                            "embeddings replaced under the batch; redone with the new version"
                        );
                        batch.reembed(model.as_ref());
                    }
                    asked => break asked?,
                }
            };
            (answers, Some(started.elapsed()))
        };
        // The version whose vectors answered the queries (and whose model embedded them).
        let provenance = Provenance {
            model_version: version.model_version,
            embedding_version: version.embedding_version,
            generated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        };
        let outcome = finish_batch(batch, answers, &provenance, &self.output)?;
        Ok(self.report(records, outcome, knn_elapsed, report, None))
    }

    /// Logs a finished batch and counts it.
    fn report(
        &self,
        records: usize,
        outcome: BatchOutcome,
        knn_elapsed: Option<Duration>,
        report: DatabaseReport,
        experiment: Option<ExperimentCounts>,
    ) -> Transformed {
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
            query_rejected = counts.query_rejected,
            retries = report.retries.retries,
            stale_version = report.stale_version_served,
            version_redos = report.version_redos,
            knn_ms = knn_elapsed.map(|d| d.as_secs_f64() * 1e3),
            control = experiment.map(|e| e.control),
            treatment = experiment.map(|e| e.treatment),
            treatment_fallback = experiment.map(|e| e.treatment_fallback),
            "batch transformed"
        );
        Transformed {
            response: outcome.response,
            counts,
            failures: outcome.failures,
            knn_elapsed,
            database: report,
            experiment,
        }
    }

    /// One batch while `experiment` runs: each valid record's customer is assigned its
    /// variant; the control's customers are answered by the control's versions (`active`
    /// unless the experiment names a control version), the treatment's by the treatment's
    /// model and embeddings, two k-NN requests assembled into one response in the records'
    /// order, each record stamped with its variant's versions, the experiment and the
    /// variant. A treatment that cannot serve (not loaded, model not fetchable, its
    /// embeddings gone) leaves its customers to the control, stamped `control`, logged and
    /// counted; the batch never fails for it.
    async fn transform_experiment(
        &self,
        event: FirehoseEvent,
        deadline: Deadline,
        mut report: DatabaseReport,
        mut active: VariantServing<M::Model>,
        experiment: &Experiment,
    ) -> Result<Transformed, HandlerError> {
        let named = experiment.named_versions();
        self.variants
            .lock()
            .await
            .retain(|version, _| named.contains(&version.as_str()));
        loop {
            let attempt = self
                .answer_experiment(event.clone(), deadline, &mut report, &active, experiment)
                .await;
            match attempt {
                Err(HandlerError::Index(IndexError::VersionGone { embedding_version }))
                    if report.version_redos < MAX_VERSION_REDOS =>
                {
                    report.version_redos += 1;
                    self.variants.lock().await.clear();
                    active = self.current(deadline, &mut report, true).await?;
                    tracing::info!(
                        gone = %embedding_version,
                        model_version = %active.1.model_version,
                        embedding_version = %active.1.embedding_version,
                        "embeddings replaced under the batch; redone with the new version"
                    );
                }
                Err(error) => return Err(error),
                Ok((outcome, knn_elapsed, counts)) => {
                    return Ok(self.report(
                        event.records.len(),
                        outcome,
                        knn_elapsed,
                        report,
                        Some(counts),
                    ));
                }
            }
        }
    }

    async fn answer_experiment(
        &self,
        event: FirehoseEvent,
        deadline: Deadline,
        report: &mut DatabaseReport,
        active: &VariantServing<M::Model>,
        experiment: &Experiment,
    ) -> Result<(BatchOutcome, Option<Duration>, ExperimentCounts), HandlerError> {
        let (control_model, control_version) = match experiment.control_model_version.as_deref() {
            Some(control) if control != active.1.model_version => {
                match self.variant(control, deadline, report).await {
                    Some(serving) => serving,
                    None => {
                        tracing::warn!(
                            experiment = %experiment.name,
                            control_model_version = control,
                            "the control's version cannot serve; the active version answers the control"
                        );
                        active.clone()
                    }
                }
            }
            _ => active.clone(),
        };
        let treatment = self
            .variant(&experiment.treatment_model_version, deadline, report)
            .await;
        let in_treatment = |customer: i64| experiment.variant_of(customer) == Variant::Treatment;
        let mut batch = prepare_batch(event.records, control_model.as_ref());
        let customers = batch.query_customers();
        let mut answers: Vec<Option<KnnAnswer>> = (0..customers.len()).map(|_| None).collect();
        let started = Instant::now();
        let mut treatment_serves = treatment.is_some();
        if let Some((model, version)) = &treatment {
            let asked: Vec<usize> = (0..customers.len())
                .filter(|&q| in_treatment(customers[q]))
                .collect();
            if !asked.is_empty() {
                batch.reembed_where(model.as_ref(), in_treatment);
                let answered = match self
                    .use_stored_vectors(version, &mut batch, in_treatment, deadline, report)
                    .await
                {
                    Ok(()) => {
                        self.ask(version, &batch.queries, &asked, deadline, report)
                            .await
                    }
                    Err(error) => Err(error.into()),
                };
                match answered {
                    Ok(answered) => scatter(&mut answers, &asked, answered),
                    // The treatment's embeddings are gone or refused: its customers go to
                    // the control (the batch is not failed for the experiment).
                    Err(
                        error @ (HandlerError::Index(
                            IndexError::VersionGone { .. } | IndexError::Rejected { .. },
                        )
                        | HandlerError::Answers(_)),
                    ) => {
                        tracing::warn!(
                            experiment = %experiment.name,
                            treatment_model_version = %experiment.treatment_model_version,
                            error = %error,
                            "the treatment cannot answer; its customers get the control's answer"
                        );
                        self.variants
                            .lock()
                            .await
                            .remove(&experiment.treatment_model_version);
                        treatment_serves = false;
                        batch.reembed_where(control_model.as_ref(), in_treatment);
                    }
                    Err(error) => return Err(error),
                }
            }
        }
        let asked: Vec<usize> = (0..customers.len())
            .filter(|&q| answers[q].is_none())
            .collect();
        if !asked.is_empty() {
            let control: HashSet<i64> = asked.iter().map(|&q| customers[q]).collect();
            self.use_stored_vectors(
                &control_version,
                &mut batch,
                |customer| control.contains(&customer),
                deadline,
                report,
            )
            .await?;
            let answered = self
                .ask(&control_version, &batch.queries, &asked, deadline, report)
                .await?;
            scatter(&mut answers, &asked, answered);
        }
        let knn_elapsed = (!customers.is_empty()).then(|| started.elapsed());
        let answers: Vec<KnnAnswer> = answers
            .into_iter()
            .map(|a| a.unwrap_or_else(|| Ok(Vec::new())))
            .collect();
        let generated_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let stamp = |version: &IndexVersion, variant: Variant| RecordStamp {
            provenance: Provenance {
                model_version: version.model_version.clone(),
                embedding_version: version.embedding_version.clone(),
                generated_at: generated_at.clone(),
            },
            experiment: Some(experiment.name.clone()),
            variant: Some(variant),
        };
        let mut stamps = vec![stamp(&control_version, Variant::Control)];
        if let Some((_, version)) = treatment.as_ref().filter(|_| treatment_serves) {
            stamps.push(stamp(version, Variant::Treatment));
        }
        let (control, treated, fallback) = (Cell::new(0), Cell::new(0), Cell::new(0));
        let outcome = finish_batch_stamped(
            batch,
            answers,
            &stamps,
            |customer| {
                if !in_treatment(customer) {
                    control.set(control.get() + 1);
                    0
                } else if stamps.len() > 1 {
                    treated.set(treated.get() + 1);
                    1
                } else {
                    fallback.set(fallback.get() + 1);
                    control.set(control.get() + 1);
                    0
                }
            },
            &self.output,
        )?;
        let counts = ExperimentCounts {
            control: control.get(),
            treatment: treated.get(),
            treatment_fallback: fallback.get(),
        };
        if counts.treatment_fallback > 0 {
            tracing::warn!(
                experiment = %experiment.name,
                treatment_model_version = %experiment.treatment_model_version,
                records = counts.treatment_fallback,
                "treatment customers answered by the control (stamped control)"
            );
        }
        Ok((outcome, knn_elapsed, counts))
    }

    /// Sets the customer queries of the known customers among those `selected` picks to
    /// their stored vectors in `version` (the model embeds from the event's features only).
    async fn use_stored_vectors(
        &self,
        version: &IndexVersion,
        batch: &mut PreparedBatch,
        selected: impl Fn(i64) -> bool,
        deadline: Deadline,
        report: &mut DatabaseReport,
    ) -> Result<(), IndexError> {
        let customers = batch.customers_where(selected);
        if customers.is_empty() {
            return Ok(());
        }
        let stored = with_retries(
            &self.index,
            &self.retry,
            deadline,
            "customer vectors",
            &mut report.retries,
            || self.index.customer_vectors(version, &customers),
        )
        .await?;
        batch.use_stored_vectors(&stored);
        Ok(())
    }

    /// Answers the queries at positions `asked` of `queries` from `version`, in that order.
    async fn ask(
        &self,
        version: &IndexVersion,
        queries: &[KnnQuery],
        asked: &[usize],
        deadline: Deadline,
        report: &mut DatabaseReport,
    ) -> Result<Vec<KnnAnswer>, HandlerError> {
        let subset: Vec<KnnQuery> = asked.iter().map(|&q| queries[q].clone()).collect();
        let answers = with_retries(
            &self.index,
            &self.retry,
            deadline,
            "k-NN",
            &mut report.retries,
            || self.index.knn_batch(version, &subset, self.knn_k),
        )
        .await?;
        if answers.len() != subset.len() {
            return Err(AnswerCountMismatch {
                queries: subset.len(),
                answers: answers.len(),
            }
            .into());
        }
        Ok(answers)
    }

    /// The model and loaded embeddings of experiment version `model_version` (cached; a
    /// version that cannot serve is looked up again after the re-check interval), `None`
    /// with a warning when its embeddings are not loaded or its model cannot be fetched.
    async fn variant(
        &self,
        model_version: &str,
        deadline: Deadline,
        report: &mut DatabaseReport,
    ) -> Option<VariantServing<M::Model>> {
        let mut variants = self.variants.lock().await;
        if let Some(resolved) = variants.get(model_version)
            && (resolved.serving.is_some()
                || resolved.checked_at.elapsed() < self.version_recheck_interval)
        {
            return resolved.serving.clone();
        }
        let check = Deadline::after(self.retry.response_margin + self.retry.cached_version_check)
            .earlier(deadline);
        let loaded = with_retries(
            &self.index,
            &self.retry,
            check,
            "experiment version",
            &mut report.retries,
            || self.index.loaded_version_of(model_version),
        )
        .await;
        let serving = match loaded {
            Ok(Some(version)) => match self.models.load(model_version).await {
                Ok(model) if M::dim(&model) == version.dim => {
                    tracing::info!(
                        model_version,
                        embedding_version = %version.embedding_version,
                        "experiment version loaded"
                    );
                    Some((Arc::new(model), version))
                }
                Ok(model) => {
                    tracing::warn!(
                        model_version,
                        model_dim = M::dim(&model),
                        index_dim = version.dim,
                        "experiment version's model and embeddings differ in dimension; not served"
                    );
                    None
                }
                Err(error) => {
                    tracing::warn!(model_version, error = %error, "experiment version's model cannot be loaded; not served");
                    None
                }
            },
            Ok(None) => {
                tracing::warn!(
                    model_version,
                    "experiment version's embeddings are not loaded (run `reco load-embeddings --model {model_version} --inactive`); not served"
                );
                None
            }
            Err(error) => {
                tracing::warn!(model_version, error = %error, "cannot look up the experiment version's embeddings; not served");
                None
            }
        };
        variants.insert(
            model_version.to_owned(),
            Resolved {
                serving: serving.clone(),
                checked_at: Instant::now(),
            },
        );
        serving
    }
}

/// Puts `answered[i]` at position `asked[i]` of `answers`.
fn scatter(answers: &mut [Option<KnnAnswer>], asked: &[usize], answered: Vec<KnnAnswer>) {
    for (&q, answer) in asked.iter().zip(answered) {
        answers[q] = Some(answer);
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
    // The runtime's deadline; without one (tests), the configured invocation timeout.
    let deadline = Deadline::from_lambda(event.context.deadline)
        .unwrap_or_else(|| Deadline::after(transformer.invocation_timeout));
    match transformer.transform_until(event.payload, deadline).await {
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
                query_rejected: 0,
            }
        );
        let transformed = Transformed {
            response: outcome.response,
            counts,
            failures: outcome.failures,
            knn_elapsed: Some(Duration::from_micros(2_500)),
            database: DatabaseReport {
                retries: RetryCounts {
                    retries: 4,
                    credential_refreshes: 0,
                },
                stale_version_served: true,
                version_redos: 1,
            },
            experiment: None,
        };
        let metrics = transformed.metrics();
        assert_eq!(metrics.values("ResponseFull"), Some(&[1.0][..]));
        assert_eq!(metrics.values("RecordsDropped"), Some(&[1.0][..]));
        assert_eq!(metrics.values("RecordsFailed"), Some(&[2.0][..]));
        assert_eq!(metrics.values("KnnMilliseconds"), Some(&[2.5][..]));
        assert_eq!(metrics.values("IndexRetries"), Some(&[4.0][..]));
        assert_eq!(metrics.values("StaleVersionServed"), Some(&[1.0][..]));
        assert_eq!(metrics.values("VersionRedos"), Some(&[1.0][..]));
        assert_eq!(metrics.values("RecordsQueryRejected"), Some(&[0.0][..]));
    }
}
