//! The local runner: the loop of [`STEPS`] executed in this process, with the state
//! machine's semantics: the same requests built from the same state paths, the same retries
//! (exponential backoff, full jitter, transient failures only), the gate's branch, the
//! fan-out over the planned shards, and the same three endings (live, refused, failed) with
//! the same messages.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{StreamExt, stream};
use serde_json::{Map, Value, json};

use crate::exec::{Executor, StepError};
use crate::io::Request;
use crate::json_path;
use crate::steps::{FAILED, LIVE, Message, Retry, STEPS, Setting, Source, Step};

/// Deploy-time settings of a run (the state machine's template variables).
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    /// Customers per score-all shard.
    pub customers_per_shard: u64,
    /// Most shards.
    pub max_shards: u32,
    /// Shards scored at once (the Distributed Map's `MaxConcurrency`).
    pub score_concurrency: usize,
    /// Factor of every retry delay (1 = the state machine's delays; tests use 0).
    pub retry_delay_scale: f64,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            customers_per_shard: 100_000,
            max_shards: 1000,
            score_concurrency: 2,
            retry_delay_scale: 1.0,
        }
    }
}

impl RunOptions {
    fn setting(&self, setting: Setting) -> Value {
        match setting {
            Setting::CustomersPerShard => json!(self.customers_per_shard),
            Setting::MaxShards => json!(self.max_shards),
        }
    }
}

/// What a step did.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord {
    /// The step's name.
    pub name: &'static str,
    /// What it does.
    pub title: &'static str,
    /// Invocations (one per shard for the fan-out).
    pub invocations: u32,
    /// Attempts over all invocations (retries included).
    pub attempts: u32,
    /// Wall-clock seconds, retries included.
    pub seconds: f64,
    /// What was kept of the answer; for the fan-out, the numeric fields summed over shards.
    pub answer: Value,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The version is live.
    Live {
        /// The version.
        model_version: String,
    },
    /// The quality gate refused the version; nothing after training ran.
    Refused {
        /// The refusal, as told to the operators.
        message: String,
    },
    /// A step failed for good.
    Failed {
        /// The step.
        step: &'static str,
        /// Its last error.
        error: StepError,
    },
}

/// A finished run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// Steps that ran, in order (the failed one included).
    pub steps: Vec<StepRecord>,
    /// The loop's state at the end.
    pub state: Value,
    /// The ending.
    pub outcome: Outcome,
    /// What the operators were told: subject and message.
    pub notification: (String, String),
}

/// Progress of a run, as it happens.
pub trait Observer: Sync {
    /// Step `index` (0-based) of `total` starts.
    fn step_started(&self, _index: usize, _total: usize, _step: &Step) {}
    /// An attempt failed and is retried after `delay`.
    fn retrying(&self, _step: &Step, _attempt: u32, _error: &StepError, _delay: Duration) {}
    /// `done` of `total` fan-out invocations finished.
    fn progress(&self, _step: &Step, _done: usize, _total: usize) {}
    /// A step finished.
    fn step_finished(&self, _record: &StepRecord) {}
}

/// An observer that reports nothing.
pub struct Quiet;

impl Observer for Quiet {}

/// `message` with each `{}` replaced by the value at its path (strings bare, other values
/// as JSON), as `States.Format` does.
pub fn format_message(message: &Message, state: &Value) -> String {
    let mut out = String::new();
    let mut parts = message.format.split("{}");
    out.push_str(parts.next().unwrap_or(""));
    for (part, path) in parts.zip(message.args) {
        match json_path::get(state, path) {
            Some(Value::String(s)) => out.push_str(s),
            Some(other) => out.push_str(&other.to_string()),
            None => out.push_str("null"),
        }
        out.push_str(part);
    }
    out
}

/// The request of `step` from `state`.
fn build_request(step: &Step, state: &Value, options: &RunOptions) -> Result<Request, StepError> {
    let mut payload = Map::new();
    payload.insert("step".into(), step.name.into());
    for (field, source) in step.inputs {
        let value = match source {
            Source::Path(path) => json_path::get(state, path).cloned().ok_or_else(|| {
                StepError::invalid(format!("the state has no {path} for step {}", step.name))
            })?,
            Source::Setting(setting) => options.setting(*setting),
        };
        payload.insert((*field).into(), value);
    }
    parse_request(Value::Object(payload), step)
}

fn parse_request(value: Value, step: &Step) -> Result<Request, StepError> {
    serde_json::from_value(value)
        .map_err(|e| StepError::invalid(format!("bad request for step {}: {e}", step.name)))
}

