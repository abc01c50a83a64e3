//! `reco etl`: MySQL -> training Parquet on S3 + Glue Data Catalog.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use reco_domain::Settings;
use reco_domain::settings::var;
use reco_domain::training::SnapshotDate;
use reco_etl::catalog::TrainingCatalog;
use reco_etl::store::S3Store;
use reco_etl::{EtlConfig, run_etl, source_db};

/// Arguments of `reco etl`.
#[derive(Debug, Args)]
pub struct EtlArgs {
    /// Snapshot date (YYYY-MM-DD); default: today (UTC).
    #[arg(long)]
    pub snapshot: Option<SnapshotDate>,
}

/// Progress and report lines go to stderr through `tracing` (RUST_LOG overrides `info`).
pub fn init_stderr_logging() {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
}

/// Runs `reco etl`.
pub async fn run(args: EtlArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    init_stderr_logging();
    let snapshot = args.snapshot.unwrap_or_else(SnapshotDate::today);
    let bucket = settings.require(var::RECO_DATA_LAKE_BUCKET)?;
    let database = settings.require(var::RECO_GLUE_DATABASE)?;
    let table = settings.require(var::RECO_GLUE_TABLE)?;
    let sdk = reco_aws::sdk_config(settings).await;
    let options = source_db::connect_options(settings, Some(&sdk)).await?;
    let pool = source_db::connect(options).await?;
    let catalog = TrainingCatalog::new(aws_sdk_glue::Client::new(&sdk), database, table);
    let store = Arc::new(S3Store::new(reco_aws::s3_client(&sdk), bucket));
    let report = run_etl(&pool, store, &catalog, &EtlConfig::new(snapshot))
        .await
        .with_context(|| format!("etl of snapshot {snapshot} failed"))?;
    let secs = report.elapsed.as_secs_f64();
    eprintln!(
        "reco etl: snapshot {snapshot}: read {} ratings, joined {}, wrote {} rows in {} file(s) to {} ({:.1}s, {:.0} rows/s); Glue {database}.{table} partition snapshot={snapshot}",
        report.rows_read,
        report.rows_joined,
        report.rows_written,
        report.manifest.files.len(),
        report.manifest.location,
        secs,
        report.rows_read as f64 / secs.max(1e-9),
    );
    if report.rejected_total() > 0 {
        let mut reasons: Vec<_> = report.rejected.iter().collect();
        reasons.sort_by_key(|(r, _)| format!("{r:?}"));
        eprintln!(
            "reco etl: {} rating(s) could not be joined and were not written: {}",
            report.rejected_total(),
            reasons
                .iter()
                .map(|(r, n)| format!("{r:?}: {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for example in &report.rejected_examples {
            eprintln!(
                "  e.g. customerNumber={} productCode={:?} productRating={} ({:?})",
                example.customer_number, example.product_code, example.rating, example.reason
            );
        }
    }
    if report.old_objects_deleted > 0 {
        eprintln!(
            "reco etl: replaced the previous run of the snapshot ({} object(s) deleted)",
            report.old_objects_deleted
        );
    }
    Ok(ExitCode::SUCCESS)
}
