//! The processor: one batch of source records through the transform handler (in-process),
//! retried as Firehose retries a failed invocation, and the handler's answers turned into
//! what the sink delivers: records for the destination, records for the error prefix.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use reco_domain::firehose::{
    FirehoseEvent, FirehoseRecord, FirehoseResult, MAX_RESPONSE_BYTES, decode_data,
};
use reco_transform_lambda::Transformer;
use reco_transform_lambda::ports::{ModelStore, NeighbourIndex};

use crate::delivery::DeliveryConfig;
use crate::retry::{Retryable as _, backoff};

/// Firehose's `!{firehose:error-output-type}` for records the processor failed.
pub const PROCESSING_FAILED: &str = "processing-failed";

/// A record bound for the error prefix, with what Firehose writes about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedRecord {
    /// `!{firehose:error-output-type}` of its error object.
    pub error_output_type: &'static str,
    /// Firehose's `errorCode`.
    pub code: &'static str,
    /// Firehose's `errorMessage` (never the record's content).
    pub message: String,
    /// The record as received (base64).
    pub raw_data: String,
    /// Its arrival time (Unix milliseconds).
    pub arrival_ms: i64,
    /// Invocation attempts made.
    pub attempts: u32,
}

/// What becomes of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// To the destination prefix.
    Ok {
        /// Dynamic partition keys (empty without dynamic partitioning).
        keys: BTreeMap<String, String>,
        /// The transformed record's bytes as the handler returned them (one NDJSON line, or
        /// one gzip member of it when the transform gzips each record); objects are their
        /// concatenation.
        data: Vec<u8>,
        /// Arrival time of the source record (Unix milliseconds).
        arrival_ms: i64,
    },
    /// To the error prefix.
    Failed(FailedRecord),
    /// Dropped by the handler, on purpose.
    Dropped,
}

/// A processed batch.
#[derive(Debug, Default)]
pub struct Processed {
    /// One entry per record of the batch.
    pub deliveries: Vec<Delivery>,
    /// Invocations made (retries included).
    pub invocations: u64,
    /// Invocations whose response passed Lambda's 6 MB payload limit.
    pub oversized_responses: u64,
}

/// The transform handler as Firehose calls it.
pub struct Processor<'a, I: NeighbourIndex, M: ModelStore> {
    transformer: &'a Transformer<I, M>,
    delivery_stream: String,
    source_stream: String,
    retries: u32,
    dynamic_partitioning: bool,
    retry_backoff: Duration,
}

impl<'a, I: NeighbourIndex, M: ModelStore> Processor<'a, I, M> {
    /// The processor of `config`, pausing about `retry_backoff` before the first retry (doubled
    /// for each later one, with jitter).
    pub fn new(
        transformer: &'a Transformer<I, M>,
        config: &DeliveryConfig,
        retry_backoff: Duration,
    ) -> Self {
        Self {
            transformer,
            delivery_stream: config.name.clone(),
            source_stream: config.source_stream.clone(),
            retries: config.processor_retries,
            dynamic_partitioning: config.dynamic_partitioning,
            retry_backoff,
        }
    }

