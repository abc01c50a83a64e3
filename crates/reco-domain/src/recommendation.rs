//! The recommendation record: one NDJSON line per click event, written to S3 by Firehose
//! and read by the front end (`reco recs`).

use chrono::{DateTime, Datelike as _, Timelike as _, Utc};
use serde::{Deserialize, Serialize};

use crate::event::ClickEvent;

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

/// The input event plus recommendations and provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecommendationRecord {
    /// The click event, every field passed through (unknown ones too).
    #[serde(flatten)]
    pub event: ClickEvent,
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

    #[test]
    fn record_flattens_the_event_and_ends_with_a_newline() {
        let event: ClickEvent = serde_json::from_value(serde_json::json!({
            "session_id": "s", "customer_number": 7, "browse_history": [], "extra_field": 1
        }))
        .unwrap();
        let record = RecommendationRecord {
            event,
            recommended_items: vec![ScoredItem {
                id: "S10_1678".into(),
                score: 0.5,
            }],
            similar_items: vec![],
            recommendation_id: "r".into(),
            model_version: "m".into(),
            embedding_version: "e".into(),
            generated_at: "t".into(),
        };
        let line = record.to_ndjson_line();
        assert_eq!(line.last(), Some(&b'\n'));
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(value["customer_number"], 7);
        assert_eq!(value["extra_field"], 1);
        assert_eq!(value["recommended_items"][0]["id"], "S10_1678");
        let back: RecommendationRecord = serde_json::from_slice(&line).unwrap();
        assert_eq!(back, record);
    }
}
