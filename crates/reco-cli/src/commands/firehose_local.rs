//! `reco firehose-local`: the local Firehose: Kinesis -> transform -> S3.

use std::process::ExitCode;

use clap::Args;
use reco_domain::Settings;

/// Arguments of `reco firehose-local`.
#[derive(Debug, Args)]
pub struct FirehoseLocalArgs {
    /// Exit once every shard of the source stream is drained.
    #[arg(long)]
    pub until_idle: bool,
}

/// Runs `reco firehose-local`.
pub async fn run(_args: FirehoseLocalArgs, _settings: &Settings) -> anyhow::Result<ExitCode> {
    super::not_built("firehose-local", "streaming inference")
}
