//! `reco report --experiment NAME`: the attribution report of an experiment, read from the raw
//! events in the data lake (`events/dt=YYYY-MM-DD/`): per variant the click-through,
//! add-to-cart and purchase rates of recommendation impressions with 95% intervals, and each
//! variant against the control.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use reco_aws::experiments::ExperimentStore;
use reco_aws::{AwsArgs, Bucket};
use reco_config::{ModelStoreArgs, required, var};
use reco_domain::artifacts::ModelPrefix;
use reco_domain::experiment::ExperimentAction;
use reco_report::{
    CONTROL_VARIANT, DEFAULT_DAYS, DEFAULT_WINDOW_HOURS, MAX_WINDOW_HOURS, NaiveDate, ReportConfig,
    ReportError, date_range, parse_date,
};

use crate::progress;

/// Arguments of `reco report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The experiment's name, as the impressions carry it.
    #[arg(long, value_name = "NAME")]
    pub experiment: String,
    /// Print the report as JSON (stable field names; see the README) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// An outcome counts when it happens within this many hours after the impression.
    #[arg(long, value_name = "H", default_value_t = DEFAULT_WINDOW_HOURS, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_WINDOW_HOURS)))]
    pub window_hours: u32,
    /// First arrival date (UTC, YYYY-MM-DD) of the impressions counted; default: the day the
    /// experiment was last started (its history, `reco experiment`), else --days before --to.
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub from: Option<NaiveDate>,
    /// Last arrival date (UTC, YYYY-MM-DD) of the impressions counted; default: the day the
    /// experiment stopped, else today.
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub to: Option<NaiveDate>,
    /// Days reported when --from is not given and the experiment has no history (ending with
    /// --to).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_DAYS, value_parser = clap::value_parser!(u32).range(1..=366))]
    pub days: u32,
    /// The variant the others are compared with.
    #[arg(long, value_name = "VARIANT", default_value = CONTROL_VARIANT)]
    pub control: String,
    /// The data lake bucket (raw events under events/).
    #[arg(long, env = var::RECO_DATA_LAKE_BUCKET, value_name = "BUCKET")]
    pub data_lake_bucket: Option<String>,
    /// The artifacts bucket and model prefix, where the experiments' history is kept (for the
    /// default dates; optional).
    #[command(flatten)]
    pub models: ModelStoreArgs,
    /// AWS endpoint, region and credentials.
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// The experiment's life from its history: the day of its last start and, when it was stopped
/// after that, the day of the stop. `None` without an artifacts bucket, without history, or
/// when the history cannot be read (said in the log; the --days default applies).
async fn experiment_life(args: &ReportArgs) -> Option<(NaiveDate, Option<NaiveDate>)> {
    let bucket = args
        .models
        .artifacts_bucket
        .as_deref()
        .filter(|b| !b.is_empty())?;
    let store = ExperimentStore::new(
        Bucket::s3(&args.aws, bucket).ok()?,
        ModelPrefix::new(&args.models.model_prefix),
    );
    let entries = match store.history(&args.experiment).await {
        Ok(entries) => entries,
        Err(e) => {
            tracing::warn!(error = %e, "experiment history not read; default dates from --days");
            return None;
        }
    };
    let day = |at: &str| at.get(..10).and_then(|d| parse_date(d).ok());
    let start = entries
        .iter()
        .rposition(|e| e.action == ExperimentAction::Start)?;
    let from = day(&entries[start].at)?;
    let to = entries[start..]
        .iter()
        .find(|e| e.action == ExperimentAction::Stop)
        .and_then(|e| day(&e.at));
    Some((from, to))
}

/// Runs `reco report`: exit 0 with the report, 1 when the experiment has no impressions.
pub async fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let bucket = required(var::RECO_DATA_LAKE_BUCKET, &args.data_lake_bucket)?;
    let (mut from, mut to) = (args.from, args.to);
    if from.is_none()
        && let Some((started, stopped)) = experiment_life(&args).await
    {
        eprintln!(
            "reco report: experiment {:?} started {started}{}: reporting its life",
            args.experiment,
            stopped.map_or_else(String::new, |d| format!(", stopped {d}"))
        );
        from = Some(started);
        to = to.or(stopped);
    }
    let (from, to) = date_range(from, to, args.days)?;
    let config = ReportConfig {
        experiment: args.experiment.clone(),
        from,
        to,
        window_hours: args.window_hours,
        control: args.control.clone(),
    };
    let lake = Bucket::s3(&args.aws, bucket)?;
    let days = config.days();
    let bar = progress::bar(Some(days.len() as u64), "reading events");
    let result = reco_report::run(&lake, &config, &mut |day, read| {
        tracing::info!(%day, objects = read.objects, rows = read.rows, "day read");
        bar.set_message(format!("reading events: dt={day}, {} rows", read.rows));
        bar.inc(1);
    })
    .await;
    bar.finish_and_clear();
    let report = match result {
        Ok(report) => report,
        Err(ReportError::NoImpressions(message)) => {
            eprintln!("reco report: {message}");
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "report of experiment {:?} from s3://{bucket}/events/",
                    args.experiment
                )
            });
        }
    };
    let text = if args.json {
        format!("{}\n", serde_json::to_string_pretty(&report)?)
    } else {
        report.render()
    };
    // A reader that stops early (`| head`) is not an error.
    match std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}
