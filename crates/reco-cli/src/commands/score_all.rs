//! `reco score-all`: top-k for every customer of a shard -> `batch` latest documents in the
//! recommendations bucket (newest wins), plus the `popular` fallback from shard 0.

use std::process::ExitCode;

use clap::Args;
use reco_domain::Settings;
use reco_domain::settings::var;
use reco_serving::documents::DocumentStore;
use reco_serving::score_all::{Bucket, MAX_K, ScoreAllConfig, Shard, score_all};

/// Arguments of `reco score-all`.
#[derive(Debug, Args)]
pub struct ScoreAllArgs {
    /// Model version to score; default: the one `<RECO_MODEL_PREFIX>LATEST` names.
    #[arg(long, value_name = "VERSION")]
    pub model: Option<String>,
    /// This run's customers: shard I of N (0-based) of the customers sorted by number.
    #[arg(long, value_name = "I/N", default_value = "0/1")]
    pub shard: Shard,
    /// Products per customer [settings: RECO_KNN_K, default 10].
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u16).range(1..=MAX_K as i64))]
    pub k: Option<u16>,
    /// Training snapshot (YYYY-MM-DD) whose ratings are excluded; default: the one the model
    /// was trained on.
    #[arg(long, value_name = "DATE")]
    pub snapshot: Option<String>,
    /// The run's start time, every document's `generated_at` (YYYY-MM-DDTHH:MM:SS.mmmZ);
    /// default: now. Shards of one run, and their retries, pass the same time, so a retry
    /// rewrites nothing and never replaces a newer stream document.
    #[arg(long, value_name = "TIME")]
    pub started_at: Option<String>,
}

/// Runs `reco score-all`.
pub async fn run(args: ScoreAllArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let mut config = ScoreAllConfig::from_settings(settings)?;
    config.model_version = args.model;
    config.shard = args.shard;
    config.snapshot = args.snapshot;
    if let Some(k) = args.k {
        config.k = usize::from(k);
    }
    if let Some(t) = args.started_at {
        config.generated_at = t;
    }
    config.validate()?;

    let bucket = |name: &str| -> anyhow::Result<Bucket> {
        let bucket = settings.require(name)?;
        Ok(Bucket::new(
            reco_aws::storage::bucket_store(settings, bucket)?,
            format!("s3://{bucket}"),
        ))
    };
    let artifacts = bucket(var::RECO_ARTIFACTS_BUCKET)?;
    let lake = bucket(var::RECO_DATA_LAKE_BUCKET)?;
    let recs = bucket(var::RECO_RECS_BUCKET)?;
    let documents = DocumentStore::new(recs.store, recs.location.clone());
    eprintln!(
        "score-all: shard {}, k = {}, generated at {}, documents to {}",
        config.shard, config.k, config.generated_at, recs.location
    );
    let report = score_all(&config, &artifacts, &lake, &documents, &|m| {
        eprintln!("score-all: {m}")
    })
    .await?;
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
