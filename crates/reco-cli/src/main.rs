//! `reco`: the operator's command for the whole pipeline, locally and against AWS.
//!
//! `main` only parses arguments and loads settings; each subcommand lives in its own
//! module under `commands/`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use reco_domain::Settings;

mod commands;

use commands::{
    etl, eval, firehose_local, load_embeddings, produce, recs, score_all, source, train,
};

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
    /// Offline metrics of a model on a held-out split.
    Eval(eval::EvalArgs),
    /// Top-k for every customer of a shard -> latest documents (+ the popular fallback).
    ScoreAll(score_all::ScoreAllArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("reco: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Source(cmd) => source::run(cmd, &settings).await,
        Command::Etl(args) => etl::run(args, &settings).await,
        Command::Train(args) => train::run(args, &settings).await,
        Command::LoadEmbeddings(args) => load_embeddings::run(args, &settings).await,
        Command::Produce(args) => produce::run(args, &settings).await,
        Command::FirehoseLocal(args) => firehose_local::run(args, &settings).await,
        Command::Recs(args) => recs::run(args, &settings).await,
        Command::Eval(args) => eval::run(args, &settings).await,
        Command::ScoreAll(args) => score_all::run(args, &settings).await,
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("reco: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
