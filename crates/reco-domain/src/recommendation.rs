//! The recommendation record: one NDJSON line per click event, written to S3 by Firehose
//! (the delivered log, a Glue table) and read by the publisher.
//!
//! Contract (DESIGN.md "Recommendation record"): the event's identifiers only (session id,
//! customer number, browsed items, event id and time when the producer set them), the
//! recommended and similar items, and provenance. No personal field of the event (city,
//! country, credit limit) and no field the contract does not name: the record is built from
//! [`RecordEvent`], which has no place for them.

use chrono::{DateTime, Datelike as _, Timelike as _, Utc};
use serde::{Deserialize, Serialize};

use crate::event::{BrowsedItem, ClickEvent};

/// An item and its similarity score (cosine similarity: higher is closer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredItem {
    /// The product code.
    pub id: String,
    /// Similarity score.
    pub score: f32,
}

/// Where a recommendation came from: which model, which embeddings, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// Version of the model whose user tower embedded the customer.
    pub model_version: String,
    /// Version of the item embeddings the k-NN ran against.
    pub embedding_version: String,
    /// When the record was generated (RFC 3339, UTC, milliseconds).
    pub generated_at: String,
}

/// The identifiers of the click event a record answers, and nothing else of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordEvent {
    /// The front end's session identifier.
    pub session_id: String,
    /// The customer.
    pub customer_number: i64,
    /// Items browsed in the session, oldest first (code, quantity, in the cart).
    pub browse_history: Vec<BrowsedItem>,
    /// Producer-assigned event identifier, when the producer set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// Producer-assigned event time (RFC 3339), when the producer set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_time: Option<String>,
}

impl From<ClickEvent> for RecordEvent {
    /// Keeps the identifiers; the city, country and credit limit are dropped here.
    fn from(event: ClickEvent) -> Self {
        let ClickEvent {
            session_id,
            customer_number,
            city: _,
            country: _,
            credit_limit: _,
            browse_history,
            event_id,
            event_time,
        } = event;
        Self {
            session_id,
            customer_number,
            browse_history,
            event_id,
            event_time,
        }
    }
}

/// The event's identifiers plus recommendations and provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecommendationRecord {
    /// The event's identifiers (flattened into the record's top level); build it with
    /// `ClickEvent::into()`.
    #[serde(flatten)]
    pub event: RecordEvent,
    /// Items for the customer, best first; never an item of the browse history.
    pub recommended_items: Vec<ScoredItem>,
    /// Items similar to the session's browsed items, best first; never a browsed item.
    pub similar_items: Vec<ScoredItem>,
    /// Deterministic id: the same event under the same model and embeddings gets the same id,
    /// so a consumer can drop the duplicates Firehose retries may deliver.
    pub recommendation_id: String,
    /// Version of the model whose user tower embedded the customer.
    pub model_version: String,
    /// Version of the item embeddings the k-NN ran against.
    pub embedding_version: String,
    /// When the record was generated (RFC 3339, UTC).
    pub generated_at: String,
}

impl RecommendationRecord {
    /// The record as one NDJSON line (JSON followed by `\n`).
    pub fn to_ndjson_line(&self) -> Vec<u8> {
        // Serialising plain data with string keys cannot fail.
        let mut line = Vec::with_capacity(1024);
        if serde_json::to_writer(&mut line, self).is_err() {
            line.clear();
        }
        line.push(b'\n');
        line
    }
}

/// A UTC calendar time split into fields, for RFC 3339 stamps and Firehose's
/// `!{timestamp:...}` prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcDateTime {
    /// Year.
    pub year: i64,
    /// Month, 1-12.
    pub month: u32,
    /// Day of month, 1-31.
    pub day: u32,
    /// Hour, 0-23.
    pub hour: u32,
    /// Minute, 0-59.
    pub minute: u32,
    /// Second, 0-59.
    pub second: u32,
    /// Millisecond, 0-999.
    pub millis: u32,
}

impl UtcDateTime {
    /// The calendar time of `millis` since the Unix epoch (out-of-range values clamp to the
    /// epoch; chrono covers years -262,143..=262,142).
    pub fn from_unix_millis(millis: i64) -> Self {
        Self::from_chrono(DateTime::from_timestamp_millis(millis).unwrap_or(DateTime::UNIX_EPOCH))
    }

    fn from_chrono(time: DateTime<Utc>) -> Self {
        Self {
            year: i64::from(time.year()),
            month: time.month(),
            day: time.day(),
            hour: time.hour(),
            minute: time.minute(),
            second: time.second(),
            millis: time.timestamp_subsec_millis().min(999),
        }
    }

