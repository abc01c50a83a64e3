//! The transform Lambda's entry point: tracing, configuration, clients, then the runtime loop
//! (each answered batch also writes its metrics as one EMF line, see `Transformed::metrics`).
//!
//! Init runs the independent steps at once: the S3 client is built and the model likely to be
//! needed (the pinned version, else the live one: its copy next to `LATEST`, one GET) fetched
//! and parsed while the database connects; the warm-up then takes that model if the active
//! embeddings are its version (else it fetches theirs, as without the prefetch). The A/B
//! experiment state is read meanwhile too: the warm-up waits for it only after the active
//! version is served (to preload a running experiment's versions), and a batch never starts
//! before it is known. Each init step logs its time
//! (`init phase`, INFO: its time, the time since `main` started and the wall clock) so
//! cold-start measurements (`bench/streaming/cold_start.py`) can tell where the time goes.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use clap::Parser as _;
use reco_aws::Bucket;
use reco_aws::experiments::ExperimentStore;
use reco_transform_lambda::experiments::{EXPERIMENT_REFRESH_INTERVAL, ExperimentWatch};
use reco_transform_lambda::pg_index::PgVectorIndex;
use reco_transform_lambda::s3_models::{PrefetchVersion, S3ModelStore};
use reco_transform_lambda::{TransformConfig, Transformer, handle_invocation};
use reco_vector_store::{StoreOptions, VectorStore};

/// Times init steps and logs each.
#[derive(Clone, Copy)]
struct Phases {
    started: Instant,
    last: Instant,
}

impl Phases {
    fn new(started: Instant) -> Self {
        Self {
            started,
            last: started,
        }
    }

    /// Logs the step that ends now and began at the previous `done` of this timer (or at its
    /// creation): its time, the time since `main` started and the wall clock (`unix_ms`).
    fn done(&mut self, phase: &'static str) {
        let now = Instant::now();
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64() * 1e3);
        tracing::info!(
            phase,
            elapsed_ms = (now - self.last).as_secs_f64() * 1e3,
            since_start_ms = (now - self.started).as_secs_f64() * 1e3,
            unix_ms,
            "init phase"
        );
        self.last = now;
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let mut phases = Phases::new(Instant::now());
    lambda_runtime::tracing::init_default_subscriber();
    phases.done("tracing");
    // The same artifact is the events delivery stream's processor: raw event -> lake row
    // (reco_domain::lake_events::firehose_rows), no database, no model.
    if std::env::var("RECO_LAMBDA_MODE").as_deref() == Ok("lake-events") {
        return lambda_runtime::run(lambda_runtime::service_fn(
            |event: lambda_runtime::LambdaEvent<reco_domain::firehose::FirehoseEvent>| async {
                Ok::<_, lambda_runtime::Error>(reco_domain::lake_events::firehose_rows(
                    event.payload.records,
                ))
            },
        ))
        .await;
    }
    let config = TransformConfig::try_parse_from([env!("CARGO_BIN_NAME")]).map_err(|e| {
        let message = e.to_string();
        tracing::error!(error = %message.trim_end(), "invalid configuration");
        message
    })?;
    let options = config.options();
    phases.done("config");
    // The S3 client (its TLS roots) and the model's fetch and parse, while the database
    // connects.
    let models = {
        let (aws, bucket) = (config.aws.clone(), config.artifacts_bucket()?.to_owned());
        let prefix = options.model_prefix.clone();
        let ahead = match &options.model_version_pin {
            Some(version) => PrefetchVersion::Exactly(version.clone()),
            None => PrefetchVersion::Latest,
        };
        let mut phases = phases;
        // The A/B experiment state's first read starts here too, off the critical path: only
        // the warm-up's preload of its versions and the first batch wait for it.
        tokio::task::spawn_blocking(move || {
            let bucket = Bucket::s3_amazon_roots(&aws, &bucket)?;
            let experiments = ExperimentWatch::spawn(
                ExperimentStore::new(bucket.clone(), prefix.clone()),
                EXPERIMENT_REFRESH_INTERVAL,
            );
            let models = S3ModelStore::new(bucket, prefix);
            models.prefetch(ahead);
            phases.done("s3_client");
            Ok::<_, reco_aws::StorageError>((models, experiments))
        })
    };
    let sdk_config = reco_aws::sdk_config(&config.aws).await;
    phases.done("sdk_config");
    let connecting = Instant::now();
    // The store remembers where the credentials come from, so a refused password (rotated
    // secret) is re-read and retried by the handler instead of failing until a cold start.
    let store = VectorStore::connect_target(
        &config.pg.target()?,
        &sdk_config,
        config.transform.store_options(StoreOptions::for_lambda())?,
    )
    .await?;
    // Logged so that cold-start measurements can tell connection time from the rest.
    tracing::info!(
        elapsed_ms = connecting.elapsed().as_secs_f64() * 1e3,
        "vector database connected"
    );
    phases.done("database");
    let (models, experiments) = models.await??;
    let transformer = Transformer::new(
        PgVectorIndex::new(store, options.exact_knn_max_items)
            .with_knn_cache_items(options.knn_cache_items)
            .with_customer_vector_cache(options.customer_vector_cache)
            .with_memory_index(options.memory_index_max_mb, options.knn_recall_target),
        models,
        &options,
    )
    .with_experiments(experiments);
    // Load the model during init, not on the first batch.
    if let Err(error) = transformer.warm_up().await {
        tracing::warn!(error = %error, "model not loaded at start; retrying on the first batch");
    }
    phases.done("warm_up");
    let transformer = &transformer;
    lambda_runtime::run(lambda_runtime::service_fn(move |event| async move {
        // One EMF line per answered batch; a failed invocation is Lambda's `Errors` metric.
        let transformed = handle_invocation(event, transformer).await?;
        transformed.metrics().emit();
        Ok::<_, lambda_runtime::Error>(transformed.response)
    }))
    .await
}
