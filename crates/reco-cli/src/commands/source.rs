//! `reco source`: seed the source MySQL database.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use reco_config::{AwsArgs, MysqlArgs};
use reco_etl::classicmodels::load_classicmodels;
use reco_etl::generate::{GenerateSpec, generate};
use reco_etl::source_db;
use reco_etl::sql_script::decode_script;
use sqlx::mysql::MySqlConnectOptions;

/// Subcommands of `reco source`.
#[derive(Debug, Subcommand)]
pub enum SourceCommand {
    /// Load the classicmodels dump into MySQL and derive `ratings`.
    LoadClassicmodels(LoadClassicmodelsArgs),
    /// Write synthetic classicmodels-shaped data of any size.
    Generate(GenerateArgs),
}

/// Where the source database is (a URL, or a secret read with the AWS settings).
#[derive(Debug, Args)]
pub struct SourceDbArgs {
    /// The source database.
    #[command(flatten)]
    pub mysql: MysqlArgs,
    /// AWS endpoint, region and credentials (to read the database's secret).
    #[command(flatten)]
    pub aws: AwsArgs,
}

impl SourceDbArgs {
    /// Connection options of the source database.
    async fn connect_options(&self) -> anyhow::Result<MySqlConnectOptions> {
        let target = self.mysql.target()?;
        let sdk = reco_aws::sdk_config(&self.aws).await;
        Ok(source_db::connect_options(&target, &sdk).await?)
    }
}

/// Arguments of `reco source load-classicmodels`.
#[derive(Debug, Args)]
pub struct LoadClassicmodelsArgs {
    /// The dump file (MySQL syntax, UTF-8 or latin1, CRLF or LF).
    pub file: PathBuf,
    /// The source database.
    #[command(flatten)]
    pub db: SourceDbArgs,
}

/// Arguments of `reco source generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Number of customers.
    #[arg(long)]
    pub customers: u32,
    /// Number of products.
    #[arg(long)]
    pub products: u32,
    /// Number of ratings.
    #[arg(long)]
    pub ratings: u64,
    /// Random seed: the same seed gives the same data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The source database.
    #[command(flatten)]
    pub db: SourceDbArgs,
}

/// Runs `reco source`.
pub async fn run(command: SourceCommand) -> anyhow::Result<ExitCode> {
    match command {
        SourceCommand::LoadClassicmodels(LoadClassicmodelsArgs { file, db }) => {
            let options = db.connect_options().await?;
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let dump = decode_script(&bytes);
            let report = load_classicmodels(&options, &file.display().to_string(), &dump).await?;
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
        SourceCommand::Generate(GenerateArgs {
            customers,
            products,
            ratings,
            seed,
            db,
        }) => {
            let options = db.connect_options().await?;
            let report = generate(
                &options,
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
