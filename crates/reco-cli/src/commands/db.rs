//! `reco db migrate`: the least-privilege database roles (`reco_reader`, `reco_loader` in
//! PostgreSQL, `reco_etl` in MySQL) and their secrets, created or updated as the master user.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use reco_config::{AwsArgs, MysqlArgs, PgArgs, PgTarget};
use reco_db_roles::{Migration, RoleSecretArgs, SecretsClient};

/// `reco db` subcommands.
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Create or update the database roles and their grants (sql/roles/*.sql) as the master
    /// user, and make each role's Secrets Manager secret hold a password that logs in.
    /// Idempotent: a working password is kept unless --rotate. A database whose role secrets
    /// are not configured is skipped. On AWS the pipeline's migrate function runs it from
    /// inside the VPC (`make deploy-*` invokes it).
    Migrate(MigrateArgs),
}

/// Arguments of `reco db migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// New passwords for every role; the old ones stop working at once (connections open
    /// with them stay open).
    #[arg(long)]
    pub rotate: bool,
    /// The role secrets and the role-name prefix.
    #[command(flatten)]
    pub roles: RoleSecretArgs,
    /// The vector database, as its master user.
    #[command(flatten)]
    pub pg: PgArgs,
    /// The source database, as its master user.
    #[command(flatten)]
    pub mysql: MysqlArgs,
    /// AWS endpoint, region and credentials (Secrets Manager).
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Runs `reco db`.
pub async fn run(command: DbCommand) -> anyhow::Result<ExitCode> {
    match command {
        DbCommand::Migrate(args) => migrate(args).await,
    }
}

async fn migrate(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    let ids = args.roles.ids()?;
    let names = args.roles.names()?;
    let sdk = reco_aws::sdk_config(&args.aws).await;
    let postgres = match &ids.postgres {
        Some(_) => {
            // The master user: a URL's own credentials, never the credentials secret a reader
            // may be configured with.
            let target = match args.pg.target()? {
                PgTarget::UrlWithSecret { url, .. } => PgTarget::Url(url),
                target => target,
            };
            Some(
                reco_vector_store::connect_options(&target, &sdk)
                    .await
                    .context("the vector database's master connection")?,
            )
        }
        None => None,
    };
    let mysql = match &ids.mysql {
        Some(_) => Some(
            reco_etl::source_db::connect_options(&args.mysql.target()?, &sdk)
                .await
                .context("the source database's master connection")?,
        ),
        None => None,
    };
    let migration = Migration::new(
        names,
        args.rotate,
        &SecretsClient::new(&sdk),
        &ids,
        postgres,
        mysql,
    );
    let reports = migration
        .run(&|line| eprintln!("reco db migrate: {line}"))
        .await?;
    for report in &reports {
        println!(
            "role={} engine={} password={} secret={}",
            report.role, report.engine, report.password, report.secret
        );
    }
    Ok(ExitCode::SUCCESS)
}
