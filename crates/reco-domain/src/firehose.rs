//! The Firehose data-transformation contract: the request a processor Lambda receives and
//! the response it returns.
//!
//! These are our own types rather than `aws_lambda_events`' because that crate decodes each
//! record's base64 `data` while deserialising the whole event: one malformed record would
//! fail the entire batch, and the contract says a bad record must never do that. Here `data`
//! stays a string and each record is decoded on its own.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

/// Largest response a synchronously invoked Lambda may return (6 MB, Lambda quotas:
/// "Invocation payload (request and response)": 6 MB = 6,291,456 bytes).
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

/// Head room kept under [`MAX_RESPONSE_BYTES`] for the JSON envelope and the runtime.
pub const RESPONSE_ENVELOPE_RESERVE_BYTES: usize = 64 * 1024;

/// Name of the partition key a dynamically partitioned delivery stream's S3 prefix reads with
/// `!{partitionKeyFromLambda:customer_number}` (sent only when the transform is told the
/// stream partitions dynamically: our Terraform does not).
pub const PARTITION_KEY_CUSTOMER: &str = "customer_number";

/// The outcome of one record, serialised exactly as Firehose expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FirehoseResult {
    /// Transformed; Firehose delivers `data` to the destination.
    Ok,
    /// Intentionally discarded; Firehose counts it and delivers nothing.
    Dropped,
    /// Could not be transformed; Firehose writes the original record under the error prefix.
    ProcessingFailed,
}

/// The event Firehose sends to a processor Lambda.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirehoseEvent {
    /// Firehose's invocation id.
    #[serde(default)]
    pub invocation_id: Option<String>,
    /// ARN of the delivery stream.
    #[serde(default)]
    pub delivery_stream_arn: Option<String>,
    /// ARN of the Kinesis source stream, when the source is Kinesis.
    #[serde(default)]
    pub source_kinesis_stream_arn: Option<String>,
    /// AWS region.
    #[serde(default)]
    pub region: Option<String>,
    /// The records of this batch.
    pub records: Vec<FirehoseRecord>,
}

/// One record of a [`FirehoseEvent`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirehoseRecord {
    /// Firehose's id of the record; the response must carry it back.
    pub record_id: String,
    /// Arrival time in milliseconds since the epoch.
    #[serde(default)]
    pub approximate_arrival_timestamp: Option<i64>,
    /// The record's payload, base64-encoded (decoded per record, see the module doc).
    pub data: String,
    /// Kinesis metadata (shard, sequence number, partition key) when the source is Kinesis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kinesis_record_metadata: Option<serde_json::Value>,
}

/// The processor's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FirehoseResponse {
    /// One entry per request record, same `recordId`s.
    pub records: Vec<FirehoseResponseRecord>,
}

/// One record of a [`FirehoseResponse`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirehoseResponseRecord {
    /// The request record's id.
    pub record_id: String,
    /// The outcome.
    pub result: FirehoseResult,
    /// Transformed payload (base64) for `Ok`; the original payload otherwise.
    pub data: String,
    /// Dynamic-partitioning keys for `Ok` records (only for a stream that partitions
    /// dynamically; every byte of the response counts against Lambda's 6 MB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ResponseMetadata>,
}

/// The `metadata` object of a response record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseMetadata {
    /// Keys read by `!{partitionKeyFromLambda:NAME}` in the S3 prefix.
    pub partition_keys: BTreeMap<String, String>,
}

/// Decodes a record's base64 payload.
pub fn decode_data(data: &str) -> Result<Vec<u8>, base64::DecodeError> {
    BASE64.decode(data.as_bytes())
}

