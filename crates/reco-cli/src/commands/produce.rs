//! `reco produce`: click events -> Kinesis.

use std::process::ExitCode;

use clap::Args;
use reco_domain::Settings;

/// Arguments of `reco produce`.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// Number of events to put.
    #[arg(long)]
    pub events: u64,
    /// Events per second; default: as fast as Kinesis accepts.
    #[arg(long)]
    pub rate: Option<f64>,
}

/// Runs `reco produce`.
pub async fn run(_args: ProduceArgs, _settings: &Settings) -> anyhow::Result<ExitCode> {
    super::not_built("produce", "streaming inference")
}
