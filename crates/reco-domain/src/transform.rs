//! The pure per-record transform of the Firehose Lambda, in two steps around one batched
//! k-NN query: [`prepare_batch`] decodes, validates and embeds every record and lists the
//! queries; the caller answers all queries in one round trip, each query on its own (a query
//! the database refuses fails only the records that asked it: [`KnnAnswer`]);
//! [`finish_batch`] builds the recommendation records and the Firehose response. No I/O here.

use sha2::{Digest, Sha256};

use crate::event::{ClickEvent, EventError};
use crate::firehose::{
    FirehoseRecord, FirehoseResponse, FirehoseResponseRecord, MAX_RESPONSE_BYTES,
    RESPONSE_ENVELOPE_RESERVE_BYTES, decode_data,
};
use crate::recommendation::{Provenance, RecommendationRecord, ScoredItem};

/// Default number of items per list (`RECO_KNN_K`).
pub const DEFAULT_KNN_K: usize = 10;

/// Largest `RECO_KNN_K` accepted: pgvector's HNSW returns at most `ef_search` rows, whose
/// maximum is 1000 (pgvector `hnsw.ef_search` range).
pub const MAX_KNN_K: usize = 1_000;

/// Embeds a customer from the features an event carries (the trained user tower).
pub trait CustomerEmbedder {
    /// Version of the model.
    fn model_version(&self) -> &str;
    /// The customer's L2-normalised embedding.
    fn embed_customer(&self, event: &ClickEvent) -> Vec<f32>;
}

/// One k-NN question. The vector store answers this type as it is (its `KnnRequest`), so a
/// batch reaches the database or the in-memory search without being copied.
#[derive(Debug, Clone, PartialEq)]
pub enum KnnQuery {
    /// Items nearest to a vector (the customer's embedding).
    ByVector {
        /// The query vector.
        vector: Vec<f32>,
        /// Item ids that must not be returned.
        exclude: Vec<String>,
    },
    /// Items nearest to a set of items (the session's browsed items).
    SimilarTo {
        /// The items of the session.
        item_ids: Vec<String>,
        /// Item ids that must not be returned.
        exclude: Vec<String>,
    },
}

/// Why the vector database refused one query of a batch (the other queries are answered).
/// The reason is the database's or the validator's message and never holds event values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("k-NN query refused: {reason}")]
pub struct QueryRejected {
    /// What was wrong with the query (e.g. "item id 2 contains a NUL byte").
    pub reason: String,
}

/// The answer to one query: the nearest items, or why the query was refused.
pub type KnnAnswer = Result<Vec<ScoredItem>, QueryRejected>;

/// A record after [`prepare_batch`].
#[derive(Debug, Clone)]
enum Prepared {
    Event {
        record_id: String,
        data: String,
        payload_digest: [u8; 32],
        event: Box<ClickEvent>,
        customer_query: usize,
        similar_query: Option<usize>,
    },
    Failed {
        record_id: String,
        data: String,
        error: EventError,
    },
}

/// A batch whose events are parsed and embedded, with the k-NN queries to answer.
#[derive(Debug, Clone)]
pub struct PreparedBatch {
    records: Vec<Prepared>,
    /// The queries, answered in this order by one batched k-NN call.
    pub queries: Vec<KnnQuery>,
}

/// Why a record ended up `ProcessingFailed`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecordError {
    /// The event could not be decoded or validated.
    #[error(transparent)]
    Event(#[from] EventError),
    /// The vector database refused a k-NN query of this record (e.g. a product code it
    /// cannot store); the rest of the batch is answered.
    #[error("{0}; record returned unprocessed")]
    QueryRejected(#[from] QueryRejected),
    /// The response would have passed Lambda's payload limit with this record in it.
    #[error("response would exceed {limit} bytes; record returned unprocessed")]
    ResponseFull {
        /// The response size limit.
        limit: usize,
    },
}

/// A record that failed, with its reason (for the log; the reason never holds event values).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordFailure {
    /// Firehose's record id.
    pub record_id: String,
    /// Why.
    pub error: RecordError,
}

/// The outcome of a batch.
#[derive(Debug, Clone)]
pub struct BatchOutcome {
    /// What the Lambda returns to Firehose.
    pub response: FirehoseResponse,
    /// The records returned as `ProcessingFailed`, with reasons.
    pub failures: Vec<RecordFailure>,
    /// How many records are `Ok`.
    pub ok: usize,
}

