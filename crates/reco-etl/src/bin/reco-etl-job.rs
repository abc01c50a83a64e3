//! `reco-etl-job`: the scheduled ETL as a Lambda function (provided.al2023).
//!
//! An EventBridge schedule invokes it; it runs the ETL for the event's date (UTC; today if
//! the event has no time). Its configuration comes from the environment only ([`Config`]):
//! `RECO_MYSQL_SECRET_ARN` (or `RECO_MYSQL_URL`), `RECO_DATA_LAKE_BUCKET`,
//! `RECO_GLUE_DATABASE`, `RECO_GLUE_TABLE`, and the AWS variables of the runtime.

use aws_config::SdkConfig;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::Datelike;
use clap::Parser;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use reco_aws::Bucket;
use reco_config::groups::MysqlTarget;
use reco_config::{AwsArgs, MysqlArgs, required, var};
use reco_domain::training::SnapshotDate;
use reco_etl::catalog::TrainingCatalog;
use reco_etl::{EtlConfig, run_etl, source_db};
use serde_json::{Value, json};

/// The function's configuration, read once at start-up from its environment variables.
#[derive(Debug, Parser)]
struct Config {
    #[command(flatten)]
    aws: AwsArgs,
    #[command(flatten)]
    mysql: MysqlArgs,
    /// The data lake bucket (training Parquet).
    #[arg(long, env = var::RECO_DATA_LAKE_BUCKET)]
    data_lake_bucket: Option<String>,
    /// The Glue database of the training table.
    #[arg(long, env = var::RECO_GLUE_DATABASE)]
    glue_database: Option<String>,
    /// The Glue table of training rows.
    #[arg(long, env = var::RECO_GLUE_TABLE)]
    glue_table: Option<String>,
}

/// What every invocation uses: the source database, the data lake and the catalog.
struct Job {
    sdk: SdkConfig,
    source: MysqlTarget,
    lake: Bucket,
    catalog: TrainingCatalog,
}

impl Job {
    /// Checks the configuration (a missing variable is named) and builds the clients.
    async fn new(config: Config) -> Result<Self, Error> {
        let source = config.mysql.target()?;
        let bucket = required(var::RECO_DATA_LAKE_BUCKET, &config.data_lake_bucket)?;
        let database = required(var::RECO_GLUE_DATABASE, &config.glue_database)?;
        let table = required(var::RECO_GLUE_TABLE, &config.glue_table)?;
        let sdk = reco_aws::sdk_config(&config.aws).await;
        let lake = Bucket::s3(&config.aws, bucket)?;
        let catalog = TrainingCatalog::new(aws_sdk_glue::Client::new(&sdk), database, table);
        Ok(Self {
            sdk,
            source,
            lake,
            catalog,
        })
    }
}

/// The snapshot of a scheduled event: the UTC date of its `time`, else today.
fn snapshot_of(event: &EventBridgeEvent<Value>) -> SnapshotDate {
    event
        .time
        .and_then(|t| SnapshotDate::new(t.year(), t.month(), t.day()))
        .unwrap_or_else(SnapshotDate::today)
}

async fn handler(event: LambdaEvent<EventBridgeEvent<Value>>, job: &Job) -> Result<Value, Error> {
    let snapshot = snapshot_of(&event.payload);
    // Connected per run: the job runs once a day, and a rotated secret is read afresh.
    let options = source_db::connect_options(&job.source, &job.sdk).await?;
    let pool = source_db::connect(options).await?;
    let report = run_etl(&pool, &job.lake, &job.catalog, &EtlConfig::new(snapshot)).await?;
    pool.close().await;
    tracing::info!(
        snapshot = %snapshot,
        rows_read = report.rows_read,
        rows_written = report.rows_written,
        rejected = report.rejected_total(),
        "etl finished"
    );
    Ok(json!({
        "snapshot": snapshot.to_string(),
        "location": report.manifest.location,
        "rows_read": report.rows_read,
        "rows_written": report.rows_written,
        "rejected": report.rejected_total(),
        "rejected_examples": report.rejected_examples,
        "files": report.manifest.files.len(),
    }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::try_parse_from([env!("CARGO_BIN_NAME")])?;
    let job = Job::new(config).await?;
    lambda_runtime::run(service_fn(|event| handler(event, &job))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduled_event_gives_its_utc_date() {
        let event: EventBridgeEvent<Value> = serde_json::from_value(json!({
            "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
            "detail-type": "Scheduled Event", "source": "aws.events", "account": "123456789012",
            "time": "2025-03-04T23:30:00Z", "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/reco-etl"], "detail": {}
        }))
        .unwrap();
        assert_eq!(snapshot_of(&event).to_string(), "2025-03-04");
    }

    #[tokio::test]
    async fn missing_settings_are_named() {
        let config = Config {
            aws: AwsArgs::default(),
            mysql: MysqlArgs {
                url: None,
                secret_arn: Some("arn:aws:secretsmanager:us-east-1:123456789012:secret:src".into()),
            },
            data_lake_bucket: None,
            glue_database: Some("reco".into()),
            glue_table: Some("training_ratings".into()),
        };
        let err = Job::new(config).await.err().expect("no bucket").to_string();
        assert!(
            err.starts_with("RECO_DATA_LAKE_BUCKET is not set: "),
            "{err}"
        );
    }
}
