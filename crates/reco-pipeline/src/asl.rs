//! The Step Functions definition of the daily loop, generated from [`STEPS`].
//!
//! [`template`] gives the Amazon States Language document as a Terraform `templatefile`
//! template: function ARNs and the topic are `${..}` inside JSON strings, the deploy-time
//! numbers are bare `${..}` (so the rendered document is JSON with numbers there). It is
//! committed as `terraform/modules/pipeline/state-machine.asl.json.tftpl`
//! (`reco pipeline definition > ...` rewrites it; a test fails when it is stale).
//!
//! Shape: one Task per step (Lambda invoke, retried on [`RETRY_ON`] with exponential backoff
//! and full jitter, any other failure caught into `NotifyFailure` → `Failed`); the gate is a
//! Choice whose false branch tells the operators and ends `Refused`; the fan-out step is a
//! Distributed Map over the planned shards; the end tells the operators the version is live.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::steps::{
    FAILED, LIVE, Message, REFUSED_ERROR, RETRY_ON, Retry, STEPS, Setting, Source, Step,
};

/// The template's variable of the Distributed Map's concurrency.
pub const MAX_CONCURRENCY_VARIABLE: &str = "score_max_concurrency";
/// The template's variable of the SNS topic.
pub const TOPIC_VARIABLE: &str = "topic_arn";
/// Where the template is committed, from the repository's root.
pub const TEMPLATE_PATH: &str = "terraform/modules/pipeline/state-machine.asl.json.tftpl";

const NOTIFY_FAILURE: &str = "NotifyFailure";
const FAILED_STATE: &str = "Failed";
const NOTIFY_LIVE: &str = "NotifyLive";
const DONE: &str = "Done";
const NOTIFY_REFUSED: &str = "NotifyRefused";
const REFUSED: &str = "Refused";
const LAMBDA_INVOKE: &str = "arn:aws:states:::lambda:invoke";
const SNS_PUBLISH: &str = "arn:aws:states:::sns:publish";

/// A bare (numeric) template variable: written as a marker string first, unquoted last.
fn number_variable(name: &str) -> Value {
    Value::String(format!("@@{name}@@"))
}

fn string_variable(name: &str) -> Value {
    Value::String(format!("${{{name}}}"))
}

fn retry(retry: &Retry) -> Value {
    json!([{
        "ErrorEquals": RETRY_ON,
        "IntervalSeconds": retry.interval_seconds,
        "MaxAttempts": retry.max_attempts,
        "BackoffRate": retry.backoff_rate,
        "MaxDelaySeconds": retry.max_delay_seconds,
        "JitterStrategy": "FULL",
    }])
}

fn catch_all() -> Value {
    json!([{ "ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": NOTIFY_FAILURE }])
}

/// `States.Format('...', $.a, $.b)` of `message`.
fn format_expression(message: &Message) -> String {
    let mut expression = format!("States.Format('{}'", message.format);
    for arg in message.args {
        expression.push_str(", ");
        expression.push_str(arg);
    }
    expression.push(')');
    expression
}

/// A Task publishing to the topic, going to `next` whether or not the publish worked (a lost
/// notification must not change the run's outcome).
fn notify(subject: &str, message: Value, next: &str) -> Value {
    let mut parameters = Map::new();
    parameters.insert("TopicArn".into(), string_variable(TOPIC_VARIABLE));
    parameters.insert("Subject".into(), subject.into());
    match message {
        Value::String(path_or_expression) => {
            parameters.insert("Message.$".into(), path_or_expression.into());
        }
        other => {
            parameters.insert("Message".into(), other);
        }
    }
    json!({
        "Type": "Task",
        "Resource": SNS_PUBLISH,
        "Parameters": parameters,
        "ResultPath": null,
        "Retry": [{
            "ErrorEquals": ["States.ALL"],
            "IntervalSeconds": 2,
            "MaxAttempts": 3,
            "BackoffRate": 2.0,
            "JitterStrategy": "FULL",
        }],
        "Catch": [{ "ErrorEquals": ["States.ALL"], "ResultPath": "$.notification_error", "Next": next }],
        "Next": next,
    })
}

