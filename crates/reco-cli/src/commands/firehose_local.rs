//! `reco firehose-local`: the local Firehose. Reads the delivery stream's configuration
//! from the Firehose API (as Terraform deployed it), consumes every shard of its Kinesis
//! source, calls the transform handler in-process and writes S3 objects with the configured
//! keys; failed records go under the error prefix with their reason. Every delivered object
//! is then published (the latest document of each customer in it), as the S3 event makes the
//! publisher Lambda do on AWS.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use reco_domain::Settings;
use reco_domain::settings::var;
use reco_firehose_local::{DeliveryConfig, LocalFirehose, RunOptions, StartPosition};
use reco_serving::catalogue::CatalogueSource;
use reco_serving::documents::DocumentStore;
use reco_serving::lambda::Publisher;
use reco_transform_lambda::pg_index::PgVectorIndex;
use reco_transform_lambda::s3_models::S3ModelStore;
use reco_transform_lambda::{TransformConfig, Transformer};
use reco_vector_store::{StoreOptions, VectorStore};

/// Base pause between retries of a failed invocation (doubled per retry).
const RETRY_BACKOFF: Duration = Duration::from_secs(1);

/// Arguments of `reco firehose-local`.
#[derive(Debug, Args)]
pub struct FirehoseLocalArgs {
    /// Exit once every shard of the source stream is drained.
    #[arg(long)]
    pub until_idle: bool,
    /// For shards the checkpoint does not know: read only records put after start (default:
    /// from the oldest record in the stream).
    #[arg(long)]
    pub from_latest: bool,
    /// Checkpoint file: resume after the records an earlier run delivered, and record progress
    /// (default: `<.local>/firehose-local/<delivery stream>.checkpoint.json`).
    #[arg(long, value_name = "FILE", conflicts_with = "no_checkpoint")]
    pub checkpoint: Option<PathBuf>,
    /// Neither read nor write a checkpoint: start from the oldest (or `--from-latest`) record.
    #[arg(long)]
    pub no_checkpoint: bool,
    /// Deliver only: do not publish latest documents from the delivered objects.
    #[arg(long)]
    pub no_publish: bool,
}

/// The checkpoint file to use, if any: the flag's, else one per delivery stream in the
/// project's `.local/` folder the settings came from.
fn checkpoint_path(
    args: &FirehoseLocalArgs,
    settings: &Settings,
    delivery_stream: &str,
) -> Option<PathBuf> {
    if args.no_checkpoint {
        return None;
    }
    if let Some(path) = &args.checkpoint {
        return Some(path.clone());
    }
    settings.local_dir().map(|dir| {
        dir.join("firehose-local")
            .join(format!("{delivery_stream}.checkpoint.json"))
    })
}

/// Runs `reco firehose-local`.
pub async fn run(args: FirehoseLocalArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let delivery_stream = settings.require(var::RECO_DELIVERY_STREAM)?;
    let sdk = reco_aws::sdk_config(settings).await;
    let config =
        DeliveryConfig::describe(&aws_sdk_firehose::Client::new(&sdk), delivery_stream).await?;
    let transform = TransformConfig::from_settings(settings)?;
    let connect = reco_vector_store::connect_options(settings, &sdk).await?;
    let store =
        VectorStore::connect_with(connect, StoreOptions::for_cli().with_settings(settings)?)
            .await
            .context("connecting to the vector database")?;
    let models = S3ModelStore::new(reco_aws::s3_client(&sdk), transform.clone());
    let transformer = Transformer::new(
        PgVectorIndex::new(store, transform.exact_knn_max_items),
        models,
        &transform,
    );
    let version = transformer
        .warm_up()
        .await
        .context("loading the model of the active embeddings")?;
    eprintln!(
        "firehose-local: delivery stream {delivery_stream}, model {} / embeddings {}",
        version.model_version, version.embedding_version
    );
    let checkpoint = checkpoint_path(&args, settings, delivery_stream);
    match &checkpoint {
        Some(path) => eprintln!("firehose-local: checkpoint {}", path.display()),
        None => eprintln!("firehose-local: no checkpoint"),
    }
    let publisher = if args.no_publish {
        None
    } else {
        Some(publisher(settings, &config.bucket)?)
    };
    let mut runner = LocalFirehose::new(
        config,
        aws_sdk_kinesis::Client::new(&sdk),
        reco_aws::s3_client(&sdk),
        &transformer,
    );
    if let Some(publisher) = &publisher {
        runner = runner.with_publisher(publisher);
    }
    let counts = runner
        .run(RunOptions {
            until_idle: args.until_idle,
            start: if args.from_latest {
                StartPosition::Latest
            } else {
                StartPosition::TrimHorizon
            },
            checkpoint,
            retry_backoff: RETRY_BACKOFF,
        })
        .await?;
    eprintln!(
        "firehose-local: done: {} read = {} ok + {} failed + {} dropped; {} objects; latest documents: {} written, {} kept (a newer one was stored)",
        counts.read,
        counts.ok,
        counts.failed,
        counts.dropped,
        counts.objects,
        counts.published.written,
        counts.published.kept
    );
    if counts.partition_limit_failed > 0 || counts.oversized_responses > 0 {
        eprintln!(
            "firehose-local: {} record(s) over the active-partition quota, {} response(s) over 6 MB: AWS would fail these the same way",
            counts.partition_limit_failed, counts.oversized_responses
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The publisher of delivered objects in `bucket`, with the data lake's product catalogue.
fn publisher(settings: &Settings, bucket: &str) -> anyhow::Result<Publisher> {
    let lake = settings.require(var::RECO_DATA_LAKE_BUCKET)?;
    let objects = reco_aws::storage::bucket_store(settings, bucket)?;
    Ok(Publisher {
        bucket: bucket.to_owned(),
        documents: DocumentStore::new(objects.clone(), format!("s3://{bucket}")),
        objects,
        catalogue: CatalogueSource::new(
            reco_aws::storage::bucket_store(settings, lake)?,
            format!("s3://{lake}"),
        ),
    })
}
