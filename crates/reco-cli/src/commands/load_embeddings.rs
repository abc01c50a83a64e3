//! `reco load-embeddings`: embeddings on S3 -> pgvector, atomic swap.

use std::process::ExitCode;

use clap::Args;
use reco_domain::Settings;

/// Arguments of `reco load-embeddings`.
#[derive(Debug, Args)]
pub struct LoadEmbeddingsArgs {
    /// Model version; default: the latest good version.
    #[arg(long)]
    pub model: Option<String>,
}

/// Runs `reco load-embeddings`.
pub async fn run(_args: LoadEmbeddingsArgs, _settings: &Settings) -> anyhow::Result<ExitCode> {
    super::not_built("load-embeddings", "the vector store")
}