/// The Lambda request of `step`, as invoke parameters.
fn payload(step: &Step) -> Value {
    let mut payload = Map::new();
    payload.insert("step".into(), step.name.into());
    for (field, source) in step.inputs {
        match source {
            Source::Path(path) => payload.insert(format!("{field}.$"), (*path).into()),
            Source::Setting(setting) => payload.insert(
                (*field).into(),
                number_variable(setting.template_variable()),
            ),
        };
    }
    Value::Object(payload)
}

fn lambda_task(step: &Step, payload: Value, next: Option<&str>, catch: bool) -> Value {
    let mut parameters = Map::new();
    parameters.insert(
        "FunctionName".into(),
        string_variable(step.function.template_variable()),
    );
    match payload {
        Value::String(path) => parameters.insert("Payload.$".into(), path.into()),
        other => parameters.insert("Payload".into(), other),
    };
    let mut task = Map::new();
    task.insert("Type".into(), "Task".into());
    task.insert("Comment".into(), step.title.into());
    task.insert("Resource".into(), LAMBDA_INVOKE.into());
    task.insert("Parameters".into(), Value::Object(parameters));
    if let Some(path) = step.result_path {
        let selector: Map<String, Value> = step
            .keep
            .iter()
            .map(|f| (format!("{f}.$"), Value::String(format!("$.Payload.{f}"))))
            .collect();
        task.insert("ResultSelector".into(), Value::Object(selector));
        task.insert("ResultPath".into(), path.into());
    } else {
        task.insert("ResultPath".into(), Value::Null);
    }
    task.insert("Retry".into(), retry(&step.retry));
    if catch {
        task.insert("Catch".into(), catch_all());
    }
    match next {
        Some(next) => task.insert("Next".into(), next.into()),
        None => task.insert("End".into(), true.into()),
    };
    Value::Object(task)
}

/// The definition as a JSON value, numeric variables still as `"@@name@@"` markers.
fn definition() -> Value {
    let mut states = Map::new();
    for (i, step) in STEPS.iter().enumerate() {
        let after = STEPS.get(i + 1).map_or(NOTIFY_LIVE, |s| s.state);
        let next = match step.gate {
            Some(_) => format!("{}Gate", step.state),
            None => after.to_owned(),
        };
        let state = match step.fan_out {
            Some(fan_out) => {
                let inner = format!("{}Shard", step.state);
                let mut processor_states = Map::new();
                processor_states.insert(
                    inner.clone(),
                    lambda_task(step, Value::String("$".into()), None, false),
                );
                json!({
                    "Type": "Map",
                    "Comment": step.title,
                    "ItemsPath": fan_out.items,
                    "MaxConcurrency": number_variable(MAX_CONCURRENCY_VARIABLE),
                    "ItemProcessor": {
                        "ProcessorConfig": { "Mode": "DISTRIBUTED", "ExecutionType": "STANDARD" },
                        "StartAt": inner,
                        "States": processor_states,
                    },
                    "Label": step.state,
                    "ToleratedFailurePercentage": 0,
                    "ResultPath": null,
                    "Catch": catch_all(),
                    "Next": next,
                })
            }
            None => lambda_task(step, payload(step), Some(&next), true),
        };
        states.insert(step.state.into(), state);
        if let Some(gate) = step.gate {
            let message = format!("{}Refusal", step.state);
            states.insert(
                format!("{}Gate", step.state),
                json!({
                    "Type": "Choice",
                    "Choices": [{ "Variable": gate.path, "BooleanEquals": true, "Next": after }],
                    "Default": message,
                }),
            );
            states.insert(
                message,
                json!({
                    "Type": "Pass",
                    "Parameters": { "message.$": format_expression(&gate.refused) },
                    "ResultPath": "$.refusal",
                    "Next": NOTIFY_REFUSED,
                }),
            );
            states.insert(
                NOTIFY_REFUSED.into(),
                notify(
                    gate.refused.subject,
                    Value::String("$.refusal.message".into()),
                    REFUSED,
                ),
            );
            states.insert(
                REFUSED.into(),
                json!({ "Type": "Fail", "Error": REFUSED_ERROR, "CausePath": "$.refusal.message" }),
            );
        }
    }
    states.insert(
        NOTIFY_LIVE.into(),
        notify(LIVE.subject, Value::String(format_expression(&LIVE)), DONE),
    );
    states.insert(DONE.into(), json!({ "Type": "Succeed" }));
    states.insert(
        NOTIFY_FAILURE.into(),
        notify(
            FAILED.subject,
            Value::String(format_expression(&FAILED)),
            FAILED_STATE,
        ),
    );
    states.insert(
        FAILED_STATE.into(),
        json!({ "Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause" }),
    );
    json!({
        "Comment": "reco daily loop. Generated from crates/reco-pipeline/src/steps.rs by `reco pipeline definition`; do not edit.",
        "StartAt": STEPS[0].state,
        "States": states,
    })
}

