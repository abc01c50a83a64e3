//! `reco etl`: MySQL -> training Parquet on S3 + Glue Data Catalog.

use std::process::ExitCode;

use clap::Args;
use reco_domain::Settings;

/// Arguments of `reco etl`.
#[derive(Debug, Args)]
pub struct EtlArgs {
    /// Snapshot date (YYYY-MM-DD); default: today (UTC).
    #[arg(long)]
    pub snapshot: Option<String>,
}

/// Runs `reco etl`.
pub async fn run(_args: EtlArgs, _settings: &Settings) -> anyhow::Result<ExitCode> {
    super::not_built("etl", "the batch pipeline")
}
