//! `reco score-all`: top-k for every customer of a shard -> `batch` latest documents in the
//! recommendations bucket (newest wins), plus the `popular` fallback from shard 0.

use std::process::ExitCode;

use clap::Args;
use reco_aws::{AwsArgs, Bucket};
use reco_config::{ModelStoreArgs, required, var};
use reco_domain::artifacts::ModelPrefix;
use reco_serving::documents::DocumentStore;
use reco_serving::score_all::{DEFAULT_K, MAX_K, ScoreAllConfig, Shard, score_all};

/// Arguments of `reco score-all`.
#[derive(Debug, Args)]
pub struct ScoreAllArgs {
    /// Model version to score; default: the one `<RECO_MODEL_PREFIX>LATEST` names.
    #[arg(long, value_name = "VERSION")]
    pub model: Option<String>,
    /// This run's customers: shard I of N (0-based) of the customers sorted by number.
    #[arg(long, value_name = "I/N", default_value = "0/1")]
    pub shard: Shard,
    /// Products per customer.
    #[arg(
        long,
        env = var::RECO_KNN_K,
        value_name = "K",
        default_value_t = DEFAULT_K as u16,
        value_parser = clap::value_parser!(u16).range(1..=MAX_K as i64)
    )]
    pub k: u16,
    /// Training snapshot (YYYY-MM-DD) whose ratings are excluded; default: the one the model
    /// was trained on.
    #[arg(long, value_name = "DATE")]
    pub snapshot: Option<String>,
    /// The run's start time, every document's `generated_at` (YYYY-MM-DDTHH:MM:SS.mmmZ);
    /// default: now. Shards of one run, and their retries, pass the same time, so a retry
    /// rewrites nothing and never replaces a newer stream document.
    #[arg(long, value_name = "TIME")]
    pub started_at: Option<String>,
    /// The recommendations bucket the documents go to.
    #[arg(long, env = var::RECO_RECS_BUCKET, value_name = "BUCKET")]
    pub recs_bucket: Option<String>,
    /// The data lake: training snapshot and product catalogue.
    #[arg(long, env = var::RECO_DATA_LAKE_BUCKET, value_name = "BUCKET")]
    pub data_lake_bucket: Option<String>,
    /// The artifacts bucket and the model prefix.
    #[command(flatten)]
    pub models: ModelStoreArgs,
    /// AWS endpoint, region and credentials.
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Runs `reco score-all`.
pub async fn run(args: ScoreAllArgs) -> anyhow::Result<ExitCode> {
    let mut config = ScoreAllConfig::new(ModelPrefix::new(&args.models.model_prefix));
    config.model_version = args.model;
    config.shard = args.shard;
    config.snapshot = args.snapshot;
    config.k = usize::from(args.k);
    if let Some(t) = args.started_at {
        config.generated_at = t;
    }
    config.validate()?;

    let artifacts = Bucket::s3(&args.aws, args.models.bucket()?)?;
    let lake = Bucket::s3(
        &args.aws,
        required(var::RECO_DATA_LAKE_BUCKET, &args.data_lake_bucket)?,
    )?;
    let recs = Bucket::s3(
        &args.aws,
        required(var::RECO_RECS_BUCKET, &args.recs_bucket)?,
    )?;
    eprintln!(
        "score-all: shard {}, k = {}, generated at {}, documents to {}",
        config.shard,
        config.k,
        config.generated_at,
        recs.location("").trim_end_matches('/')
    );
    let documents = DocumentStore::new(recs);
    let report = score_all(&config, &artifacts, &lake, &documents).await?;
    let popular = match report.popular {
        Some(outcome) => format!("; popular document {outcome:?}").to_lowercase(),
        None => String::new(),
    };
    println!(
        "score-all: shard {} of model {} (snapshot {}): {} customers, {} written, {} kept, {} without a document{popular}; {:.1} s ({:.1} s reading inputs)",
        report.shard,
        report.model_version,
        report.snapshot,
        report.customers,
        report.written,
        report.kept,
        report.empty,
        report.seconds,
        report.load_seconds
    );
    Ok(ExitCode::SUCCESS)
}
