//! The recommendation record: one NDJSON line per click event, written to S3 by Firehose
//! (the delivered log, a Glue table) and read by the publisher.
//!
//! Contract (DESIGN.md "Recommendation record", version 2): the event's identifiers only
//! (session id, customer number, the browsed product codes, event id and time when the
//! producer set them), the recommended and similar items (`[{"id","score"}]`, scores written
//! with 4 decimals), and provenance. No personal field of the event (city, country, credit
//! limit) and no field the contract does not name: the record is built from [`RecordEvent`],
//! which has no place for them.
//!
//! The record is compact because every one of them travels back in the transform Lambda's
//! response, whose 6 MB limit must hold a whole 3 MB processor batch with every record `Ok`
//! (one record per event, each base64-encoded and, by default, gzip-compressed on its own:
//! [`crate::transform::OutputOptions::record_gzip`]). Version 1 records (`browse_history` of
//! `{product_code, quantity, in_shopping_cart}` objects) still read: their codes become
//! `browsed_items`.

use chrono::{DateTime, Datelike as _, Timelike as _, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::event::ClickEvent;
use crate::experiment::Variant;

/// Decimals a score keeps in a serialised record (cosine similarities differ in the 3rd
/// decimal at most where rank matters; more digits only grow the response).
pub const SCORE_DECIMALS: i32 = 4;

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
    /// Product codes browsed in the session, oldest first, each once. Codes only: the
    /// quantity and the cart flag of the event's `browse_history` are not echoed, so the
    /// record stays small enough for a full 3 MB batch to fit the Lambda's 6 MB response
    /// (the similar items and the exclusions need only the codes). Reads version 1 records'
    /// `browse_history` objects too.
    #[serde(alias = "browse_history", deserialize_with = "browsed_codes")]
    pub browsed_items: Vec<String>,
    /// Producer-assigned event identifier, when the producer set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// Producer-assigned event time (RFC 3339), when the producer set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_time: Option<String>,
}

impl From<ClickEvent> for RecordEvent {
    /// Keeps the identifiers and the browsed codes; the city, country, credit limit and the
    /// browsed items' quantities and cart flags are dropped here.
    fn from(event: ClickEvent) -> Self {
        let browsed_items = event.browsed_product_codes();
        let ClickEvent {
            session_id,
            customer_number,
            city: _,
            country: _,
            credit_limit: _,
            browse_history: _,
            event_id,
            event_time,
            event_type: _,
            item: _,
            recommendation_id: _,
            experiment: _,
            variant: _,
        } = event;
        Self {
            session_id,
            customer_number,
            browsed_items,
            event_id,
            event_time,
        }
    }
}

/// A browsed item as written by either record version: a product code (version 2) or a
/// `{product_code, ...}` object (version 1's `browse_history`).
#[derive(Deserialize)]
#[serde(untagged)]
enum BrowsedCode {
    Code(String),
    Item { product_code: String },
}

fn browsed_codes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let items = Vec::<BrowsedCode>::deserialize(deserializer)?;
    Ok(items
        .into_iter()
        .map(|item| match item {
            BrowsedCode::Code(code) | BrowsedCode::Item { product_code: code } => code,
        })
        .collect())
}

/// `score` rounded to [`SCORE_DECIMALS`] decimals (the nearest `f32`, which serialises with
/// at most that many digits).
pub fn round_score(score: f32) -> f32 {
    let scale = 10f32.powi(SCORE_DECIMALS);
    let rounded = (score * scale).round() / scale;
    if rounded.is_finite() { rounded } else { score }
}

/// Serialises a list as `[{"id","score"}]` with scores rounded by [`round_score`].
fn rounded_items<S: Serializer>(items: &[ScoredItem], serializer: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Rounded<'a> {
        id: &'a str,
        score: f32,
    }
    serializer.collect_seq(items.iter().map(|item| Rounded {
        id: &item.id,
        score: round_score(item.score),
    }))
}

/// The event's identifiers plus recommendations and provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecommendationRecord {
    /// The event's identifiers (flattened into the record's top level); build it with
    /// `ClickEvent::into()`.
    #[serde(flatten)]
    pub event: RecordEvent,
    /// Items for the customer, best first; never an item of the browse history. Scores are
    /// written rounded to [`SCORE_DECIMALS`] decimals.
    #[serde(serialize_with = "rounded_items")]
    pub recommended_items: Vec<ScoredItem>,
    /// Items similar to the session's browsed items, best first; never a browsed item.
    /// Scores are written rounded to [`SCORE_DECIMALS`] decimals.
    #[serde(serialize_with = "rounded_items")]
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
    /// The A/B experiment running when the record was made (absent when none runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<String>,
    /// The customer's variant in [`Self::experiment`]; `model_version` is that variant's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<Variant>,
}