    /// The current time.
    pub fn now() -> Self {
        Self::from_chrono(Utc::now())
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    pub fn rfc3339(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.millis
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_conversion_matches_known_instants() {
        assert_eq!(
            UtcDateTime::from_unix_millis(0).rfc3339(),
            "1970-01-01T00:00:00.000Z"
        );
        // 2024-02-29T23:59:59.999Z (leap day)
        assert_eq!(
            UtcDateTime::from_unix_millis(1_709_251_199_999).rfc3339(),
            "2024-02-29T23:59:59.999Z"
        );
        assert_eq!(
            UtcDateTime::from_unix_millis(1_763_780_000_000).rfc3339(),
            "2025-11-22T02:53:20.000Z"
        );
    }

    fn record_of(event: serde_json::Value) -> RecommendationRecord {
        let event = ClickEvent::from_json_slice(&serde_json::to_vec(&event).unwrap()).unwrap();
        RecommendationRecord {
            event: event.into(),
            recommended_items: vec![ScoredItem {
                id: "S10_1678".into(),
                score: 0.5,
            }],
            similar_items: vec![ScoredItem {
                id: "S12_1099".into(),
                score: 0.25,
            }],
            recommendation_id: "r".into(),
            model_version: "m".into(),
            embedding_version: "e".into(),
            generated_at: "t".into(),
        }
    }

    fn keys(value: &serde_json::Value) -> Vec<&str> {
        let mut keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        keys
    }

    #[test]
    fn record_carries_no_personal_or_unknown_field_of_the_event() {
        let record = record_of(serde_json::json!({
            "session_id": "s", "customer_number": 7, "city": "Nantes", "country": "France",
            "credit_limit": 21000.0, "email": "jane@example.com", "device": {"ip": "192.0.2.1"},
            "browse_history": [
                {"product_code": "P1", "quantity": 2, "in_shopping_cart": true, "note": "x"}
            ],
            "event_id": "e-1", "event_time": "2026-12-01T10:00:00Z"
        }));
        let line = record.to_ndjson_line();
        assert_eq!(line.last(), Some(&b'\n'));
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(
            keys(&value),
            [
                "browse_history",
                "customer_number",
                "embedding_version",
                "event_id",
                "event_time",
                "generated_at",
                "model_version",
                "recommendation_id",
                "recommended_items",
                "session_id",
                "similar_items",
            ]
        );
        assert_eq!(
            keys(&value["browse_history"][0]),
            ["in_shopping_cart", "product_code", "quantity"]
        );
        let text = String::from_utf8(line.clone()).unwrap();
        for personal in [
            "Nantes",
            "France",
            "21000",
            "jane@example.com",
            "192.0.2.1",
            "note",
        ] {
            assert!(!text.contains(personal), "{personal} leaked into {text}");
        }
        assert_eq!(value["customer_number"], 7);
        assert_eq!(value["event_id"], "e-1");
        assert_eq!(value["recommended_items"][0]["id"], "S10_1678");
        let back: RecommendationRecord = serde_json::from_slice(&line).unwrap();
        assert_eq!(back, record);
    }

    #[test]
    fn record_without_event_id_and_time_leaves_them_out() {
        let record = record_of(serde_json::json!({
            "session_id": "s", "customer_number": 7, "browse_history": []
        }));
        let value: serde_json::Value = serde_json::from_slice(&record.to_ndjson_line()).unwrap();
        assert!(value.get("event_id").is_none() && value.get("event_time").is_none());
    }

    #[test]
    fn records_written_before_the_change_still_read_without_their_personal_fields() {
        let old = br#"{"session_id":"s","customer_number":7,"city":"Lyon","credit_limit":1.0,
            "browse_history":[],"extra_field":1,"recommended_items":[],"similar_items":[],
            "recommendation_id":"r","model_version":"m","embedding_version":"e","generated_at":"t"}"#;
        let record: RecommendationRecord = serde_json::from_slice(old).unwrap();
        assert_eq!(record.event.customer_number, 7);
        let text = String::from_utf8(record.to_ndjson_line()).unwrap();
        assert!(
            !text.contains("Lyon") && !text.contains("extra_field"),
            "{text}"
        );
    }

    /// The delivered log's Glue table (terraform/modules/streaming-inference/glue.tf) has
    /// one column per top-level key of the record, and no column for anything else.
    #[test]
    fn glue_table_columns_are_the_record_keys() {
        let glue = include_str!("../../../terraform/modules/streaming-inference/glue.tf");
        let block = glue
            .split("delivered_log_columns = [")
            .nth(1)
            .and_then(|rest| rest.split("\n  ]").next())
            .expect("delivered_log_columns list in glue.tf");
        let mut columns: Vec<&str> = block
            .lines()
            .filter_map(|line| line.split("name = \"").nth(1))
            .filter_map(|rest| rest.split('"').next())
            .collect();
        columns.sort_unstable();
        let record = record_of(serde_json::json!({
            "session_id": "s", "customer_number": 7, "browse_history": [],
            "event_id": "e", "event_time": "t"
        }));
        let value = serde_json::to_value(&record).unwrap();
        assert_eq!(columns, keys(&value));
        assert!(
            block.contains(
                "array<struct<product_code:string,quantity:int,in_shopping_cart:boolean>>"
            ),
            "browse_history column type must match BrowsedItem"
        );
    }
}