/// The answers do not match the queries (a bug in the k-NN adapter, not in the data).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("k-NN returned {answers} answer lists for {queries} queries")]
pub struct AnswerCountMismatch {
    /// Queries asked.
    pub queries: usize,
    /// Answer lists received.
    pub answers: usize,
}

/// Decodes, validates and embeds every record; lists one `ByVector` query per event and one
/// `SimilarTo` query per event with a browse history.
pub fn prepare_batch(
    records: Vec<FirehoseRecord>,
    embedder: &impl CustomerEmbedder,
) -> PreparedBatch {
    let mut prepared = Vec::with_capacity(records.len());
    let mut queries = Vec::with_capacity(records.len() * 2);
    for record in records {
        match decode_event(&record.data) {
            Err(error) => prepared.push(Prepared::Failed {
                record_id: record.record_id,
                data: record.data,
                error,
            }),
            Ok((event, payload)) => {
                let browsed = event.browsed_product_codes();
                let customer_query = queries.len();
                queries.push(KnnQuery::ByVector {
                    vector: embedder.embed_customer(&event),
                    exclude: browsed.clone(),
                });
                let similar_query = (!browsed.is_empty()).then(|| {
                    queries.push(KnnQuery::SimilarTo {
                        item_ids: browsed.clone(),
                        exclude: browsed,
                    });
                    queries.len() - 1
                });
                prepared.push(Prepared::Event {
                    record_id: record.record_id,
                    data: record.data,
                    payload_digest: Sha256::digest(&payload).into(),
                    event: Box::new(event),
                    customer_query,
                    similar_query,
                });
            }
        }
    }
    PreparedBatch {
        records: prepared,
        queries,
    }
}

impl PreparedBatch {
    /// Embeds every event again with `embedder` (another model, after the embeddings changed
    /// under the batch), keeping the records and the query order.
    pub fn reembed(&mut self, embedder: &impl CustomerEmbedder) {
        for record in &self.records {
            if let Prepared::Event {
                event,
                customer_query,
                ..
            } = record
                && let Some(KnnQuery::ByVector { vector, .. }) =
                    self.queries.get_mut(*customer_query)
            {
                *vector = embedder.embed_customer(event);
            }
        }
    }
}

/// Base64-decodes and parses one record's data, returning the event and its raw payload.
pub fn decode_event(data: &str) -> Result<(ClickEvent, Vec<u8>), EventError> {
    // Refuse before decoding: base64 of MAX_EVENT_BYTES is 4/3 as long.
    let limit = crate::event::MAX_EVENT_BYTES.div_ceil(3) * 4;
    if data.len() > limit {
        return Err(EventError::TooLarge {
            bytes: data.len() / 4 * 3,
            limit: crate::event::MAX_EVENT_BYTES,
        });
    }
    let payload = decode_data(data).map_err(|e| EventError::NotBase64 {
        reason: e.to_string(),
    })?;
    let event = ClickEvent::from_json_slice(&payload)?;
    Ok((event, payload))
}

