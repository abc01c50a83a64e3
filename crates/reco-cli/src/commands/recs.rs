//! `reco recs`: newest recommendations for a customer, read from S3.

use std::process::ExitCode;

use clap::Args;
use reco_domain::Settings;

/// Arguments of `reco recs`.
#[derive(Debug, Args)]
pub struct RecsArgs {
    /// Customer number.
    #[arg(long)]
    pub customer: i64,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `reco recs`.
pub async fn run(_args: RecsArgs, _settings: &Settings) -> anyhow::Result<ExitCode> {
    super::not_built("recs", "streaming inference")
}
