//! `reco source`: seed the source MySQL database.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use reco_domain::Settings;

/// Subcommands of `reco source`.
#[derive(Debug, Subcommand)]
pub enum SourceCommand {
    /// Load the classicmodels dump into MySQL and derive `ratings`.
    LoadClassicmodels {
        /// The dump file (MySQL syntax, latin1).
        file: PathBuf,
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

/// Runs `reco source`.
pub async fn run(_command: SourceCommand, _settings: &Settings) -> anyhow::Result<ExitCode> {
    super::not_built("source", "the batch pipeline")
}