/// Builds the recommendation records and the Firehose response from the k-NN answers.
///
/// Lists are cut to `k` and stripped of browsed items (again: the contract must hold even
/// if a store ignored `exclude`). A record one of whose queries was refused is returned
/// `ProcessingFailed` with [`RecordError::QueryRejected`]; records that would push the
/// response past Lambda's payload limit are returned `ProcessingFailed` too (delivered under
/// the error prefix), never lost.
pub fn finish_batch(
    batch: PreparedBatch,
    mut answers: Vec<KnnAnswer>,
    provenance: &Provenance,
    k: usize,
) -> Result<BatchOutcome, AnswerCountMismatch> {
    if answers.len() != batch.queries.len() {
        return Err(AnswerCountMismatch {
            queries: batch.queries.len(),
            answers: answers.len(),
        });
    }
    let budget = MAX_RESPONSE_BYTES - RESPONSE_ENVELOPE_RESERVE_BYTES;
    // Start from the response that fails every record with its original data (it always
    // fits: Firehose's processor buffer is at most 3 MB), then upgrade records to Ok while
    // the growth fits, so that no record can be left without room.
    let mut used: usize = batch
        .records
        .iter()
        .map(|p| match p {
            Prepared::Event {
                record_id, data, ..
            }
            | Prepared::Failed {
                record_id, data, ..
            } => FirehoseResponseRecord::approximate_failed_json_bytes(record_id, data),
        })
        .sum();
    let mut records = Vec::with_capacity(batch.records.len());
    let mut failures = Vec::new();
    let mut ok = 0usize;
    for prepared in batch.records {
        let (out, failure) = match prepared {
            Prepared::Failed {
                record_id,
                data,
                error,
            } => (
                FirehoseResponseRecord::failed(record_id.clone(), data),
                Some(RecordFailure {
                    record_id,
                    error: error.into(),
                }),
            ),
            Prepared::Event {
                record_id,
                data,
                payload_digest,
                event,
                customer_query,
                similar_query,
            } => {
                let mut take = |q: usize| std::mem::replace(&mut answers[q], Ok(Vec::new()));
                let lists = take(customer_query).and_then(|recommended| {
                    let similar = similar_query.map(&mut take).transpose()?;
                    Ok((recommended, similar.unwrap_or_default()))
                });
                match lists {
                    Err(rejected) => (
                        FirehoseResponseRecord::failed(record_id.clone(), data),
                        Some(RecordFailure {
                            record_id,
                            error: rejected.into(),
                        }),
                    ),
                    Ok((recommended, similar)) => {
                        let browsed = event.browsed_product_codes();
                        let customer_number = event.customer_number;
                        let record = RecommendationRecord {
                            event: (*event).into(),
                            recommended_items: clean_list(recommended, &browsed, k),
                            similar_items: clean_list(similar, &browsed, k),
                            recommendation_id: recommendation_id(&payload_digest, provenance),
                            model_version: provenance.model_version.clone(),
                            embedding_version: provenance.embedding_version.clone(),
                            generated_at: provenance.generated_at.clone(),
                        };
                        let line = record.to_ndjson_line();
                        let out =
                            FirehoseResponseRecord::ok(record_id.clone(), &line, customer_number);
                        let failed_size = FirehoseResponseRecord::approximate_failed_json_bytes(
                            &record_id, &data,
                        );
                        let grown =
                            (used + out.approximate_json_bytes()).saturating_sub(failed_size);
                        if grown <= budget {
                            used = grown;
                            ok += 1;
                            (out, None)
                        } else {
                            (
                                FirehoseResponseRecord::failed(record_id.clone(), data),
                                Some(RecordFailure {
                                    record_id,
                                    error: RecordError::ResponseFull {
                                        limit: MAX_RESPONSE_BYTES,
                                    },
                                }),
                            )
                        }
                    }
                }
            }
        };
        failures.extend(failure);
        records.push(out);
    }
    Ok(BatchOutcome {
        response: FirehoseResponse { records },
        failures,
        ok,
    })
}

/// Drops browsed items and duplicates, keeps the best `k`.
fn clean_list(items: Vec<ScoredItem>, browsed: &[String], k: usize) -> Vec<ScoredItem> {
    let mut kept: Vec<ScoredItem> = Vec::with_capacity(k.min(items.len()));
    for item in items {
        if kept.len() == k {
            break;
        }
        if browsed.contains(&item.id) || kept.iter().any(|i| i.id == item.id) {
            continue;
        }
        kept.push(item);
    }
    kept
}

