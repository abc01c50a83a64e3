//! `reco-etl-job`: the scheduled ETL as a Lambda function (provided.al2023).
//!
//! An EventBridge schedule invokes it; it runs the ETL for the event's date (UTC; today if
//! the event has no time) with settings from the environment: `RECO_MYSQL_SECRET_ARN` (or
//! `RECO_MYSQL_URL`), `RECO_DATA_LAKE_BUCKET`, `RECO_GLUE_DATABASE`, `RECO_GLUE_TABLE`.

use std::sync::Arc;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use reco_domain::Settings;
use reco_domain::settings::var;
use reco_domain::training::SnapshotDate;
use reco_etl::catalog::TrainingCatalog;
use reco_etl::store::S3Store;
use reco_etl::{EtlConfig, run_etl, source_db};
use serde_json::{Value, json};

/// The snapshot of a scheduled event: the UTC date of its `time`, else today.
fn snapshot_of(event: &EventBridgeEvent<Value>) -> SnapshotDate {
    event
        .time
        .and_then(|t| u64::try_from(t.timestamp()).ok())
        .map(SnapshotDate::from_unix_seconds)
        .unwrap_or_else(SnapshotDate::today)
}

async fn handler(
    event: LambdaEvent<EventBridgeEvent<Value>>,
    settings: &Settings,
) -> Result<Value, Error> {
    let snapshot = snapshot_of(&event.payload);
    let sdk = reco_aws::sdk_config(settings).await;
    let bucket = settings.require(var::RECO_DATA_LAKE_BUCKET)?;
    let catalog = TrainingCatalog::new(
        aws_sdk_glue::Client::new(&sdk),
        settings.require(var::RECO_GLUE_DATABASE)?,
        settings.require(var::RECO_GLUE_TABLE)?,
    );
    let options = source_db::connect_options(settings, Some(&sdk)).await?;
    let pool = source_db::connect(options).await?;
    let store = Arc::new(S3Store::new(reco_aws::s3_client(&sdk), bucket));
    let report = run_etl(&pool, store, &catalog, &EtlConfig::new(snapshot)).await?;
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
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .without_time()
        .init();
    let settings = Settings::load()?;
    lambda_runtime::run(service_fn(|event| handler(event, &settings))).await
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
}
