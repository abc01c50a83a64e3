//! `reco train`: training Parquet -> model artifact + embeddings on S3.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Args;
use reco_aws::Bucket;
use reco_config::{AwsArgs, ModelStoreArgs, required, var};
use reco_train::config::TrainOptions;
use reco_train::{job, publish, read};

/// Arguments of `reco train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Snapshot date (YYYY-MM-DD) in the data lake; default: the newest snapshot.
    #[arg(long, conflicts_with = "input")]
    pub snapshot: Option<String>,
    /// Local training Parquet (a file, or a folder of `.parquet` files) instead of S3.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Write the model version to this local folder instead of the artifacts bucket.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// The data lake bucket (training Parquet), unless --input is given.
    #[arg(long, env = var::RECO_DATA_LAKE_BUCKET, value_name = "BUCKET")]
    pub data_lake_bucket: Option<String>,
    /// Model hyper-parameters and the quality gate (a refused model leaves LATEST, exit 3).
    #[command(flatten)]
    pub train: TrainOptions,
    /// The artifacts bucket and model prefix, unless --output-dir is given.
    #[command(flatten)]
    pub models: ModelStoreArgs,
    /// AWS endpoint, region and credentials.
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Runs `reco train`.
pub async fn run(args: TrainArgs) -> anyhow::Result<ExitCode> {
    let config = args.train.job_config(&args.models.model_prefix)?;
    let artifacts = match &args.output_dir {
        Some(dir) => Bucket::local_dir(dir)?,
        None => Bucket::s3(&args.aws, args.models.bucket()?)?,
    };
    // The snapshot is read straight into its compact form (rating and events rows, 16 bytes a
    // row): no text row per rating is ever held.
    let (rows, source, catalogue) = match &args.input {
        Some(path) => {
            let path = path.clone();
            let source = path.display().to_string();
            let rows =
                tokio::task::spawn_blocking(move || read::read_local_snapshot(&path)).await??;
            (rows, source, Vec::new())
        }
        None => {
            let bucket = required(var::RECO_DATA_LAKE_BUCKET, &args.data_lake_bucket)?;
            let lake = Bucket::s3(&args.aws, bucket)?;
            let date = match &args.snapshot {
                Some(d) => d.clone(),
                None => read::newest_snapshot(&lake).await?,
            };
            let (rows, source) = read::read_training_snapshot(&lake, &date).await?;
            // Products nobody rated get item embeddings too (cold start).
            (rows, source, publish::read_catalogue(&lake).await?)
        }
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let report = job::run_with_catalogue(rows, catalogue, source, &artifacts, &config, now).await?;
    let m = &report.metrics;
    if let Some(tuning) = &m.tuning {
        for line in reco_train::tuning::describe(tuning) {
            println!("{line}");
        }
    }
    let champion = m.champion.as_ref();
    let refit = champion.and_then(|c| c.refit.as_ref());
    let as_is = champion.and_then(|c| c.as_is.as_ref());
    let mut rows = vec![
        ("reco", &m.evaluation.model),
        ("most-popular", &m.evaluation.most_popular),
    ];
    if let Some(r) = refit {
        rows.push(("live re-fit", r));
    }
    if let Some(r) = as_is {
        rows.push(("live as is", r));
    }
    super::eval::print_table(&rows);
    if let Some(c) = champion {
        match &c.unscorable_reason {
            Some(reason) => println!("live version {} not scored: {reason}", c.version),
            None => println!(
                "live version {}: 'live re-fit' is its settings trained on this split (gated on), \
                 'live as is' its artifact (trained on an earlier snapshot)",
                c.version
            ),
        }
    }
    println!(
        "model {} at {} ({}); full model trained in {:.2} s; peak memory {} kB",
        report.model_version,
        artifacts.location(&config.model_prefix.version_prefix(&report.model_version)),
        m.gate.reason,
        m.full_train_seconds,
        m.peak_memory_kb.map_or("?".to_owned(), |k| k.to_string())
    );
    Ok(if m.gate.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}
