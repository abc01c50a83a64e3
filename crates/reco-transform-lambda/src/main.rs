//! The transform Lambda's entry point: tracing, configuration, clients, then the runtime loop
//! (each answered batch also writes its metrics as one EMF line, see `Transformed::metrics`).

use clap::Parser as _;
use reco_aws::Bucket;
use reco_transform_lambda::pg_index::PgVectorIndex;
use reco_transform_lambda::s3_models::S3ModelStore;
use reco_transform_lambda::{TransformConfig, Transformer, handle_invocation};
use reco_vector_store::{StoreOptions, VectorStore};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = TransformConfig::try_parse_from([env!("CARGO_BIN_NAME")]).map_err(|e| {
        let message = e.to_string();
        tracing::error!(error = %message.trim_end(), "invalid configuration");
        message
    })?;
    let options = config.options();
    let sdk_config = reco_aws::sdk_config(&config.aws).await;
    let models = S3ModelStore::new(
        Bucket::s3(&config.aws, config.artifacts_bucket()?)?,
        options.model_prefix.clone(),
    );
    let connecting = std::time::Instant::now();
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
    let transformer = Transformer::new(
        PgVectorIndex::new(store, options.exact_knn_max_items),
        models,
        &options,
    );
    // Load the model during init, not on the first batch.
    if let Err(error) = transformer.warm_up().await {
        tracing::warn!(error = %error, "model not loaded at start; retrying on the first batch");
    }
    let transformer = &transformer;
    lambda_runtime::run(lambda_runtime::service_fn(move |event| async move {
        // One EMF line per answered batch; a failed invocation is Lambda's `Errors` metric.
        let transformed = handle_invocation(event, transformer).await?;
        transformed.metrics().emit();
        Ok::<_, lambda_runtime::Error>(transformed.response)
    }))
    .await
}
