//! The transform Lambda's entry point: tracing, configuration, clients, then the runtime loop.

use reco_domain::Settings;
use reco_transform_lambda::pg_index::PgVectorIndex;
use reco_transform_lambda::s3_models::S3ModelStore;
use reco_transform_lambda::{TransformConfig, Transformer, function_handler};
use reco_vector_store::{StoreOptions, VectorStore};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(false)
        .without_time()
        .init();
    let settings = Settings::load()?;
    let config = TransformConfig::from_settings(&settings)?;
    let sdk_config = reco_aws::sdk_config(&settings).await;
    let models = S3ModelStore::new(reco_aws::s3_client(&sdk_config), config.clone());
    let connecting = std::time::Instant::now();
    let connect = reco_vector_store::connect_options(&settings, &sdk_config).await?;
    let store = VectorStore::connect_with(
        connect,
        StoreOptions::for_lambda().with_settings(&settings)?,
    )
    .await?;
    // Logged so that cold-start measurements can tell connection time from the rest.
    tracing::info!(
        elapsed_ms = connecting.elapsed().as_secs_f64() * 1e3,
        "vector database connected"
    );
    let transformer = Transformer::new(
        PgVectorIndex::new(store, config.exact_knn_max_items),
        models,
        &config,
    );
    // Load the model during init, not on the first batch.
    if let Err(error) = transformer.warm_up().await {
        tracing::warn!(error = %error, "model not loaded at start; retrying on the first batch");
    }
    let transformer = &transformer;
    lambda_runtime::run(lambda_runtime::service_fn(move |event| {
        function_handler(event, transformer)
    }))
    .await
}
