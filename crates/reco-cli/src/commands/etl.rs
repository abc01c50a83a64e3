//! `reco etl`: MySQL ratings + the data lake's recent click events -> training Parquet on S3
//! + Glue Data Catalog.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use reco_aws::Bucket;
use reco_config::{AwsArgs, MysqlArgs, required, var};
use reco_domain::training::SnapshotDate;
use reco_etl::catalog::TrainingCatalog;
use reco_etl::encode::{PART_ROWS, ROW_GROUP_ROWS};
use reco_etl::events::EventArgs;
use reco_etl::{EtlConfig, run_etl, source_db};

/// Arguments of `reco etl`.
#[derive(Debug, Args)]
pub struct EtlArgs {
    /// Snapshot date (YYYY-MM-DD); default: today (UTC).
    #[arg(long)]
    pub snapshot: Option<SnapshotDate>,
    /// The data lake bucket (training Parquet).
    #[arg(long, env = var::RECO_DATA_LAKE_BUCKET, value_name = "BUCKET")]
    pub data_lake_bucket: Option<String>,
    /// The Glue database of the training table.
    #[arg(long, env = var::RECO_GLUE_DATABASE, value_name = "NAME")]
    pub glue_database: Option<String>,
    /// The Glue table of training rows.
    #[arg(long, env = var::RECO_GLUE_TABLE, value_name = "NAME")]
    pub glue_table: Option<String>,
    /// Rows per Parquet part file (smaller parts: more objects, smaller uploads).
    #[arg(long, value_name = "ROWS", default_value_t = PART_ROWS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub part_rows: usize,
    /// How the data lake's click events become `events` training rows.
    #[command(flatten)]
    pub events: EventArgs,
    /// The source database.
    #[command(flatten)]
    pub mysql: MysqlArgs,
    /// AWS endpoint, region and credentials.
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Runs `reco etl`.
pub async fn run(args: EtlArgs) -> anyhow::Result<ExitCode> {
    let snapshot = args.snapshot.unwrap_or_else(SnapshotDate::today);
    let bucket = required(var::RECO_DATA_LAKE_BUCKET, &args.data_lake_bucket)?;
    let database = required(var::RECO_GLUE_DATABASE, &args.glue_database)?;
    let table = required(var::RECO_GLUE_TABLE, &args.glue_table)?;
    let source = args.mysql.target()?;
    let sdk = reco_aws::sdk_config(&args.aws).await;
    let options = source_db::connect_options(&source, &sdk).await?;
    let pool = source_db::connect(options).await?;
    let catalog = TrainingCatalog::new(aws_sdk_glue::Client::new(&sdk), database, table);
    let lake = Bucket::s3(&args.aws, bucket)?;
    let config = EtlConfig {
        part_rows: args.part_rows,
        row_group_rows: ROW_GROUP_ROWS.min(args.part_rows),
        events: args.events.settings(),
        ..EtlConfig::new(snapshot)
    };
    let report = run_etl(&pool, &lake, &catalog, &config)
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
    let events = &report.events;
    eprintln!(
        "reco etl: click events of the last {} day(s): {} file(s), {} event(s) read ({} repeated event id(s), {} of unknown customers skipped; {} item(s) of unknown products skipped{}) -> {} events row(s)",
        config.events.lookback_days,
        events.files_read,
        events.events_read,
        events.events_duplicate,
        events.events_unknown_customer,
        events.items_unknown_product,
        if events.files_skipped > 0 {
            format!(
                "; {} unreadable file(s) skipped, see the log",
                events.files_skipped
            )
        } else {
            String::new()
        },
        events.pairs,
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
