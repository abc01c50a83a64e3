//! `reco experiment`: A/B experiments between two model versions. The state is one object in
//! the artifacts bucket (`<model prefix>experiments/current.json`), changed with conditional
//! puts; every change leaves an audit object (`experiments/audit/<name>/`). No database is
//! needed, except that `start` checks, when the vector database is configured, that the
//! versions' embeddings are loaded.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use reco_aws::experiments::{ExperimentStore, caller_identity};
use reco_aws::{AwsArgs, Bucket};
use reco_config::{ModelStoreArgs, PgArgs};
use reco_domain::artifacts::ModelPrefix;
use reco_domain::experiment::{AuditEntry, Experiment, ExperimentState, StartRequest};
use reco_domain::recommendation::UtcDateTime;
use reco_vector_loader::ModelArtifacts;
use reco_vector_store::{StoreOptions, VectorStore};

/// How long `start` waits for the vector database before starting without the embeddings
/// check (the check is a convenience; the transform falls back to control when the
/// treatment's embeddings are missing).
const DB_CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// `reco experiment` subcommands.
#[derive(Debug, Subcommand)]
pub enum ExperimentCommand {
    /// Start an experiment: a share of customers served by the treatment model version.
    Start(StartArgs),
    /// Change the running experiment's treatment share.
    Share(ShareArgs),
    /// Stop the running experiment: every customer back on the active model.
    Stop(NameArgs),
    /// The running experiment, if any.
    Status(StatusArgs),
    /// Every change of an experiment (its audit trail), oldest first.
    History(NameArgs),
}

/// Where the experiment state is.
#[derive(Debug, Args)]
pub struct StateArgs {
    /// AWS endpoint, region and credentials.
    #[command(flatten)]
    pub aws: AwsArgs,
    /// The artifacts bucket and model prefix (the state lives next to the models).
    #[command(flatten)]
    pub models: ModelStoreArgs,
}

/// Arguments of `reco experiment start`.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Experiment name: 1-40 characters of a-z, 0-9 and -.
    pub name: String,
    /// Model version served to the treatment group.
    #[arg(long, value_name = "MODEL_VERSION")]
    pub treatment: String,
    /// Model version served to the control group (default: whatever version is active).
    #[arg(long, value_name = "MODEL_VERSION")]
    pub control: Option<String>,
    /// Fraction of customers in treatment (0.1 = 10 %).
    #[arg(long, value_name = "FRACTION")]
    pub share: f64,
    /// The state's bucket.
    #[command(flatten)]
    pub state: StateArgs,
    /// The vector database, to check the versions' embeddings are loaded (skipped when not
    /// configured).
    #[command(flatten)]
    pub pg: PgArgs,
}

/// Arguments of `reco experiment share`.
#[derive(Debug, Args)]
pub struct ShareArgs {
    /// The running experiment's name.
    pub name: String,
    /// New fraction of customers in treatment.
    pub share: f64,
    /// The state's bucket.
    #[command(flatten)]
    pub state: StateArgs,
}

/// Arguments of `reco experiment stop` and `history`.
#[derive(Debug, Args)]
pub struct NameArgs {
    /// The experiment's name.
    pub name: String,
    /// The state's bucket.
    #[command(flatten)]
    pub state: StateArgs,
}

/// Arguments of `reco experiment status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print `current.json`'s content instead of a summary.
    #[arg(long)]
    pub json: bool,
    /// The state's bucket.
    #[command(flatten)]
    pub state: StateArgs,
}

impl StateArgs {
    fn store(&self) -> anyhow::Result<(ExperimentStore, ModelArtifacts)> {
        let bucket = Bucket::s3(&self.aws, self.models.bucket()?)?;
        let prefix = ModelPrefix::new(&self.models.model_prefix);
        Ok((
            ExperimentStore::new(bucket.clone(), prefix.clone()),
            ModelArtifacts::new(bucket, prefix),
        ))
    }
}

