//! The publisher Lambda: S3 notifications of delivered batches (through SQS) -> the latest
//! document of every customer in them. `main` only sets up tracing, configuration and stores;
//! each invocation writes its metrics as one EMF line (`PublishReport::metrics`).

use clap::Parser;
use reco_aws::{AwsArgs, Bucket};
use reco_config::{ConfigError, required, var};
use reco_serving::lambda::Publisher;

/// The publisher's configuration, from its environment.
#[derive(Debug, Parser)]
#[command(about = "reco's publisher Lambda (configured by its environment)")]
struct Config {
    /// The recommendations bucket: delivered batches in, latest documents out.
    #[arg(long = "recs-bucket", env = var::RECO_RECS_BUCKET, value_name = var::RECO_RECS_BUCKET)]
    recs_bucket: Option<String>,
    /// The data lake, holding the product catalogue.
    #[arg(long = "data-lake-bucket", env = var::RECO_DATA_LAKE_BUCKET, value_name = var::RECO_DATA_LAKE_BUCKET)]
    data_lake_bucket: Option<String>,
    /// AWS region and credentials (the endpoint for the emulator).
    #[command(flatten)]
    aws: AwsArgs,
}

impl Config {
    /// The two buckets' names; an error names the variable that is missing.
    fn buckets(&self) -> Result<(&str, &str), ConfigError> {
        Ok((
            required(var::RECO_RECS_BUCKET, &self.recs_bucket)?,
            required(var::RECO_DATA_LAKE_BUCKET, &self.data_lake_bucket)?,
        ))
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::try_parse_from([env!("CARGO_BIN_NAME")]).map_err(|e| {
        let message = e.to_string();
        tracing::error!(error = %message.trim_end(), "invalid configuration");
        message
    })?;
    let (recs, lake) = config.buckets()?;
    let publisher = Publisher::new(
        Bucket::s3(&config.aws, recs)?,
        Bucket::s3(&config.aws, lake)?,
    );
    let publisher = &publisher;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| async move {
            let (response, report) = publisher.handle_with_report(event.payload).await;
            // One EMF line per invocation (documents published and kept, freshness).
            report.metrics().emit();
            Ok::<_, lambda_runtime::Error>(response)
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_buckets_are_required_and_named_when_missing() {
        let config = Config::try_parse_from(["p", "--recs-bucket", "recs"]).unwrap();
        let err = config.buckets().unwrap_err().to_string();
        assert!(err.contains("RECO_DATA_LAKE_BUCKET"), "{err}");
        let config =
            Config::try_parse_from(["p", "--recs-bucket", "recs", "--data-lake-bucket", "lake"])
                .unwrap();
        assert_eq!(config.buckets().unwrap(), ("recs", "lake"));
    }
}
