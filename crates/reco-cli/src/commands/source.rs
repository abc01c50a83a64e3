//! `reco source`: seed the source MySQL database.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use reco_domain::Settings;
use reco_domain::settings::var;
use reco_etl::classicmodels::load_classicmodels;
use reco_etl::generate::{GenerateSpec, generate};
use reco_etl::sql_script::decode_script;

/// Subcommands of `reco source`.
#[derive(Debug, Subcommand)]
pub enum SourceCommand {
    /// Load the classicmodels dump into MySQL and derive `ratings`.
    LoadClassicmodels {
        /// The dump file (MySQL syntax, UTF-8 or latin1, CRLF or LF).
        file: PathBuf,
    },
    /// Write synthetic classicmodels-shaped data of any size.
    Generate {
        /// Number of customers.
        #[arg(long)]
        customers: u32,
        /// Number of products.
        #[arg(long)]
        products: u32,
        /// Number of ratings.
        #[arg(long)]
        ratings: u64,
        /// Random seed: the same seed gives the same data.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
}

/// Runs `reco source`.
pub async fn run(command: SourceCommand, settings: &Settings) -> anyhow::Result<ExitCode> {
    super::etl::init_stderr_logging();
    let url = settings.require(var::RECO_MYSQL_URL)?;
    match command {
        SourceCommand::LoadClassicmodels { file } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let dump = decode_script(&bytes);
            let report = load_classicmodels(url, &file.display().to_string(), &dump).await?;
            eprintln!(
                "reco source: loaded {} statement(s) from {} (skipped: {}); derived {} ratings ({} customers, {} products)",
                report.statements,
                file.display(),
                report.skipped.join(" | "),
                report.ratings,
                report.rated_customers,
                report.rated_products
            );
        }
        SourceCommand::Generate {
            customers,
            products,
            ratings,
            seed,
        } => {
            let report = generate(
                url,
                GenerateSpec {
                    customers,
                    products,
                    ratings,
                    seed,
                },
            )
            .await?;
            eprintln!(
                "reco source: generated {} customers, {} products, {} ratings (seed {seed}) in {:.1}s",
                report.customers,
                report.products,
                report.ratings,
                report.elapsed.as_secs_f64()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
