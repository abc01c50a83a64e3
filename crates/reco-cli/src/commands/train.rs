//! `reco train`: training Parquet -> model artifact + embeddings on S3.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Args;
use reco_domain::Settings;
use reco_domain::settings::var;
use reco_train::job;
use reco_train::store::{DirStore, ObjectStore, S3Store};

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
    /// Latent factors (D = factors + 1) [settings: RECO_TRAIN_FACTORS, default 31].
    #[arg(long)]
    pub factors: Option<usize>,
    /// ALS iterations [RECO_TRAIN_ITERATIONS, default 15].
    #[arg(long)]
    pub iterations: Option<usize>,
    /// L2 regularisation [RECO_TRAIN_REGULARIZATION, default 10].
    #[arg(long)]
    pub regularization: Option<f64>,
    /// Confidence scale [RECO_TRAIN_ALPHA, default 1].
    #[arg(long)]
    pub alpha: Option<f64>,
    /// Seed [RECO_TRAIN_SEED, default 42].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Refuse (do not move LATEST, exit 3) below this held-out nDCG@10 [RECO_TRAIN_MIN_NDCG].
    #[arg(long)]
    pub min_ndcg: Option<f64>,
    /// Refuse when nDCG@10 drops more than this fraction below the previous LATEST
    /// [RECO_TRAIN_MAX_NDCG_DROP, default 0.10; 1 disables].
    #[arg(long)]
    pub max_ndcg_drop: Option<f64>,
}

/// Runs `reco train`.
pub async fn run(args: TrainArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let mut config = job::config_from_settings(settings)?;
    let als = &mut config.train.als;
    if let Some(v) = args.factors {
        als.factors = v;
    }
    if let Some(v) = args.iterations {
        als.iterations = v;
    }
    if let Some(v) = args.regularization {
        als.regularization = v;
    }
    if let Some(v) = args.alpha {
        als.alpha = v;
    }
    if let Some(v) = args.seed {
        als.seed = v;
    }
    if let Some(v) = args.min_ndcg {
        config.min_ndcg = v;
    }
    if let Some(v) = args.max_ndcg_drop {
        config.max_ndcg_drop = (v < 1.0).then_some(v);
    }
    config.train.validate()?;

    let needs_s3 = args.input.is_none() || args.output_dir.is_none();
    let client = if needs_s3 {
        let sdk = reco_aws::sdk_config(settings).await;
        Some(reco_aws::s3_client(&sdk))
    } else {
        None
    };
    let (rows, source) = match &args.input {
        Some(path) => (job::read_local(path)?, path.display().to_string()),
        None => {
            let lake = S3Store::new(
                client.clone().expect("S3 client"),
                settings.require(var::RECO_DATA_LAKE_BUCKET)?,
            );
            let date = match &args.snapshot {
                Some(d) => d.clone(),
                None => job::newest_snapshot(&lake).await?,
            };
            job::read_snapshot(&lake, &date).await?
        }
    };
    let store: Box<dyn ObjectStore> = match &args.output_dir {
        Some(dir) => Box::new(DirStore::new(dir)),
        None => Box::new(S3Store::new(
            client.expect("S3 client"),
            settings.require(var::RECO_ARTIFACTS_BUCKET)?,
        )),
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let report = tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(job::run(&rows, &source, &*store, &config, now))
    })?;
    let m = &report.metrics;
    super::eval::print_table(&[
        ("reco", &m.evaluation.model),
        ("most-popular", &m.evaluation.most_popular),
    ]);
    println!(
        "model {} at {} ({}); full model trained in {:.2} s; peak memory {} kB",
        report.model_version,
        store.location(&format!("{}{}/", config.model_prefix, report.model_version)),
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
