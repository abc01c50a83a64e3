//! `reco`: the operator's command for the whole pipeline, locally and against AWS.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use reco_domain::Settings;

/// reco: a two-speed recommendation pipeline (batch ETL + training, streaming inference).
///
/// Settings come from the environment, over `.local/env` (written by `make local-up`)
/// and `.local/outputs-<RECO_ENV>.env` (written by `make deploy-*`).
#[derive(Debug, Parser)]
#[command(name = "reco", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Seed the source MySQL database (classicmodels dump or generated data).
    #[command(subcommand)]
    Source(SourceCommand),
    /// MySQL -> training Parquet on S3 + Glue Data Catalog.
    Etl(SnapshotArgs),
    /// Training Parquet -> model artifact + embeddings on S3.
    Train(SnapshotArgs),
    /// Embeddings on S3 -> pgvector, atomic swap.
    LoadEmbeddings(ModelArgs),
    /// Click events -> Kinesis.
    Produce(ProduceArgs),
    /// The local Firehose: Kinesis -> transform -> S3, per the deployed delivery stream.
    FirehoseLocal(FirehoseLocalArgs),
    /// Newest recommendations for a customer, read from S3 as a front end would.
    Recs(RecsArgs),
    /// Offline metrics of a model on a held-out split.
    Eval,
}

#[derive(Debug, Subcommand)]
enum SourceCommand {
    /// Load the classicmodels dump into MySQL and derive `ratings`.
    LoadClassicmodels {
        /// The dump file (MySQL syntax, latin1).
        file: std::path::PathBuf,
    },
    /// Write synthetic classicmodels-shaped data of any size.
    Generate {
        /// Number of customers.
        #[arg(long)]
        customers: u64,
        /// Number of products.
        #[arg(long)]
        products: u64,
        /// Number of ratings.
        #[arg(long)]
        ratings: u64,
        /// Random seed: the same seed gives the same data.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
}

#[derive(Debug, Args)]
struct SnapshotArgs {
    /// Snapshot date (YYYY-MM-DD); default: today (UTC).
    #[arg(long)]
    snapshot: Option<String>,
}

#[derive(Debug, Args)]
struct ModelArgs {
    /// Model version; default: the latest good version.
    #[arg(long)]
    model: Option<String>,
}

#[derive(Debug, Args)]
struct ProduceArgs {
    /// Number of events to put.
    #[arg(long)]
    events: u64,
    /// Events per second; default: as fast as Kinesis accepts.
    #[arg(long)]
    rate: Option<f64>,
}

#[derive(Debug, Args)]
struct FirehoseLocalArgs {
    /// Exit once every shard of the source stream is drained.
    #[arg(long)]
    until_idle: bool,
}

#[derive(Debug, Args)]
struct RecsArgs {
    /// Customer number.
    #[arg(long)]
    customer: i64,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

impl Command {
    /// The issue that delivers this command, for commands not built yet.
    fn pending_work(&self) -> &'static str {
        match self {
            Command::Source(_) | Command::Etl(_) => "the batch pipeline (source data + ETL)",
            Command::Train(_) | Command::Eval => "the model (training + offline evaluation)",
            Command::LoadEmbeddings(_) => "the vector store",
            Command::Produce(_) | Command::FirehoseLocal(_) | Command::Recs(_) => {
                "streaming inference"
            }
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(err) = Settings::load() {
        eprintln!("reco: {err}");
        return ExitCode::FAILURE;
    }
    eprintln!(
        "reco: this command is not built yet; it arrives with {}",
        cli.command.pending_work()
    );
    ExitCode::from(2)
}