/// A uniform fraction in [0, 1) for full jitter (not cryptographic; spreads retries).
fn jitter_fraction() -> f64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    // A multiplicative hash spreads the clock's low bits over the whole range.
    let mixed = u64::from(nanos).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
    mixed as f64 / (1u64 << 53) as f64
}

/// The delay before retry `n` of `retry`, scaled.
fn retry_delay(retry: &Retry, n: u32, scale: f64) -> Duration {
    Duration::from_secs_f64((retry.ceiling_seconds(n) * jitter_fraction() * scale).max(0.0))
}

/// Runs `request` with `step`'s retries; returns the answer and the attempts made.
async fn invoke<E: Executor, O: Observer>(
    executor: &E,
    observer: &O,
    step: &Step,
    request: Request,
    options: &RunOptions,
) -> (Result<Value, StepError>, u32) {
    let mut attempt = 1;
    loop {
        match executor.run(request.clone()).await {
            Ok(answer) => return (Ok(answer), attempt),
            Err(e) if e.transient && attempt <= step.retry.max_attempts => {
                let delay = retry_delay(&step.retry, attempt, options.retry_delay_scale);
                observer.retrying(step, attempt, &e, delay);
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            Err(e) => return (Err(e), attempt),
        }
    }
}

/// The fields of `answer` that `step` keeps (all of them must be there, as a
/// `ResultSelector` requires).
fn kept(step: &Step, answer: &Value) -> Result<Value, StepError> {
    let mut out = Map::new();
    for field in step.keep {
        let value = answer.get(*field).cloned().ok_or_else(|| {
            StepError::invalid(format!("step {} answered without {field}", step.name))
        })?;
        out.insert((*field).into(), value);
    }
    Ok(Value::Object(out))
}

/// Numeric fields summed over answers (the fan-out's record).
fn summed(answers: &[Value]) -> Value {
    let mut sums: Map<String, Value> = Map::new();
    for answer in answers {
        for (k, v) in answer.as_object().into_iter().flatten() {
            if let Some(n) = v.as_f64() {
                let total = sums.get(k).and_then(Value::as_f64).unwrap_or(0.0) + n;
                let value = if v.is_u64() {
                    json!(total as u64)
                } else {
                    json!(total)
                };
                sums.insert(k.clone(), value);
            }
        }
    }
    Value::Object(sums)
}

/// Runs one step (once, or once per element for the fan-out) and stores what it keeps.
async fn run_step<E: Executor, O: Observer>(
    executor: &E,
    observer: &O,
    step: &'static Step,
    state: &mut Value,
    options: &RunOptions,
) -> (StepRecord, Result<(), StepError>) {
    let started = Instant::now();
    let mut record = StepRecord {
        name: step.name,
        title: step.title,
        invocations: 0,
        attempts: 0,
        seconds: 0.0,
        answer: Value::Null,
    };
    let result: Result<(), StepError> = async {
        match step.fan_out {
            None => {
                let request = build_request(step, state, options)?;
                record.invocations = 1;
                let (answer, attempts) = invoke(executor, observer, step, request, options).await;
                record.attempts = attempts;
                let answer = answer?;
                match step.result_path {
                    Some(path) => {
                        let keep = kept(step, &answer)?;
                        json_path::set(state, path, keep.clone());
                        record.answer = keep;
                    }
                    None => record.answer = answer,
                }
            }
            Some(fan_out) => {
                let items = json_path::get(state, fan_out.items)
                    .and_then(Value::as_array)
                    .cloned()
                    .ok_or_else(|| {
                        StepError::invalid(format!("the state has no list at {}", fan_out.items))
                    })?;
                let requests = items
                    .into_iter()
                    .map(|item| parse_request(item, step))
                    .collect::<Result<Vec<_>, _>>()?;
                let total = requests.len();
                record.invocations = total as u32;
                let mut calls = stream::iter(requests)
                    .map(|r| invoke(executor, observer, step, r, options))
                    .buffer_unordered(options.score_concurrency.max(1));
                let mut answers = Vec::with_capacity(total);
                while let Some((answer, attempts)) = calls.next().await {
                    record.attempts += attempts;
                    // The first failure ends the step (ToleratedFailurePercentage 0);
                    // dropping the stream cancels the shards still running.
                    answers.push(answer?);
                    observer.progress(step, answers.len(), total);
                }
                record.answer = summed(&answers);
            }
        }
        Ok(())
    }
    .await;
    record.seconds = started.elapsed().as_secs_f64();
    (record, result)
}

/// Runs the loop on `executor`, telling `observer` as it goes.
pub async fn run<E: Executor, O: Observer>(
    executor: &E,
    options: &RunOptions,
    observer: &O,
) -> RunReport {
    let mut state = json!({});
    let mut steps = Vec::new();
    for (index, step) in STEPS.iter().enumerate() {
        observer.step_started(index, STEPS.len(), step);
        let (record, result) = run_step(executor, observer, step, &mut state, options).await;
        observer.step_finished(&record);
        steps.push(record);
        if let Err(error) = result {
            json_path::set(
                &mut state,
                "$.error",
                json!({ "Error": error.error_type(), "Cause": error.message }),
            );
            let message = format_message(&FAILED, &state);
            return RunReport {
                steps,
                state,
                outcome: Outcome::Failed {
                    step: step.name,
                    error,
                },
                notification: (FAILED.subject.to_owned(), message),
            };
        }
        if let Some(gate) = step.gate
            && json_path::get(&state, gate.path) != Some(&Value::Bool(true))
        {
            let message = format_message(&gate.refused, &state);
            return RunReport {
                steps,
                state,
                outcome: Outcome::Refused {
                    message: message.clone(),
                },
                notification: (gate.refused.subject.to_owned(), message),
            };
        }
    }
    let message = format_message(&LIVE, &state);
    let model_version = json_path::get(&state, "$.publish.model_version")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    RunReport {
        steps,
        state,
        outcome: Outcome::Live { model_version },
        notification: (LIVE.subject.to_owned(), message),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use super::*;
    use crate::io::{PlanResponse, ShardRequest, shard_count};

    /// A stand-in for the real steps: canned answers, a script of failures per step, and a
    /// log of every request in order.
    #[derive(Default)]
    struct Scripted {
        accepted: bool,
        failures: Mutex<BTreeMap<&'static str, Vec<StepError>>>,
        log: Mutex<Vec<Request>>,
    }

    impl Scripted {
        fn accepting() -> Self {
            Self {
                accepted: true,
                ..Self::default()
            }
        }

        fn fail(self, step: &'static str, errors: Vec<StepError>) -> Self {
            self.failures.lock().unwrap().insert(step, errors);
            self
        }

        fn steps(&self) -> Vec<&'static str> {
            self.log.lock().unwrap().iter().map(Request::step).collect()
        }
    }

    impl Executor for Scripted {
        async fn run(&self, request: Request) -> Result<Value, StepError> {
            self.log.lock().unwrap().push(request.clone());
            if let Some(errors) = self.failures.lock().unwrap().get_mut(request.step())
                && !errors.is_empty()
            {
                return Err(errors.remove(0));
            }
            Ok(match request {
                Request::Etl { .. } => {
                    json!({"snapshot": "2026-12-02", "rows_read": 10, "rows_written": 12, "rejected": 0, "events_read": 40, "event_rows": 2})
                }
                Request::Train { .. } => json!({
                    "model_version": "v2", "accepted": self.accepted, "reason": "nDCG@10 0.01 below the minimum 0.05",
                    "customers": 250, "ndcg_at_10": 0.01, "popularity_ndcg_at_10": 0.02
                }),
                Request::Load { .. } => {
                    json!({"embedding_version": "e1", "items": 5, "users": 250})
                }
                Request::Plan {
                    model_version,
                    customers_per_shard,
                    max_shards,
                } => {
                    let count = shard_count(250, customers_per_shard, max_shards);
                    serde_json::to_value(PlanResponse {
                        customers: 250,
                        shard_count: count,
                        shards: (0..count)
                            .map(|index| {
                                Request::Score(ShardRequest {
                                    model_version: model_version.clone(),
                                    index,
                                    count,
                                    generated_at: "2026-12-02T02:00:00.000Z".into(),
                                })
                            })
                            .collect(),
                    })
                    .unwrap()
                }
                Request::Score(_) => json!({"written": 100, "kept": 0}),
                Request::Publish { model_version } => {
                    json!({"model_version": model_version, "previous": "v1"})
                }
                Request::Migrate { .. } => json!({"roles": []}),
            })
        }
    }

    fn options() -> RunOptions {
        RunOptions {
            customers_per_shard: 100,
            retry_delay_scale: 0.0,
            ..RunOptions::default()
        }
    }

    #[tokio::test]
    async fn a_run_goes_through_every_step_in_order_and_fans_out_over_the_shards() {
        let executor = Scripted::accepting();
        let report = run(&executor, &options(), &Quiet).await;
        assert_eq!(
            report.outcome,
            Outcome::Live {
                model_version: "v2".into()
            }
        );
        assert_eq!(
            executor.steps(),
            [
                "etl", "train", "load", "plan", "score", "score", "score", "publish"
            ]
        );
        let log = executor.log.lock().unwrap();
        assert_eq!(
            log[1],
            Request::Train {
                snapshot: "2026-12-02".into()
            }
        );
        assert_eq!(
            log[2],
            Request::Load {
                model_version: "v2".into()
            }
        );
        assert_eq!(
            log[3],
            Request::Plan {
                model_version: "v2".into(),
                customers_per_shard: 100,
                max_shards: 1000
            }
        );
        let score = &report.steps[4];
        assert_eq!((score.invocations, score.attempts), (3, 3));
        assert_eq!(score.answer["written"], 300);
        assert_eq!(report.notification.0, LIVE.subject);
        assert_eq!(
            report.notification.1,
            "Model version v2 is live: snapshot 2026-12-02, 250 customers in 3 shard(s), nDCG@10 0.01 (most popular 0.02)."
        );
    }

    #[tokio::test]
    async fn a_step_failing_once_with_a_transient_error_succeeds_on_its_retry() {
        let executor = Scripted::accepting().fail(
            "load",
            vec![StepError::transient(
                "connecting to the vector database: connection refused",
            )],
        );
        let report = run(&executor, &options(), &Quiet).await;
        assert_eq!(
            report.outcome,
            Outcome::Live {
                model_version: "v2".into()
            }
        );
        let load = report.steps.iter().find(|s| s.name == "load").unwrap();
        assert_eq!((load.invocations, load.attempts), (1, 2));
        assert_eq!(executor.steps().iter().filter(|s| **s == "load").count(), 2);
    }

    #[tokio::test]
    async fn a_shard_failing_once_is_retried_alone() {
        let executor = Scripted::accepting().fail("score", vec![StepError::transient("s3 503")]);
        let report = run(&executor, &options(), &Quiet).await;
        assert!(matches!(report.outcome, Outcome::Live { .. }));
        let score = report.steps.iter().find(|s| s.name == "score").unwrap();
        assert_eq!((score.invocations, score.attempts), (3, 4));
    }

    #[tokio::test]
    async fn an_invalid_error_is_not_retried_and_fails_the_run_before_publish() {
        let executor =
            Scripted::accepting().fail("load", vec![StepError::invalid("model.json missing")]);
        let report = run(&executor, &options(), &Quiet).await;
        assert_eq!(
            report.outcome,
            Outcome::Failed {
                step: "load",
                error: StepError::invalid("model.json missing")
            }
        );
        assert_eq!(executor.steps(), ["etl", "train", "load"]);
        assert_eq!(report.notification.0, FAILED.subject);
        assert!(
            report
                .notification
                .1
                .starts_with("The daily pipeline failed: reco.Invalid: model.json missing."),
            "{}",
            report.notification.1
        );
    }

    #[tokio::test]
    async fn retries_stop_after_the_steps_maximum() {
        let train = STEPS.iter().find(|s| s.name == "train").unwrap();
        let errors = (0..10).map(|_| StepError::transient("s3 503")).collect();
        let executor = Scripted::accepting().fail("train", errors);
        let report = run(&executor, &options(), &Quiet).await;
        assert!(matches!(
            report.outcome,
            Outcome::Failed { step: "train", .. }
        ));
        assert_eq!(report.steps[1].attempts, 1 + train.retry.max_attempts);
    }

    #[tokio::test]
    async fn a_refused_model_stops_the_run_after_training() {
        let executor = Scripted::default();
        let report = run(&executor, &options(), &Quiet).await;
        assert_eq!(executor.steps(), ["etl", "train"]);
        let Outcome::Refused { message } = &report.outcome else {
            panic!("{:?}", report.outcome)
        };
        assert_eq!(
            message,
            "Model version v2 was refused by the quality gate: nDCG@10 0.01 below the minimum 0.05. The live version and the latest documents are unchanged."
        );
    }

    #[test]
    fn jitter_stays_below_the_ceiling() {
        let retry = STEPS[0].retry;
        for n in 1..=3 {
            let d = retry_delay(&retry, n, 1.0).as_secs_f64();
            assert!((0.0..=retry.ceiling_seconds(n)).contains(&d), "{d}");
        }
        assert_eq!(retry_delay(&retry, 1, 0.0), Duration::ZERO);
    }
}