/// Encodes a payload as a record's base64 `data`.
pub fn encode_data(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

impl FirehoseResponseRecord {
    /// An `Ok` record whose delivered bytes are `payload` (base64-encoded here), without
    /// partition keys.
    pub fn ok(record_id: String, payload: &[u8]) -> Self {
        Self {
            record_id,
            result: FirehoseResult::Ok,
            data: encode_data(payload),
            metadata: None,
        }
    }

    /// The record with the [`PARTITION_KEY_CUSTOMER`] partition key (for a delivery stream
    /// with dynamic partitioning).
    pub fn partitioned_by_customer(mut self, customer_number: i64) -> Self {
        let mut partition_keys = BTreeMap::new();
        partition_keys.insert(
            PARTITION_KEY_CUSTOMER.to_owned(),
            customer_number.to_string(),
        );
        self.metadata = Some(ResponseMetadata { partition_keys });
        self
    }

    /// A `ProcessingFailed` record that hands the original data back to Firehose.
    pub fn failed(record_id: String, original_data: String) -> Self {
        Self {
            record_id,
            result: FirehoseResult::ProcessingFailed,
            data: original_data,
            metadata: None,
        }
    }

    /// Upper bound of the serialised size of a `ProcessingFailed` record (no metadata).
    pub fn approximate_failed_json_bytes(record_id: &str, data: &str) -> usize {
        data.len() + record_id.len() + 64
    }

    /// Upper bound of the serialised size in bytes (data, the final base64 text, dominates;
    /// ids and keys are small).
    pub fn approximate_json_bytes(&self) -> usize {
        let keys: usize = self
            .metadata
            .as_ref()
            .map(|m| {
                m.partition_keys
                    .iter()
                    .map(|(k, v)| k.len() + v.len() + 8)
                    .sum::<usize>()
                    + 40
            })
            .unwrap_or(0);
        self.data.len() + self.record_id.len() + keys + 64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_serialise_to_exactly_firehose_strings() {
        for (result, text) in [
            (FirehoseResult::Ok, "\"Ok\""),
            (FirehoseResult::Dropped, "\"Dropped\""),
            (FirehoseResult::ProcessingFailed, "\"ProcessingFailed\""),
        ] {
            assert_eq!(serde_json::to_string(&result).unwrap(), text);
        }
    }

    #[test]
    fn response_uses_firehose_field_names() {
        let response = FirehoseResponse {
            records: vec![
                FirehoseResponseRecord::ok("r1".into(), b"{}\n").partitioned_by_customer(103),
                FirehoseResponseRecord::failed("r2".into(), "!!".into()),
                FirehoseResponseRecord::ok("r3".into(), b"{}\n"),
            ],
        };
        let json = serde_json::to_value(&response).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"records": [
                {"recordId": "r1", "result": "Ok", "data": "e30K",
                 "metadata": {"partitionKeys": {"customer_number": "103"}}},
                {"recordId": "r2", "result": "ProcessingFailed", "data": "!!"},
                {"recordId": "r3", "result": "Ok", "data": "e30K"}
            ]})
        );
        for record in &response.records {
            let size = serde_json::to_vec(record).unwrap().len();
            assert!(record.approximate_json_bytes() >= size, "{record:?}");
            if record.result == FirehoseResult::ProcessingFailed {
                let bound = FirehoseResponseRecord::approximate_failed_json_bytes(
                    &record.record_id,
                    &record.data,
                );
                assert!(bound >= size);
            }
        }
    }

    #[test]
    fn malformed_base64_in_one_record_does_not_fail_deserialising_the_event() {
        let event: FirehoseEvent = serde_json::from_value(serde_json::json!({
            "invocationId": "i", "deliveryStreamArn": "arn", "region": "us-east-1",
            "records": [
                {"recordId": "a", "approximateArrivalTimestamp": 1, "data": "e30="},
                {"recordId": "b", "approximateArrivalTimestamp": 1, "data": "not base64!"}
            ]
        }))
        .unwrap();
        assert_eq!(decode_data(&event.records[0].data).unwrap(), b"{}");
        assert!(decode_data(&event.records[1].data).is_err());
    }
}
