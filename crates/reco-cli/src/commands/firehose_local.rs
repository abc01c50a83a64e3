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
use reco_aws::Bucket;
use reco_aws::experiments::ExperimentStore;
use reco_config::{AwsArgs, LocalEnv, ModelStoreArgs, PgArgs, required, var};
use reco_firehose_local::{
    DeliveryConfig, EventLake, LakeOptions, LocalFirehose, RunCounts, RunOptions, StartPosition,
    firehose_client, kinesis_client,
};
use reco_serving::lambda::Publisher;
use reco_transform_lambda::experiments::{EXPERIMENT_REFRESH_INTERVAL, ExperimentWatch};
use reco_transform_lambda::pg_index::PgVectorIndex;
use reco_transform_lambda::s3_models::S3ModelStore;
use reco_transform_lambda::{TransformArgs, Transformer};
use reco_vector_store::{StoreOptions, VectorStore};

/// Pause before the first retry of a failed invocation (doubled for each later one, with
/// jitter).
const RETRY_BACKOFF: Duration = Duration::from_secs(1);

/// Exit code when the run ended but at least one record went under the error prefix
/// (`1` is an error that stopped the run, `2` a usage error).
pub const EXIT_RECORDS_FAILED: u8 = 3;

/// Arguments of `reco firehose-local`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 when every record read was delivered (or dropped by the transform); \
3 when any record was written under the error prefix (a one-line summary names how many and \
where); 1 when the run stopped on an error."
)]
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
    /// Do not keep the raw events in the data lake (`events/dt=YYYY-MM-DD/` Parquet files and
    /// the Glue table `click_events`).
    #[arg(long)]
    pub no_lake: bool,
    /// Glue database of the data lake: the raw events' partitions are registered in its
    /// `click_events` table.
    #[arg(long, env = var::RECO_GLUE_DATABASE, value_name = "NAME")]
    pub glue_database: Option<String>,
    /// The delivery stream to run, as deployed (its source, processor and destination are
    /// read from the Firehose API).
    #[arg(long, env = var::RECO_DELIVERY_STREAM, value_name = "NAME")]
    pub delivery_stream: Option<String>,
    /// Data lake bucket: the product catalogue of the published documents.
    #[arg(long, env = var::RECO_DATA_LAKE_BUCKET, value_name = "BUCKET")]
    pub data_lake_bucket: Option<String>,
    /// The transform's options (neighbours, exact search, model pin, HNSW search).
    #[command(flatten)]
    pub transform: TransformArgs,
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

/// The checkpoint file to use, if any: the flag's, else one per delivery stream in the
/// project's `.local/` folder the settings came from.
fn checkpoint_path(
    args: &FirehoseLocalArgs,
    local: &LocalEnv,
    delivery_stream: &str,
) -> Option<PathBuf> {
    if args.no_checkpoint {
        return None;
    }
    if let Some(path) = &args.checkpoint {
        return Some(path.clone());
    }
    local.dir.as_ref().map(|dir| {
        dir.join("firehose-local")
            .join(format!("{delivery_stream}.checkpoint.json"))
    })
}

