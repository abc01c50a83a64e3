//! `reco load-embeddings`: embeddings on S3 -> pgvector, atomic swap.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use reco_aws::Bucket;
use reco_config::{AwsArgs, ModelStoreArgs, PgArgs};
use reco_domain::artifacts::ModelPrefix;
use reco_vector_loader::{Loader, ModelArtifacts};
use reco_vector_store::{StoreOptions, VectorStore};

/// Arguments of `reco load-embeddings`.
#[derive(Debug, Args)]
pub struct LoadEmbeddingsArgs {
    /// Model version (folder under the model prefix); default: the one named by LATEST.
    #[arg(long, value_name = "VERSION")]
    pub model: Option<String>,
    /// Load without activating: the version is kept next to the active one (an A/B
    /// experiment's treatment, `reco experiment start --treatment VERSION`).
    #[arg(long)]
    pub inactive: bool,
    /// AWS endpoint, region and credentials.
    #[command(flatten)]
    pub aws: AwsArgs,
    /// The vector database.
    #[command(flatten)]
    pub pg: PgArgs,
    /// Where the model artifacts are.
    #[command(flatten)]
    pub models: ModelStoreArgs,
}

/// Runs `reco load-embeddings`: streams `item_embeddings.csv` and `user_embeddings.csv` of the
/// model version from the artifacts bucket (after checking that its `model.json` exists and
/// has their dimension), loads them with binary COPY into new versioned
/// tables, builds the HNSW index and swaps them in atomically; the previous version stays
/// active if anything fails. With `--inactive` the version is loaded and kept but not swapped in.
pub async fn run(args: LoadEmbeddingsArgs) -> anyhow::Result<ExitCode> {
    let bucket = Bucket::s3(&args.aws, args.models.bucket()?)?;
    let artifacts = ModelArtifacts::new(bucket, ModelPrefix::new(&args.models.model_prefix));
    let target = args.pg.target()?;
    let version = match args.model {
        Some(version) => version,
        None => artifacts.latest_version().await?,
    };
    // model.json present, same dimension as both embeddings files: checked before the
    // database is touched.
    let source = artifacts.open_checked(&version).await?;
    tracing::info!(
        model_version = %version,
        dim = source.dim(),
        from = %artifacts.location(&version),
        "loading model version"
    );
    let sdk_config = reco_aws::sdk_config(&args.aws).await;
    let connect_options = reco_vector_store::connect_options(&target, &sdk_config).await?;
    let store = VectorStore::connect_with(connect_options, StoreOptions::for_cli())
        .await
        .context("connecting to the vector database")?;
    // Old versions are dropped after the load, except those the running experiment names;
    // when its state cannot be read nothing old is dropped.
    let mut loader = Loader::new(&store).retaining(artifacts.experiment_retention().await);
    if args.inactive {
        loader = loader.inactive();
    }
    let report = loader.load_prepared(source).await?;
    let rate = |rows: u64, seconds: f64| rows as f64 / seconds.max(1e-9);
    eprintln!(
        "reco load-embeddings: copy items {:.1}s ({:.0} rows/s), users {:.1}s, keys {:.1}s, \
         HNSW {:.1}s, swap {:.3}s",
        report.copy_items.as_secs_f64(),
        rate(report.item_rows, report.copy_items.as_secs_f64()),
        report.copy_users.as_secs_f64(),
        report.primary_keys.as_secs_f64(),
        report.hnsw_index.as_secs_f64(),
        report.swap.as_secs_f64(),
    );
    if let Some(error) = &report.cleanup_error {
        eprintln!(
            "reco load-embeddings: warning: old versions not dropped ({error}); the next load retries"
        );
    }
    println!(
        "model_version={} embedding_version={} dim={} items={} users={} active={}",
        report.model_version,
        report.embedding_version,
        report.dim,
        report.item_rows,
        report.user_rows,
        !args.inactive
    );
    Ok(ExitCode::SUCCESS)
}
