//! `reco train`: training Parquet -> model artifact + embeddings on S3.

use std::process::ExitCode;

use clap::Args;
use reco_domain::Settings;

/// Arguments of `reco train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Snapshot date (YYYY-MM-DD); default: the newest snapshot.
    #[arg(long)]
    pub snapshot: Option<String>,
}

/// Runs `reco train`.
pub async fn run(_args: TrainArgs, _settings: &Settings) -> anyhow::Result<ExitCode> {
    super::not_built("train", "the model")
}