/// Runs a `reco experiment` subcommand.
pub async fn run(cmd: ExperimentCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ExperimentCommand::Start(args) => start(args).await,
        ExperimentCommand::Share(args) => {
            let (store, _) = args.state.store()?;
            let by = caller_identity(&args.state.aws).await;
            let now = UtcDateTime::now().rfc3339();
            let change = store
                .apply(|s| s.set_share(&args.name, args.share, &now, &by))
                .await?;
            let e = change
                .state
                .experiment
                .as_ref()
                .context("share kept the experiment")?;
            println!(
                "experiment {} treatment share {} -> {}",
                e.name,
                share_text(
                    change
                        .audit
                        .before
                        .as_ref()
                        .map_or(0.0, |b| b.treatment_share)
                ),
                share_text(e.treatment_share)
            );
            Ok(ExitCode::SUCCESS)
        }
        ExperimentCommand::Stop(args) => {
            let (store, _) = args.state.store()?;
            let by = caller_identity(&args.state.aws).await;
            let now = UtcDateTime::now().rfc3339();
            store.apply(|s| s.stop(&args.name, &now, &by)).await?;
            println!(
                "experiment {} stopped: every customer is served by the active model",
                args.name
            );
            Ok(ExitCode::SUCCESS)
        }
        ExperimentCommand::Status(args) => {
            let (store, _) = args.state.store()?;
            let state = store.read().await?;
            if args.json {
                println!("{}", String::from_utf8_lossy(&state.to_json_vec()));
            } else {
                print!("{}", status_text(&state));
            }
            Ok(ExitCode::SUCCESS)
        }
        ExperimentCommand::History(args) => {
            let (store, _) = args.state.store()?;
            reco_domain::experiment::validate_name(&args.name)?;
            let entries = store.history(&args.name).await?;
            if entries.is_empty() {
                eprintln!(
                    "reco experiment history: no audit entries for {} under {}",
                    args.name,
                    store.current_location().trim_end_matches("current.json")
                );
                return Ok(ExitCode::FAILURE);
            }
            print!("{}", history_text(&entries));
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn start(args: StartArgs) -> anyhow::Result<ExitCode> {
    let (store, artifacts) = args.state.store()?;
    let request = StartRequest {
        name: args.name.clone(),
        treatment_model_version: args.treatment.clone(),
        control_model_version: args.control.clone(),
        treatment_share: args.share,
    };
    // Refuse bad input and a running experiment before any S3 or database check.
    ExperimentState::none().start(request.clone(), "-", "-")?;
    let versions: Vec<&str> = std::iter::once(args.treatment.as_str())
        .chain(args.control.as_deref())
        .collect();
    for version in &versions {
        artifacts
            .model_dim(version)
            .await
            .with_context(|| format!("checking model version {version} in the artifacts bucket"))?;
    }
    check_loaded(&args.pg, &args.state.aws, &versions).await?;
    let by = caller_identity(&args.state.aws).await;
    let now = UtcDateTime::now().rfc3339();
    let change = store.apply(|s| s.start(request, &now, &by)).await?;
    print!("{}", status_text(&change.state));
    Ok(ExitCode::SUCCESS)
}

/// When the vector database is configured and answers: every version must have its embeddings
/// loaded. Not configured or unreachable: a warning (the state needs no database).
async fn check_loaded(pg: &PgArgs, aws: &AwsArgs, versions: &[&str]) -> anyhow::Result<()> {
    let Ok(target) = pg.target() else {
        eprintln!(
            "reco experiment: vector database not configured (RECO_PG_URL / RECO_PG_SECRET_ARN): not checking that the embeddings are loaded"
        );
        return Ok(());
    };
    let connect = async {
        let sdk_config = reco_aws::sdk_config(aws).await;
        let options = reco_vector_store::connect_options(&target, &sdk_config).await?;
        anyhow::Ok(VectorStore::connect_with(options, StoreOptions::for_cli()).await?)
    };
    let store = match tokio::time::timeout(DB_CHECK_TIMEOUT, connect).await {
        Ok(Ok(store)) => store,
        Ok(Err(e)) => {
            eprintln!(
                "reco experiment: warning: vector database unreachable ({e:#}); not checking that the embeddings are loaded"
            );
            return Ok(());
        }
        Err(_) => {
            eprintln!(
                "reco experiment: warning: vector database did not answer in {}s; not checking that the embeddings are loaded",
                DB_CHECK_TIMEOUT.as_secs()
            );
            return Ok(());
        }
    };
    for version in versions {
        let loaded = store
            .loaded_version_of(version)
            .await
            .with_context(|| format!("looking up the embeddings of model version {version}"))?;
        if loaded.is_none() {
            anyhow::bail!(
                "model version {version} has no embeddings in the vector database: load them first without activating them (`reco load-embeddings --model {version} --inactive`)"
            );
        }
    }
    Ok(())
}

fn share_text(share: f64) -> String {
    format!("{:.1} %", share * 100.0)
}

fn status_text(state: &ExperimentState) -> String {
    match &state.experiment {
        None => "no experiment running: every customer is served by the active model\n".to_owned(),
        Some(e) => experiment_text(e),
    }
}

fn experiment_text(e: &Experiment) -> String {
    format!(
        "experiment {}\n  treatment  {} ({} of customers)\n  control    {}\n  started    {} by {}\n  updated    {}\n",
        e.name,
        e.treatment_model_version,
        share_text(e.treatment_share),
        e.control_model_version
            .as_deref()
            .unwrap_or("the active model version"),
        e.started_at,
        e.started_by,
        e.updated_at
    )
}

fn history_text(entries: &[AuditEntry]) -> String {
    let mut text = String::new();
    for entry in entries {
        let detail = match (&entry.before, &entry.after) {
            (None, Some(after)) => format!(
                "treatment {} at {}, control {}",
                after.treatment_model_version,
                share_text(after.treatment_share),
                after.control_model_version.as_deref().unwrap_or("active")
            ),
            (Some(before), Some(after)) => format!(
                "share {} -> {}",
                share_text(before.treatment_share),
                share_text(after.treatment_share)
            ),
            _ => "stopped".to_owned(),
        };
        text.push_str(&format!(
            "{}  {:<5}  {}  by {}\n",
            entry.at,
            entry.action.as_str(),
            detail,
            entry.by
        ));
    }
    text
}