/// Runs `reco firehose-local`.
pub async fn run(args: FirehoseLocalArgs, local: &LocalEnv) -> anyhow::Result<ExitCode> {
    // Every setting is checked before the first call, so a missing one fails fast.
    let delivery_stream = required(var::RECO_DELIVERY_STREAM, &args.delivery_stream)?;
    let lake = if args.no_publish && args.no_lake {
        None
    } else {
        Some(required(
            var::RECO_DATA_LAKE_BUCKET,
            &args.data_lake_bucket,
        )?)
    };
    let glue_database = if args.no_lake {
        None
    } else {
        Some(required(var::RECO_GLUE_DATABASE, &args.glue_database)?)
    };
    let pg = args.pg.target()?;
    let artifacts = args.models.bucket()?;
    let options = args.transform.options(&args.models.model_prefix);
    let store_options = args.transform.store_options(StoreOptions::for_cli())?;

    let sdk = reco_aws::sdk_config(&args.aws).await;
    let config = DeliveryConfig::describe(&firehose_client(&sdk), delivery_stream).await?;
    // As the Lambda deployed for this stream: partition keys when it partitions dynamically.
    let options = config.transform_options(options);
    let connect = reco_vector_store::connect_options(&pg, &sdk).await?;
    let store = VectorStore::connect_with(connect, store_options)
        .await
        .context("connecting to the vector database")?;
    let models = S3ModelStore::new(
        Bucket::s3(&args.aws, artifacts)?,
        options.model_prefix.clone(),
    );
    // As the Lambda: the A/B experiment state, read now and refreshed in the background.
    let experiments = ExperimentWatch::start(
        ExperimentStore::new(
            Bucket::s3(&args.aws, artifacts)?,
            options.model_prefix.clone(),
        ),
        EXPERIMENT_REFRESH_INTERVAL,
    )
    .await;
    let transformer = Transformer::new(
        PgVectorIndex::new(store, options.exact_knn_max_items)
            .with_knn_cache_items(options.knn_cache_items)
            .with_customer_vector_cache(options.customer_vector_cache)
            .with_memory_index(options.memory_index_max_mb, options.knn_recall_target),
        models,
        &options,
    )
    .with_experiments(experiments);
    let version = transformer
        .warm_up()
        .await
        .context("loading the model of the active embeddings")?;
    tracing::info!(
        delivery_stream,
        model = version.model_version,
        embeddings = version.embedding_version,
        "transform ready"
    );
    let checkpoint = checkpoint_path(&args, local, delivery_stream);
    match &checkpoint {
        Some(path) => tracing::info!(checkpoint = %path.display(), "checkpoint file"),
        None => tracing::info!("no checkpoint: reading from the start position"),
    }
    let publisher = match lake.filter(|_| !args.no_publish) {
        Some(lake) => Some(Publisher::new(
            Bucket::s3(&args.aws, &config.bucket)?,
            Bucket::s3(&args.aws, lake)?,
        )),
        None => None,
    };
    let destination = Bucket::s3(&args.aws, &config.bucket)?;
    let errors_at = format!(
        "s3://{}/{}",
        config.bucket,
        error_prefix_root(&config.error_prefix)
    );
    let stream_name = config.name.clone();
    let mut runner = LocalFirehose::new(config, kinesis_client(&sdk), destination, &transformer);
    if let (Some(bucket), Some(database)) = (lake, glue_database) {
        tracing::info!(
            bucket,
            database,
            "raw events to the data lake (events/, Glue table click_events)"
        );
        runner = runner.with_lake(EventLake::new(
            Bucket::s3(&args.aws, bucket)?,
            Some((aws_sdk_glue::Client::new(&sdk), database.to_owned())),
            stream_name,
            LakeOptions::default(),
        ));
    }
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
    if counts.lake.files > 0 || counts.lake.events > 0 {
        eprintln!(
            "firehose-local: data lake: {} raw event(s) in {} Parquet file(s) under events/, {} Glue partition(s) registered",
            counts.lake.events, counts.lake.files, counts.lake.partitions
        );
    }
    if counts.partition_limit_failed > 0 || counts.oversized_responses > 0 {
        eprintln!(
            "firehose-local: {} record(s) over the active-partition quota, {} response(s) over 6 MB: AWS would fail these the same way",
            counts.partition_limit_failed, counts.oversized_responses
        );
    }
    let (code, summary) = outcome(&counts, &errors_at);
    if let Some(summary) = summary {
        eprintln!("{summary}");
    }
    Ok(ExitCode::from(code))
}

/// The error prefix up to its first `!{...}` expression (where the error objects are).
fn error_prefix_root(prefix: &str) -> &str {
    match prefix.find("!{") {
        Some(i) => &prefix[..i],
        None => prefix,
    }
}

/// The exit code of a finished run and, when records failed, the line that says so: 0 when
/// no record went under the error prefix, [`EXIT_RECORDS_FAILED`] otherwise.
fn outcome(counts: &RunCounts, errors_at: &str) -> (u8, Option<String>) {
    if counts.failed == 0 {
        return (0, None);
    }
    let all = if counts.failed == counts.read {
        "every record"
    } else {
        "some records"
    };
    (
        EXIT_RECORDS_FAILED,
        Some(format!(
            "firehose-local: {} of {} record(s) failed ({all}) and were written under {errors_at} with their reason: read them there, fix the cause and put the events again",
            counts.failed, counts.read
        )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_failed_record_gives_its_own_exit_code() {
        let at = "s3://recs/errors/";
        let clean = RunCounts {
            read: 10,
            ok: 8,
            dropped: 2,
            ..RunCounts::default()
        };
        assert_eq!(outcome(&clean, at), (0, None));
        let some = RunCounts { failed: 1, ..clean };
        let (code, line) = outcome(&some, at);
        assert_eq!(code, EXIT_RECORDS_FAILED);
        assert_eq!(
            line.unwrap(),
            "firehose-local: 1 of 10 record(s) failed (some records) and were written under s3://recs/errors/ with their reason: read them there, fix the cause and put the events again"
        );
        let all = RunCounts {
            read: 3,
            failed: 3,
            ..RunCounts::default()
        };
        assert_eq!(outcome(&all, at).0, EXIT_RECORDS_FAILED);
        assert!(outcome(&all, at).1.unwrap().contains("(every record)"));
        assert_eq!(
            error_prefix_root("errors/!{firehose:error-output-type}/!{timestamp:yyyy}/"),
            "errors/"
        );
    }
}
