//! `reco eval`: offline metrics of a model on a held-out split.

use std::process::ExitCode;

use clap::Args;
use reco_domain::Settings;

/// Arguments of `reco eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Model version; default: the latest good version.
    #[arg(long)]
    pub model: Option<String>,
}

/// Runs `reco eval`.
pub async fn run(_args: EvalArgs, _settings: &Settings) -> anyhow::Result<ExitCode> {
    super::not_built("eval", "the model")
}
