//! `reco-train-job`: the scheduled training job as an AWS Lambda (provided.al2023).
//!
//! On any event (an EventBridge schedule), trains the newest snapshot of
//! `RECO_DATA_LAKE_BUCKET` with the `RECO_TRAIN_*` settings and publishes a new model version
//! to `RECO_ARTIFACTS_BUCKET` under `RECO_MODEL_PREFIX`. Returns the job report as JSON.

use std::time::{SystemTime, UNIX_EPOCH};

use clap::Parser;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use reco_aws::Bucket;
use reco_config::{AwsArgs, ModelStoreArgs, required, var};
use reco_train::config::{JobConfig, TrainOptions};
use reco_train::{job, read};
use serde_json::Value;

/// The job's configuration, every field from its environment variable.
#[derive(Debug, Clone, Parser)]
struct Config {
    #[command(flatten)]
    aws: AwsArgs,
    #[command(flatten)]
    models: ModelStoreArgs,
    /// S3 bucket of the training snapshots.
    #[arg(long, env = var::RECO_DATA_LAKE_BUCKET)]
    data_lake_bucket: Option<String>,
    #[command(flatten)]
    train: TrainOptions,
}

/// What every invocation uses: the two buckets and the job's settings.
struct Job {
    lake: Bucket,
    artifacts: Bucket,
    config: JobConfig,
}

impl Job {
    fn new(config: Config) -> Result<Self, Error> {
        let lake = required(var::RECO_DATA_LAKE_BUCKET, &config.data_lake_bucket)?;
        Ok(Self {
            lake: Bucket::s3(&config.aws, lake)?,
            artifacts: Bucket::s3(&config.aws, config.models.bucket()?)?,
            config: config.train.job_config(&config.models.model_prefix)?,
        })
    }
}

async fn handler(_event: LambdaEvent<Value>, job: &Job) -> Result<Value, Error> {
    let date = read::newest_snapshot(&job.lake).await?;
    let (rows, source) = read::read_snapshot(&job.lake, &date).await?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let report = job::run(rows, source, &job.artifacts, &job.config, now).await?;
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
    // INFO by default; AWS_LAMBDA_LOG_LEVEL or RUST_LOG override, AWS_LAMBDA_LOG_FORMAT=JSON.
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::try_parse_from([env!("CARGO_BIN_NAME")])?;
    let job = Job::new(config)?;
    let job = &job;
    run(service_fn(move |event| handler(event, job))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_names_a_missing_bucket_and_builds_the_job_config() {
        let mut config = Config::try_parse_from([
            "reco-train-job",
            "--artifacts-bucket",
            "artifacts",
            "--model-prefix",
            "/m",
            "--data-lake-bucket",
            "lake",
            "--aws-region",
            "eu-west-1",
            "--seed",
            "9",
        ])
        .unwrap();
        let job = Job::new(config.clone()).unwrap();
        assert_eq!(job.lake.location("k"), "s3://lake/k");
        assert_eq!(job.artifacts.location("k"), "s3://artifacts/k");
        assert_eq!(job.config.model_prefix.as_str(), "m/");
        assert_eq!(job.config.train.als.seed, 9);

        config.data_lake_bucket = None;
        let err = Job::new(config).err().unwrap().to_string();
        assert!(err.contains("RECO_DATA_LAKE_BUCKET is not set"), "{err}");
    }
}
