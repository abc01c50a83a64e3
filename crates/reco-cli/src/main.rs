//! `reco`: the operator's command for the whole pipeline, locally and against AWS.
//!
//! `main` loads the `.local/` settings files under the environment, parses the command line
//! (every option is a flag bound to its environment variable), sets up logging once and runs
//! the subcommand; each subcommand lives in its own module under `commands/`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use reco_config::LocalEnv;

mod commands;
mod logging;
mod progress;

use commands::report;
use commands::{
    db, etl, eval, experiment, firehose_local, load_embeddings, pipeline, produce, recs, score_all,
    source, train,
};

/// reco: a two-speed recommendation pipeline (batch ETL + training, streaming inference).
///
/// Every option can also come from its environment variable (shown in each command's
/// --help), which wins over the settings files of the target environment: with
/// RECO_ENV=aws (the default) `.local/outputs-aws.env` (written by `make deploy-*`), with
/// RECO_ENV=local `.local/env` (written by `make local-up`) and `.local/outputs-local.env`.
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
    Source(source::SourceCommand),
    /// MySQL -> training Parquet on S3 + Glue Data Catalog.
    Etl(etl::EtlArgs),
    /// Training Parquet -> model artifact + embeddings on S3.
    Train(train::TrainArgs),
    /// Embeddings on S3 -> pgvector, atomic swap.
    LoadEmbeddings(load_embeddings::LoadEmbeddingsArgs),
    /// Click events -> Kinesis.
    Produce(produce::ProduceArgs),
    /// The local Firehose: Kinesis -> transform -> S3, per the deployed delivery stream.
    FirehoseLocal(firehose_local::FirehoseLocalArgs),
    /// Newest recommendations for a customer, read from S3 as a front end would.
    Recs(recs::RecsArgs),
    /// Experiment report: per variant click-through, add-to-cart and purchase rates of
    /// recommendation impressions from the lake's raw events, with 95% intervals.
    Report(report::ReportArgs),
    /// Offline metrics of a model on a held-out split.
    Eval(eval::EvalArgs),
    /// Top-k for every customer of a shard -> latest documents (+ the popular fallback).
    ScoreAll(score_all::ScoreAllArgs),
    /// The least-privilege database roles and their secrets (as the master user).
    #[command(subcommand)]
    Db(db::DbCommand),
    /// The daily loop: run it locally, or print its Step Functions definition.
    #[command(subcommand)]
    Pipeline(pipeline::PipelineCommand),
    /// A/B experiments between two model versions: start, share, stop, status, history.
    #[command(subcommand)]
    Experiment(experiment::ExperimentCommand),
}

fn main() -> ExitCode {
    // The settings files go into the environment before any thread exists (clap reads
    // variables from there; setting them later would race with the runtime's threads).
    let local = match LocalEnv::load() {
        Ok(local) => local,
        Err(err) => {
            eprintln!("reco: {err}");
            return ExitCode::FAILURE;
        }
    };
    let cli = Cli::parse();
    logging::init();
    tracing::debug!(target_env = local.target.name(), files = ?local.files, "settings files read");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("reco: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Source(cmd) => source::run(cmd).await,
            Command::Etl(args) => etl::run(args).await,
            Command::Train(args) => train::run(args).await,
            Command::LoadEmbeddings(args) => load_embeddings::run(args).await,
            Command::Produce(args) => produce::run(args).await,
            Command::FirehoseLocal(args) => firehose_local::run(args, &local).await,
            Command::Recs(args) => recs::run(args).await,
            Command::Report(args) => report::run(args).await,
            Command::Eval(args) => eval::run(args).await,
            Command::ScoreAll(args) => score_all::run(args).await,
            Command::Db(cmd) => db::run(cmd).await,
            Command::Pipeline(cmd) => pipeline::run(cmd).await,
            Command::Experiment(cmd) => experiment::run(cmd).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("reco: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