/// Every variable of the template: the functions' ARNs, the topic, and the numbers.
pub fn template_variables() -> BTreeSet<&'static str> {
    let mut names: BTreeSet<&'static str> = STEPS
        .iter()
        .map(|s| s.function.template_variable())
        .collect();
    names.insert(TOPIC_VARIABLE);
    names.insert(MAX_CONCURRENCY_VARIABLE);
    for setting in [Setting::CustomersPerShard, Setting::MaxShards] {
        names.insert(setting.template_variable());
    }
    names
}

/// The definition as a Terraform template (ends with a newline).
pub fn template() -> String {
    let mut text = serde_json::to_string_pretty(&definition()).expect("JSON serialises");
    for name in template_variables() {
        text = text.replace(&format!("\"@@{name}@@\""), &format!("${{{name}}}"));
    }
    text.push('\n');
    text
}

/// `template` with every `${name}` replaced by its value (`values` are inserted verbatim:
/// strings must be given without quotes, they sit inside JSON strings already), as
/// Terraform's `templatefile` renders it; an unknown or missing variable is an error.
pub fn render(template: &str, values: &BTreeMap<&str, String>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| "unterminated ${".to_owned())?;
        let name = &rest[start + 2..start + end];
        let value = values
            .get(name)
            .ok_or_else(|| format!("no value for template variable {name}"))?;
        out.push_str(value);
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Checks a rendered definition the way Step Functions would refuse it, for the subset this
/// project writes: `StartAt` and every `Next`/`Default` name a state, every state is reachable
/// and either ends or goes on, Tasks retry with jitter and Lambda tasks catch (inside a Map
/// the Map catches), the Map is distributed. Returns every problem found.
pub fn validate(definition: &Value) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    validate_machine(definition, "", true, &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn validate_machine(machine: &Value, scope: &str, top: bool, problems: &mut Vec<String>) {
    let Some(states) = machine.get("States").and_then(Value::as_object) else {
        problems.push(format!("{scope}: no States"));
        return;
    };
    let start = machine.get("StartAt").and_then(Value::as_str).unwrap_or("");
    if !states.contains_key(start) {
        problems.push(format!("{scope}: StartAt {start:?} is not a state"));
    }
    let mut reachable = BTreeSet::from([start.to_owned()]);
    let mut queue = vec![start.to_owned()];
    while let Some(name) = queue.pop() {
        let Some(state) = states.get(&name) else {
            continue;
        };
        let ty = state.get("Type").and_then(Value::as_str).unwrap_or("");
        let mut targets: Vec<&str> = Vec::new();
        targets.extend(state.get("Next").and_then(Value::as_str));
        targets.extend(state.get("Default").and_then(Value::as_str));
        for list in ["Choices", "Catch"] {
            for entry in state
                .get(list)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                targets.extend(entry.get("Next").and_then(Value::as_str));
            }
        }
        let ends = matches!(ty, "Succeed" | "Fail")
            || state.get("End").and_then(Value::as_bool) == Some(true);
        if !ends && state.get("Next").is_none() && ty != "Choice" {
            problems.push(format!("{scope}{name}: neither Next nor End"));
        }
        match ty {
            "Task" => {
                let jitter = state
                    .get("Retry")
                    .and_then(Value::as_array)
                    .is_some_and(|r| {
                        !r.is_empty() && r.iter().all(|r| r["JitterStrategy"] == "FULL")
                    });
                if !jitter {
                    problems.push(format!("{scope}{name}: no Retry with JitterStrategy FULL"));
                }
                if top && state.get("Catch").is_none() {
                    problems.push(format!("{scope}{name}: no Catch"));
                }
            }
            "Map" => {
                let processor = &state["ItemProcessor"];
                if processor["ProcessorConfig"]["Mode"] != "DISTRIBUTED" {
                    problems.push(format!("{scope}{name}: not a Distributed Map"));
                }
                if state.get("Catch").is_none() {
                    problems.push(format!("{scope}{name}: no Catch"));
                }
                validate_machine(processor, &format!("{scope}{name}/"), false, problems);
            }
            "Choice" | "Pass" | "Succeed" | "Fail" => {}
            other => problems.push(format!("{scope}{name}: unexpected Type {other:?}")),
        }
        for target in targets {
            if !states.contains_key(target) {
                problems.push(format!("{scope}{name}: goes to {target:?}, not a state"));
            } else if reachable.insert(target.to_owned()) {
                queue.push(target.to_owned());
            }
        }
    }
    for name in states.keys() {
        if !reachable.contains(name) {
            problems.push(format!("{scope}{name}: unreachable"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_values() -> BTreeMap<&'static str, String> {
        template_variables()
            .into_iter()
            .map(|name| {
                let value = if name.ends_with("_arn") {
                    format!("arn:aws:lambda:eu-west-1:123456789012:function:reco-{name}")
                } else {
                    "7".to_owned()
                };
                (name, value)
            })
            .collect()
    }

    fn rendered() -> Value {
        let text = render(&template(), &sample_values()).unwrap();
        serde_json::from_str(&text).expect("the rendered template is JSON")
    }

    #[test]
    fn the_committed_template_is_the_generated_one() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(TEMPLATE_PATH);
        let committed =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            committed == template(),
            "{TEMPLATE_PATH} is stale: regenerate it with \
             `cargo run -q -p reco-cli -- pipeline definition > {TEMPLATE_PATH}`"
        );
    }

    #[test]
    fn the_rendered_definition_is_valid_and_follows_the_steps_in_order() {
        let definition = rendered();
        validate(&definition).unwrap();
        let states = definition["States"].as_object().unwrap();
        // The main path, from StartAt through the gate's true branch.
        let mut path = Vec::new();
        let mut at = definition["StartAt"].as_str().unwrap().to_owned();
        loop {
            let state = &states[&at];
            path.push(at.clone());
            at = match state["Type"].as_str().unwrap() {
                "Choice" => state["Choices"][0]["Next"].as_str().unwrap().to_owned(),
                "Succeed" => break,
                _ => state["Next"].as_str().unwrap().to_owned(),
            };
        }
        let mut expected: Vec<String> = Vec::new();
        for step in STEPS {
            expected.push(step.state.to_owned());
            if step.gate.is_some() {
                expected.push(format!("{}Gate", step.state));
            }
        }
        expected.extend([NOTIFY_LIVE.to_owned(), DONE.to_owned()]);
        assert_eq!(path, expected);
        // Each task sends the step's name and the deploy-time numbers as numbers.
        assert_eq!(states["Etl"]["Parameters"]["Payload"]["step"], "etl");
        assert_eq!(
            states["PlanShards"]["Parameters"]["Payload"]["customers_per_shard"],
            7
        );
        assert_eq!(states["ScoreAll"]["MaxConcurrency"], 7);
        assert_eq!(
            states["Train"]["Parameters"]["Payload"]["snapshot.$"],
            "$.etl.snapshot"
        );
        assert_eq!(states["Refused"]["Error"], REFUSED_ERROR);
    }

    #[test]
    fn validation_finds_dangling_and_unreachable_states_and_missing_retries() {
        let mut definition = rendered();
        definition["States"]["Train"]["Next"] = "Nowhere".into();
        definition["States"]["Etl"]["Retry"] = json!([]);
        let problems = validate(&definition).unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p| p.contains("\"Nowhere\", not a state")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("TrainGate: unreachable")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.starts_with("Etl: no Retry")),
            "{problems:?}"
        );
    }

    #[test]
    fn rendering_refuses_unknown_variables() {
        let err = render("{\"a\": ${nope}}", &sample_values()).unwrap_err();
        assert!(err.contains("nope"), "{err}");
    }
}