    /// Invokes the handler on `records`; after the configured retries, a failing invocation
    /// sends every record to the error prefix.
    pub async fn process(&self, records: Vec<FirehoseRecord>) -> Processed {
        let mut processed = Processed::default();
        let event = FirehoseEvent {
            invocation_id: Some(uuid::Uuid::new_v4().to_string()),
            delivery_stream_arn: Some(self.delivery_stream.clone()),
            source_kinesis_stream_arn: Some(self.source_stream.clone()),
            region: None,
            records,
        };
        let attempts = AtomicU32::new(0);
        let oversized = AtomicU64::new(0);
        let (attempts_ref, oversized_ref, event_ref) = (&attempts, &oversized, &event);
        let invoke = || async move {
            attempts_ref.fetch_add(1, Ordering::Relaxed);
            let t = self
                .transformer
                .transform(event_ref.clone())
                .await
                .map_err(|error| error.to_string())?;
            // Lambda refuses a synchronous response above its payload limit; Firehose then
            // sees a failed invocation.
            let bytes = serde_json::to_vec(&t.response).map_or(0, |b| b.len());
            if bytes > MAX_RESPONSE_BYTES {
                oversized_ref.fetch_add(1, Ordering::Relaxed);
                return Err(format!(
                    "Lambda.ResponseSizeExceeded: response of {bytes} bytes exceeds the {MAX_RESPONSE_BYTES}-byte payload limit"
                ));
            }
            Ok(t)
        };
        let transformed = invoke
            .retry(backoff(self.retry_backoff, self.retries.saturating_add(1)))
            .notify(|error: &String, pause: Duration| {
                tracing::warn!(
                    attempt = attempts.load(Ordering::Relaxed),
                    ?pause,
                    %error,
                    "invocation failed, retrying"
                );
            })
            .await;
        let attempt = attempts.load(Ordering::Relaxed);
        processed.invocations = u64::from(attempt);
        processed.oversized_responses = oversized.load(Ordering::Relaxed);
        let failed = |record: &FirehoseRecord, code: &'static str, message: String| {
            Delivery::Failed(FailedRecord {
                error_output_type: PROCESSING_FAILED,
                code,
                message,
                raw_data: record.data.clone(),
                arrival_ms: record.approximate_arrival_timestamp.unwrap_or(0),
                attempts: attempt,
            })
        };
        let transformed = match transformed {
            Ok(t) => t,
            Err(error) => {
                tracing::warn!(
                    attempts = attempt,
                    records = event.records.len(),
                    %error,
                    "invocation failed after every attempt, the records go under the error prefix"
                );
                processed.deliveries = event
                    .records
                    .iter()
                    .map(|r| failed(r, "Lambda.FunctionError", error.clone()))
                    .collect();
                return processed;
            }
        };
        let originals: HashMap<&str, &FirehoseRecord> = event
            .records
            .iter()
            .map(|r| (r.record_id.as_str(), r))
            .collect();
        let reasons: HashMap<&str, String> = transformed
            .failures
            .iter()
            .map(|f| (f.record_id.as_str(), f.error.to_string()))
            .collect();
        let mut answered: HashMap<&str, ()> = HashMap::with_capacity(originals.len());
        for out in &transformed.response.records {
            let Some(original) = originals.get(out.record_id.as_str()) else {
                tracing::warn!(
                    record_id = out.record_id,
                    "the handler answered a record id it was not sent, ignored"
                );
                continue;
            };
            answered.insert(original.record_id.as_str(), ());
            let delivery = match out.result {
                FirehoseResult::Ok => {
                    // Without dynamic partitioning every record shares one buffer (the prefix
                    // has only time namespaces); Firehose ignores the Lambda's keys then. With
                    // it, an Ok record without keys fails, as on AWS (the transform sends them
                    // with `partition_keys`: [`DeliveryConfig::transform_options`]).
                    let keys = if self.dynamic_partitioning {
                        out.metadata.as_ref().map(|m| m.partition_keys.clone())
                    } else {
                        Some(BTreeMap::new())
                    };
                    match (keys, decode_data(&out.data)) {
                        (Some(keys), Ok(data)) => Delivery::Ok {
                            keys,
                            data,
                            arrival_ms: original.approximate_arrival_timestamp.unwrap_or(0),
                        },
                        (None, _) => failed(
                            original,
                            "DynamicPartitioning.MetadataExtractionFailed",
                            "Ok record without metadata.partitionKeys".to_owned(),
                        ),
                        (_, Err(e)) => failed(
                            original,
                            "Lambda.InvalidData",
                            format!("Ok record data is not base64: {e}"),
                        ),
                    }
                }
                FirehoseResult::Dropped => Delivery::Dropped,
                FirehoseResult::ProcessingFailed => failed(
                    original,
                    "Lambda.ProcessingFailed",
                    reasons
                        .get(out.record_id.as_str())
                        .cloned()
                        .unwrap_or_else(|| "marked ProcessingFailed by the Lambda".to_owned()),
                ),
            };
            processed.deliveries.push(delivery);
        }
        // Firehose fails records the response does not mention; so do we.
        for record in &event.records {
            if !answered.contains_key(record.record_id.as_str()) {
                processed.deliveries.push(failed(
                    record,
                    "Lambda.MissingRecordId",
                    "record missing from the response".to_owned(),
                ));
            }
        }
        processed
    }
}