impl RecommendationRecord {
    /// The record as one NDJSON line (JSON followed by `\n`).
    pub fn to_ndjson_line(&self) -> Vec<u8> {
        // Serialising plain data with string keys cannot fail.
        let mut line = Vec::with_capacity(512);
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
            experiment: None,
            variant: None,
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
                {"product_code": "P1", "quantity": 2, "in_shopping_cart": true, "note": "x"},
                {"product_code": " P2 ", "quantity": 7},
                {"product_code": "P1", "quantity": 1}
            ],
            "event_id": "e-1", "event_time": "2026-12-01T10:00:00Z"
        }));
        let line = record.to_ndjson_line();
        assert_eq!(line.last(), Some(&b'\n'));
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(
            keys(&value),
            [
                "browsed_items",
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
        // The browsed codes, trimmed, each once, oldest first; no quantity or cart flag.
        assert_eq!(value["browsed_items"], serde_json::json!(["P1", "P2"]));
        let text = String::from_utf8(line.clone()).unwrap();
        for personal in [
            "Nantes",
            "France",
            "21000",
            "jane@example.com",
            "192.0.2.1",
            "note",
            "quantity",
            "in_shopping_cart",
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
    fn scores_are_written_with_four_decimals_and_lists_keep_their_shape() {
        let mut record = record_of(serde_json::json!({
            "session_id": "s", "customer_number": 7, "browse_history": []
        }));
        record.recommended_items = vec![
            ScoredItem {
                id: "A".into(),
                score: 0.987_654_3,
            },
            ScoredItem {
                id: "B".into(),
                score: -0.123_45,
            },
            ScoredItem {
                id: "C".into(),
                score: 1.0,
            },
        ];
        record.similar_items = vec![ScoredItem {
            id: "D".into(),
            score: 0.333_333_34,
        }];
        let line = record.to_ndjson_line();
        let text = std::str::from_utf8(&line).unwrap();
        assert!(
            text.contains(r#""recommended_items":[{"id":"A","score":0.9877},{"id":"B","score":-0.1235},{"id":"C","score":1.0}]"#)
                && text.contains(r#""similar_items":[{"id":"D","score":0.3333}]"#),
            "{text}"
        );
        let back: RecommendationRecord = serde_json::from_slice(&line).unwrap();
        let scores: Vec<f32> = back.recommended_items.iter().map(|i| i.score).collect();
        assert_eq!(scores, [0.9877, -0.1235, 1.0]);
        assert_eq!(back.similar_items[0].score, 0.3333);
        for (before, after) in record.recommended_items.iter().zip(&back.recommended_items) {
            assert_eq!(before.id, after.id);
            assert!((before.score - after.score).abs() <= 0.000_05 + f32::EPSILON);
        }
    }

    #[test]
    fn record_without_event_id_and_time_leaves_them_out() {
        let record = record_of(serde_json::json!({
            "session_id": "s", "customer_number": 7, "browse_history": []
        }));
        let value: serde_json::Value = serde_json::from_slice(&record.to_ndjson_line()).unwrap();
        assert!(value.get("event_id").is_none() && value.get("event_time").is_none());
        assert_eq!(value["browsed_items"], serde_json::json!([]));
    }

    #[test]
    fn records_written_before_the_change_still_read_without_their_personal_fields() {
        // Version 1: the event's browse history objects, personal and unknown fields.
        let old = br#"{"session_id":"s","customer_number":7,"city":"Lyon","credit_limit":1.0,
            "browse_history":[{"product_code":"S1","quantity":2,"in_shopping_cart":true}],
            "extra_field":1,"recommended_items":[{"id":"P2","score":0.123456}],"similar_items":[],
            "recommendation_id":"r","model_version":"m","embedding_version":"e","generated_at":"t"}"#;
        let record: RecommendationRecord = serde_json::from_slice(old).unwrap();
        assert_eq!(record.event.customer_number, 7);
        assert_eq!(record.event.browsed_items, ["S1"]);
        let text = String::from_utf8(record.to_ndjson_line()).unwrap();
        assert!(
            !text.contains("Lyon") && !text.contains("extra_field"),
            "{text}"
        );
        assert!(
            text.contains(r#""browsed_items":["S1"]"#) && text.contains(r#""score":0.1235"#),
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
        let mut record = record_of(serde_json::json!({
            "session_id": "s", "customer_number": 7, "browse_history": [],
            "event_id": "e", "event_time": "t"
        }));
        record.experiment = Some("towers-v2".into());
        record.variant = Some(Variant::Treatment);
        let value = serde_json::to_value(&record).unwrap();
        assert_eq!(columns, keys(&value));
        assert!(
            block.contains(r#"{ name = "browsed_items", type = "array<string>""#),
            "browsed_items column type must be array<string> (product codes)"
        );
    }
}
