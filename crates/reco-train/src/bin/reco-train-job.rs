//! `reco-train-job`: the scheduled training job as an AWS Lambda (provided.al2023).
//!
//! On any event (an EventBridge schedule), trains the newest snapshot of
//! `RECO_DATA_LAKE_BUCKET` with the `RECO_TRAIN_*` settings and publishes a new model version
//! to `RECO_ARTIFACTS_BUCKET` under `RECO_MODEL_PREFIX`. Returns the job report as JSON.

use std::time::{SystemTime, UNIX_EPOCH};

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use reco_domain::Settings;
use reco_domain::settings::var;
use reco_train::job;
use reco_train::store::S3Store;
use serde_json::Value;

async fn handler(_event: LambdaEvent<Value>, settings: &Settings) -> Result<Value, Error> {
    let config = job::config_from_settings(settings)?;
    let sdk = reco_aws::sdk_config(settings).await;
    let client = reco_aws::s3_client(&sdk);
    let lake = S3Store::new(
        client.clone(),
        settings.require(var::RECO_DATA_LAKE_BUCKET)?,
    );
    let artifacts = S3Store::new(client, settings.require(var::RECO_ARTIFACTS_BUCKET)?);
    let date = job::newest_snapshot(&lake).await?;
    let (rows, source) = job::read_snapshot(&lake, &date).await?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    // Training is CPU-bound: keep it off the runtime's async workers.
    let report = tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current()
            .block_on(job::run(&rows, &source, &artifacts, &config, now))
    })?;
    tracing::info!(
        model_version = %report.model_version,
        gate_passed = report.metrics.gate.passed,
        ndcg_at_10 = report.metrics.evaluation.model.ndcg_at_10,
        "training job finished"
    );
    Ok(serde_json::to_value(&report)?)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .without_time()
        .init();
    let settings = Settings::load()?;
    let settings = &settings;
    run(service_fn(move |event| handler(event, settings))).await
}