/// Hex SHA-256 (first 128 bits) of the event's bytes and the model and embedding versions.
fn recommendation_id(payload_digest: &[u8; 32], provenance: &Provenance) -> String {
    let mut hasher = Sha256::new();
    hasher.update(payload_digest);
    hasher.update(provenance.model_version.as_bytes());
    hasher.update([0u8]);
    hasher.update(provenance.embedding_version.as_bytes());
    let digest = hasher.finalize();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(32);
    for b in &digest[..16] {
        id.push(char::from(HEX[usize::from(b >> 4)]));
        id.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    id
}

impl CustomerEmbedder for crate::model::ModelArtifact {
    fn model_version(&self) -> &str {
        crate::model::ModelArtifact::model_version(self)
    }
    fn embed_customer(&self, event: &ClickEvent) -> Vec<f32> {
        crate::model::ModelArtifact::embed_customer(self, &customer_features(event))
    }
}

/// The user tower's input taken from an event (the number too: unknown numbers fall back to
/// the features alone inside the model).
pub fn customer_features(event: &ClickEvent) -> crate::model::CustomerFeatures {
    crate::model::CustomerFeatures {
        customer_number: Some(event.customer_number),
        city: event.city.clone(),
        country: event.country.clone(),
        credit_limit: event.credit_limit,
    }
}

impl<T: CustomerEmbedder + ?Sized> CustomerEmbedder for &T {
    fn model_version(&self) -> &str {
        (**self).model_version()
    }
    fn embed_customer(&self, event: &ClickEvent) -> Vec<f32> {
        (**self).embed_customer(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firehose::{FirehoseResult, encode_data};

    struct FixedEmbedder;
    impl CustomerEmbedder for FixedEmbedder {
        fn model_version(&self) -> &str {
            "m1"
        }
        fn embed_customer(&self, event: &ClickEvent) -> Vec<f32> {
            vec![event.customer_number as f32, 1.0]
        }
    }

    fn record(id: &str, json: &str) -> FirehoseRecord {
        FirehoseRecord {
            record_id: id.into(),
            approximate_arrival_timestamp: Some(0),
            data: encode_data(json.as_bytes()),
            kinesis_record_metadata: None,
        }
    }

    fn provenance() -> Provenance {
        Provenance {
            model_version: "m1".into(),
            embedding_version: "e1".into(),
            generated_at: "2026-01-01T00:00:00.000Z".into(),
        }
    }

    fn item(id: &str, score: f32) -> ScoredItem {
        ScoredItem {
            id: id.into(),
            score,
        }
    }

    #[test]
    fn queries_follow_events_and_lists_never_hold_browsed_items() {
        let batch = prepare_batch(
            vec![
                record(
                    "a",
                    r#"{"session_id":"s","customer_number":5,"browse_history":[{"product_code":"P1"}]}"#,
                ),
                record("b", "not json"),
                record(
                    "c",
                    r#"{"session_id":"s","customer_number":6,"browse_history":[]}"#,
                ),
            ],
            &FixedEmbedder,
        );
        assert_eq!(
            batch.queries,
            vec![
                KnnQuery::ByVector {
                    vector: vec![5.0, 1.0],
                    exclude: vec!["P1".into()]
                },
                KnnQuery::SimilarTo {
                    item_ids: vec!["P1".into()],
                    exclude: vec!["P1".into()]
                },
                KnnQuery::ByVector {
                    vector: vec![6.0, 1.0],
                    exclude: vec![]
                },
            ]
        );
        // A careless store returns a browsed item and a duplicate: both are removed.
        let answers = vec![
            Ok(vec![
                item("P1", 0.9),
                item("P2", 0.8),
                item("P2", 0.8),
                item("P3", 0.7),
            ]),
            Ok(vec![item("P4", 0.6)]),
            Ok(vec![item("P9", 0.5)]),
        ];
        let outcome = finish_batch(batch, answers, &provenance(), 2).unwrap();
        assert_eq!(outcome.ok, 2);
        let results: Vec<_> = outcome
            .response
            .records
            .iter()
            .map(|r| (r.record_id.as_str(), r.result))
            .collect();
        assert_eq!(
            results,
            vec![
                ("a", FirehoseResult::Ok),
                ("b", FirehoseResult::ProcessingFailed),
                ("c", FirehoseResult::Ok)
            ]
        );
        assert_eq!(outcome.failures.len(), 1);
        assert_eq!(outcome.response.records[1].data, encode_data(b"not json"));
        let line = decode_data(&outcome.response.records[0].data).unwrap();
        let rec: RecommendationRecord = serde_json::from_slice(&line).unwrap();
        assert_eq!(
            rec.recommended_items,
            vec![item("P2", 0.8), item("P3", 0.7)]
        );
        assert_eq!(rec.similar_items, vec![item("P4", 0.6)]);
        assert_eq!(rec.model_version, "m1");
        assert_eq!(rec.recommendation_id.len(), 32);
        let keys = &outcome.response.records[2]
            .metadata
            .as_ref()
            .unwrap()
            .partition_keys;
        assert_eq!(keys["customer_number"], "6");
    }

    #[test]
    fn a_refused_query_fails_exactly_the_records_that_asked_it() {
        let event = |customer: u32, code: &str| {
            format!(
                r#"{{"session_id":"s","customer_number":{customer},"browse_history":[{{"product_code":"{code}"}}]}}"#
            )
        };
        let mut batch = prepare_batch(
            vec![
                record("a", &event(1, "P1")),
                record("b", &event(2, "BAD")),
                record("c", &event(3, "P3")),
            ],
            &FixedEmbedder,
        );
        // Queries: a (0, 1), b (2, 3), c (4, 5); b's similar-items query is refused.
        assert_eq!(batch.queries.len(), 6);
        struct Doubled;
        impl CustomerEmbedder for Doubled {
            fn model_version(&self) -> &str {
                "m2"
            }
            fn embed_customer(&self, event: &ClickEvent) -> Vec<f32> {
                vec![event.customer_number as f32 * 2.0, 1.0]
            }
        }
        batch.reembed(&Doubled);
        assert_eq!(
            batch.queries[2],
            KnnQuery::ByVector {
                vector: vec![4.0, 1.0],
                exclude: vec!["BAD".into()]
            },
            "re-embedding keeps the query order and the exclusions"
        );
        let rejected = QueryRejected {
            reason: "item id 0 contains a NUL byte".into(),
        };
        let mut answers: Vec<KnnAnswer> = vec![Ok(vec![item("P9", 0.5)]); 6];
        answers[3] = Err(rejected.clone());
        let outcome = finish_batch(batch, answers, &provenance(), 3).unwrap();
        let results: Vec<_> = outcome.response.records.iter().map(|r| r.result).collect();
        assert_eq!(
            results,
            [
                FirehoseResult::Ok,
                FirehoseResult::ProcessingFailed,
                FirehoseResult::Ok
            ]
        );
        assert_eq!(outcome.ok, 2);
        assert_eq!(
            outcome.failures,
            vec![RecordFailure {
                record_id: "b".into(),
                error: RecordError::QueryRejected(rejected),
            }]
        );
        assert!(
            outcome.failures[0]
                .error
                .to_string()
                .contains("NUL byte; record returned unprocessed")
        );
        assert_eq!(
            outcome.response.records[1].data,
            encode_data(event(2, "BAD").as_bytes()),
            "the refused record carries its original data to the error prefix"
        );
    }

    #[test]
    fn answer_count_mismatch_is_an_error() {
        let batch = prepare_batch(
            vec![record(
                "a",
                r#"{"session_id":"s","customer_number":5,"browse_history":[]}"#,
            )],
            &FixedEmbedder,
        );
        let err = finish_batch(batch, vec![], &provenance(), 3).unwrap_err();
        assert_eq!(
            err,
            AnswerCountMismatch {
                queries: 1,
                answers: 0
            }
        );
    }

    #[test]
    fn same_event_and_model_give_the_same_recommendation_id() {
        let json = r#"{"session_id":"s","customer_number":5,"browse_history":[],"event_id":"dup"}"#;
        let batch = prepare_batch(vec![record("a", json), record("b", json)], &FixedEmbedder);
        let outcome = finish_batch(batch, vec![Ok(vec![]), Ok(vec![])], &provenance(), 3).unwrap();
        let ids: Vec<String> = outcome
            .response
            .records
            .iter()
            .map(|r| {
                let rec: RecommendationRecord =
                    serde_json::from_slice(&decode_data(&r.data).unwrap()).unwrap();
                rec.recommendation_id
            })
            .collect();
        assert_eq!(ids[0], ids[1]);
    }

    #[test]
    fn records_past_the_response_limit_fail_with_their_original_data() {
        // 2,000 small events (a ~1 MB batch) answered with 100 items per list: the response
        // would be ~10 MB, so later records must come back failed, untouched.
        let json = r#"{"session_id":"s","customer_number":5,"browse_history":[{"product_code":"P0"}],"note":"0123456789012345678901234567890123456789"}"#;
        let records: Vec<_> = (0..2_000).map(|i| record(&format!("r{i}"), json)).collect();
        let batch = prepare_batch(records.clone(), &FixedEmbedder);
        let list: Vec<ScoredItem> = (1..=100)
            .map(|i| item(&format!("S700_{i:04}"), 0.5))
            .collect();
        let answers = vec![Ok(list); batch.queries.len()];
        let outcome = finish_batch(batch, answers, &provenance(), 100).unwrap();
        let size = serde_json::to_vec(&outcome.response).unwrap().len();
        assert!(size < MAX_RESPONSE_BYTES, "{size}");
        assert!(outcome.ok > 100 && outcome.ok < 2_000, "{}", outcome.ok);
        assert_eq!(outcome.ok + outcome.failures.len(), 2_000);
        assert_eq!(outcome.response.records.len(), 2_000);
        let failed = outcome.response.records.last().unwrap();
        assert_eq!(failed.result, FirehoseResult::ProcessingFailed);
        assert_eq!(failed.data, records[1_999].data);
        assert!(matches!(
            outcome.failures[0].error,
            RecordError::ResponseFull { .. }
        ));
    }
}
