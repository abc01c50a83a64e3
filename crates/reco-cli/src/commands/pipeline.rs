//! `reco pipeline`: the daily loop on this machine (`run`), and the Step Functions definition
//! generated from the same steps (`definition`).

use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use clap::{Args, Subcommand};
use indicatif::ProgressBar;
use reco_pipeline::runner::{self, Observer, Outcome, RunOptions, StepRecord};
use reco_pipeline::steps::Step;
use reco_pipeline::{ServiceArgs, Services, StepError, asl};
use serde_json::Value;

/// `reco pipeline` subcommands.
#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// Run the daily loop here, in the state machine's order: ETL -> train (quality gate) ->
    /// load embeddings -> score every customer -> make the version live. Exit 0 when a new
    /// version is live, 3 when the quality gate refused it, 1 when a step failed.
    Run(Box<RunArgs>),
    /// Print the Step Functions definition generated from the steps (the Terraform template
    /// terraform/modules/pipeline/state-machine.asl.json.tftpl).
    Definition,
}

/// Arguments of `reco pipeline run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Customers per score-all shard (the state machine's `customers_per_shard`).
    #[arg(long, default_value_t = RunOptions::default().customers_per_shard)]
    pub customers_per_shard: u64,
    /// Most score-all shards (`max_shards`).
    #[arg(long, default_value_t = RunOptions::default().max_shards)]
    pub max_shards: u32,
    /// Shards scored at once (the Distributed Map's concurrency).
    #[arg(long, default_value_t = RunOptions::default().score_concurrency)]
    pub score_concurrency: usize,
    /// Factor of the retry delays (1: the state machine's; 0: retry at once).
    #[arg(long, default_value_t = 1.0)]
    pub retry_delay_scale: f64,
    /// Databases, buckets, training settings.
    #[command(flatten)]
    pub services: ServiceArgs,
}

/// Runs `reco pipeline`.
pub async fn run(command: PipelineCommand) -> anyhow::Result<ExitCode> {
    match command {
        PipelineCommand::Definition => {
            print!("{}", asl::template());
            Ok(ExitCode::SUCCESS)
        }
        PipelineCommand::Run(args) => run_loop(*args).await,
    }
}

/// Prints each step as it starts and ends, retries, and a bar over the shards.
#[derive(Default)]
struct Printer {
    bar: Mutex<Option<ProgressBar>>,
}

/// The kept answer in one line, without the plan's list of shard requests.
fn brief(answer: &Value) -> String {
    match answer {
        Value::Object(fields) => fields
            .iter()
            .filter(|(k, _)| k.as_str() != "shards")
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

impl Observer for Printer {
    fn step_started(&self, index: usize, total: usize, step: &Step) {
        eprintln!("\n== [{}/{total}] {}: {}", index + 1, step.name, step.title);
    }

    fn retrying(&self, step: &Step, attempt: u32, error: &StepError, delay: Duration) {
        eprintln!(
            "   {} attempt {attempt} failed (transient): {}; retrying in {:.1} s",
            step.name,
            error.message,
            delay.as_secs_f64()
        );
    }

    fn progress(&self, step: &Step, done: usize, total: usize) {
        let mut bar = self.bar.lock().expect("progress bar lock");
        let bar = bar.get_or_insert_with(|| {
            crate::progress::bar(Some(total as u64), &format!("   {} shards", step.name))
        });
        bar.set_position(done as u64);
        if done == total {
            bar.finish_and_clear();
        } else if !bar.is_hidden() {
            return;
        }
        if bar.is_hidden() {
            eprintln!("   {} shard {done}/{total} done", step.name);
        }
    }

    fn step_finished(&self, record: &StepRecord) {
        if let Some(bar) = self.bar.lock().expect("progress bar lock").take() {
            bar.finish_and_clear();
        }
        eprintln!(
            "   {} finished in {:.1} s ({} invocation(s), {} attempt(s)): {}",
            record.name,
            record.seconds,
            record.invocations,
            record.attempts,
            brief(&record.answer)
        );
    }
}

async fn run_loop(args: RunArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.retry_delay_scale >= 0.0 && args.retry_delay_scale.is_finite(),
        "--retry-delay-scale must be a number >= 0"
    );
    let options = RunOptions {
        customers_per_shard: args.customers_per_shard,
        max_shards: args.max_shards,
        score_concurrency: args.score_concurrency.max(1),
        retry_delay_scale: args.retry_delay_scale,
    };
    let services = Services::new(args.services)
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
    let report = runner::run(&services, &options, &Printer::default()).await;

    eprintln!("\n== summary");
    eprintln!(
        "   {:<8} {:>11} {:>8} {:>9}",
        "step", "invocations", "attempts", "seconds"
    );
    let mut total = 0.0;
    for step in &report.steps {
        total += step.seconds;
        eprintln!(
            "   {:<8} {:>11} {:>8} {:>9.1}",
            step.name, step.invocations, step.attempts, step.seconds
        );
    }
    eprintln!("   {:<8} {:>11} {:>8} {:>9.1}", "total", "", "", total);
    let (subject, message) = &report.notification;
    eprintln!("\nnotification: {subject}\n   {message}");
    Ok(match report.outcome {
        Outcome::Live { model_version } => {
            println!("pipeline: model version {model_version} is live");
            ExitCode::SUCCESS
        }
        Outcome::Refused { .. } => {
            println!(
                "pipeline: the quality gate refused the new version; the live version is unchanged"
            );
            ExitCode::from(3)
        }
        Outcome::Failed { step, error } => {
            println!(
                "pipeline: step {step} failed ({}): {}; the live version is unchanged, re-running is safe",
                if error.transient {
                    "after its retries"
                } else {
                    "not retryable"
                },
                error.message
            );
            ExitCode::FAILURE
        }
    })
}
