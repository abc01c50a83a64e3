//! `reco-pipeline-lambda`: one step of the daily loop as an AWS Lambda (provided.al2023).
//!
//! The state machine invokes it with a request whose `step` field names the work
//! (`{"step": "train", "snapshot": "2026-12-02"}`, see `reco_pipeline::io::Request`); the
//! same zip is deployed as the `etl`, `train`, `load-embeddings` and `score-all` functions,
//! each with the variables and permissions of its steps. Its answer is the step's JSON; a
//! failure is a Lambda error whose `errorType` is `reco.Transient` (the state machine
//! retries it) or `reco.Invalid` (it does not). Each step emits its CloudWatch metrics (EMF).

use clap::Parser;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use reco_pipeline::exec::{Executor, ServiceArgs, Services, StepError};
use reco_pipeline::io::{EtlResponse, LoadResponse, Request, ScoreResponse, TrainResponse};
use reco_pipeline::metrics;
use serde_json::Value;

/// The function's configuration, every field from its environment variable.
#[derive(Debug, Parser)]
struct Config {
    #[command(flatten)]
    services: ServiceArgs,
}

fn failure(e: StepError) -> Diagnostic {
    Diagnostic {
        error_type: e.error_type().to_owned(),
        error_message: e.message,
    }
}

/// The step's metrics from its answer (the plan and publish steps have none of their own).
fn emit_metrics(step: &str, answer: &Value) {
    let set = match step {
        "etl" => serde_json::from_value::<EtlResponse>(answer.clone())
            .ok()
            .map(|a| metrics::etl(&a)),
        "train" => serde_json::from_value::<TrainResponse>(answer.clone())
            .ok()
            .map(|a| metrics::train(&a)),
        "load" => serde_json::from_value::<LoadResponse>(answer.clone())
            .ok()
            .map(|a| metrics::load(&a)),
        "score" => serde_json::from_value::<ScoreResponse>(answer.clone())
            .ok()
            .map(|a| metrics::score(&a)),
        _ => None,
    };
    if let Some(set) = set {
        set.emit();
    }
}

async fn handler(event: LambdaEvent<Value>, services: &Services) -> Result<Value, Diagnostic> {
    let request: Request = serde_json::from_value(event.payload).map_err(|e| {
        failure(StepError::invalid(format!(
            "not a pipeline request ({e}); expected {{\"step\": \"etl\" | \"train\" | \"load\" | \"plan\" | \"score\" | \"publish\" | \"migrate\", ...}}"
        )))
    })?;
    let step = request.step();
    tracing::info!(step, "step started");
    match services.run(request).await {
        Ok(answer) => {
            tracing::info!(step, answer = %answer, "step finished");
            emit_metrics(step, &answer);
            Ok(answer)
        }
        Err(e) => {
            tracing::error!(step, transient = e.transient, error = %e.message, "step failed");
            Err(failure(e))
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // INFO by default; the function's logging_config sets the level and the JSON format.
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::try_parse_from([env!("CARGO_BIN_NAME")])?;
    let services = Services::new(config.services)
        .await
        .map_err(|e| e.message)?;
    let services = &services;
    lambda_runtime::run(service_fn(move |event| handler(event, services))).await
}
