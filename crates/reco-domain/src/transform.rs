//! The pure per-record transform of the Firehose Lambda, in two steps around one batched
//! k-NN query: [`prepare_batch`] decodes, validates and embeds every record and lists the
//! queries; the caller answers all queries in one round trip, each query on its own (a query
//! the database refuses fails only the records that asked it: [`KnnAnswer`]);
//! [`finish_batch`] builds the recommendation records and the Firehose response. No I/O here.
//!
//! Each `Ok` record's data is its record as one NDJSON line, gzip-compressed on its own (one
//! gzip member, [`RecordEncoder`]) unless [`OutputOptions::record_gzip`] is off: the delivery
//! stream itself does not compress (it would compress twice), and the objects it writes, the
//! concatenation of the members, are valid `.ndjson.gz` files (`MultiGzDecoder`, Athena,
//! `gzip -d` read every member). Compressed, a full 3 MB processor batch of valid events fits
//! Lambda's 6 MB response with every record `Ok` (the unit test
//! `a_full_3_mb_batch_fits_the_response_with_every_record_ok` measures it).

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};

use crate::event::{ClickEvent, EventError};
use crate::experiment::Variant;
use crate::firehose::{
    FirehoseRecord, FirehoseResponse, FirehoseResponseRecord, FirehoseResult, MAX_RESPONSE_BYTES,
    RESPONSE_ENVELOPE_RESERVE_BYTES, decode_data,
};
use crate::recommendation::{Provenance, RecommendationRecord, ScoredItem};

/// Default number of items per list (`RECO_KNN_K`).
pub const DEFAULT_KNN_K: usize = 10;

/// Compression level of a record's gzip member: zlib's default, the level the 3 MB response
/// test (`reco-transform-lambda/tests/response_fits.rs`) measures.
pub const RECORD_GZIP_LEVEL: u32 = 6;

/// How [`finish_batch`] writes the `Ok` records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputOptions {
    /// Items per list.
    pub k: usize,
    /// Each record's data is one gzip member of its NDJSON line (`RECO_RECORD_GZIP`); off, the
    /// line itself.
    pub record_gzip: bool,
    /// `Ok` records carry `metadata.partitionKeys` (the customer number), which only a
    /// delivery stream with dynamic partitioning reads (`RECO_PARTITION_KEYS`).
    pub partition_keys: bool,
}

impl Default for OutputOptions {
    fn default() -> Self {
        Self {
            k: DEFAULT_KNN_K,
            record_gzip: true,
            partition_keys: false,
        }
    }
}

/// Turns a record's NDJSON line into the bytes Firehose delivers for it: the line, or one
/// complete gzip member of it (RFC 1952). The deflate state is reused from record to record.
pub struct RecordEncoder {
    deflate: Option<flate2::Compress>,
}

impl std::fmt::Debug for RecordEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordEncoder")
            .field("gzip", &self.deflate.is_some())
            .finish()
    }
}

/// Gzip member header: magic, deflate, no flags, no mtime, no extra flags, OS unknown.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

impl RecordEncoder {
    /// An encoder that gzips each record (`gzip`) or passes lines through.
    pub fn new(gzip: bool) -> Self {
        Self {
            deflate: gzip
                .then(|| flate2::Compress::new(flate2::Compression::new(RECORD_GZIP_LEVEL), false)),
        }
    }

    /// The delivered bytes of `line`.
    pub fn encode(&mut self, line: &[u8]) -> Vec<u8> {
        let Some(deflate) = self.deflate.as_mut() else {
            return line.to_vec();
        };
        deflate.reset();
        let mut out = Vec::with_capacity(GZIP_HEADER.len() + line.len() / 2 + 64);
        out.extend_from_slice(&GZIP_HEADER);
        loop {
            let consumed = usize::try_from(deflate.total_in()).unwrap_or(line.len());
            let status = deflate.compress_vec(
                &line[consumed.min(line.len())..],
                &mut out,
                flate2::FlushCompress::Finish,
            );
            match status {
                Ok(flate2::Status::StreamEnd) => break,
                // Output full: room for more (deflate of n bytes needs at most n + 5 per
                // 16 KB block plus a few bytes).
                Ok(_) => out.reserve(line.len() + 64),
                // Deflating from memory into memory cannot fail; keep the line readable.
                Err(_) => return line.to_vec(),
            }
        }
        let mut crc = flate2::Crc::new();
        crc.update(line);
        out.extend_from_slice(&crc.sum().to_le_bytes());
        out.extend_from_slice(&(line.len() as u32).to_le_bytes());
        out
    }
}

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

/// Why an `Ok` record's data could not be read back ([`decode_record_data`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordDataError {
    /// The data is not base64.
    #[error("record data is not base64: {reason}")]
    NotBase64 {
        /// The decoder's message.
        reason: String,
    },
    /// The data starts as a gzip member but does not decompress.
    #[error("record data is not a valid gzip member: {reason}")]
    Gzip {
        /// The decoder's message.
        reason: String,
    },
}

/// The NDJSON line an `Ok` response record delivers: its base64 `data`, decompressed when it
/// is a gzip member ([`RecordEncoder`] with gzip), as it is otherwise. The inverse of what
/// [`finish_batch`] writes, for readers of responses (tests, benchmarks).
pub fn decode_record_data(data: &str) -> Result<Vec<u8>, RecordDataError> {
    let bytes = decode_data(data).map_err(|e| RecordDataError::NotBase64 {
        reason: e.to_string(),
    })?;
    if !bytes.starts_with(&GZIP_HEADER[..2]) {
        return Ok(bytes);
    }
    let mut line = Vec::with_capacity(bytes.len() * 3);
    std::io::Read::read_to_end(
        &mut flate2::read::MultiGzDecoder::new(&bytes[..]),
        &mut line,
    )
    .map_err(|e| RecordDataError::Gzip {
        reason: e.to_string(),
    })?;
    Ok(line)
}

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
    /// A valid event the transform does not answer (`rec_impression`: it only records what
    /// was shown; the raw event reaches the data lake from the stream).
    Dropped { record_id: String },
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
/// `SimilarTo` query per event with session items (the browse history, and the event's
/// `item` as the newest when the history does not hold it: [`ClickEvent::session_product_codes`]).
/// Events whose type does not recommend (`rec_impression`) ask nothing and come back
/// `Dropped`.
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
            Ok((event, _)) if !event.event_type.recommends() => {
                prepared.push(Prepared::Dropped {
                    record_id: record.record_id,
                });
            }
            Ok((event, payload)) => {
                let browsed = event.session_product_codes();
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
        self.reembed_where(embedder, |_| true);
    }

    /// Embeds again with `embedder` the events of the customers `selected` picks (the
    /// treatment group of an experiment), keeping the records and the query order.
    pub fn reembed_where(
        &mut self,
        embedder: &impl CustomerEmbedder,
        selected: impl Fn(i64) -> bool,
    ) {
        for record in &self.records {
            if let Prepared::Event {
                event,
                customer_query,
                ..
            } = record
                && selected(event.customer_number)
                && let Some(KnnQuery::ByVector { vector, .. }) =
                    self.queries.get_mut(*customer_query)
            {
                *vector = embedder.embed_customer(event);
            }
        }
    }

    /// The distinct customers whose events ask a customer (`ByVector`) query, among those
    /// `selected` picks, in first-seen order.
    pub fn customers_where(&self, selected: impl Fn(i64) -> bool) -> Vec<i64> {
        let mut seen = HashSet::new();
        self.records
            .iter()
            .filter_map(|record| match record {
                Prepared::Event { event, .. } if selected(event.customer_number) => {
                    Some(event.customer_number)
                }
                _ => None,
            })
            .filter(|&c| seen.insert(c))
            .collect()
    }

    /// Sets the customer query of every event whose customer `stored` holds to that stored
    /// embedding (a known customer's vector from the vector database, in place of the
    /// tower's output for the event's features); the others keep theirs. Returns how many
    /// queries were set.
    pub fn use_stored_vectors(&mut self, stored: &HashMap<i64, Vec<f32>>) -> usize {
        let mut set = 0;
        for record in &self.records {
            if let Prepared::Event {
                event,
                customer_query,
                ..
            } = record
                && let Some(vector) = stored.get(&event.customer_number)
                && let Some(KnnQuery::ByVector { vector: query, .. }) =
                    self.queries.get_mut(*customer_query)
            {
                query.clone_from(vector);
                set += 1;
            }
        }
        set
    }

    /// The customer number of each query's event, in query order (to split the queries of
    /// an experiment's variants).
    pub fn query_customers(&self) -> Vec<i64> {
        let mut customers = vec![0; self.queries.len()];
        for record in &self.records {
            if let Prepared::Event {
                event,
                customer_query,
                similar_query,
                ..
            } = record
            {
                for q in std::iter::once(*customer_query).chain(*similar_query) {
                    if let Some(c) = customers.get_mut(q) {
                        *c = event.customer_number;
                    }
                }
            }
        }
        customers
    }
}

/// What one record is stamped with: the versions that answered it and, while an experiment
/// runs, the experiment and the customer's variant.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordStamp {
    /// The model and embedding versions, and the generation time.
    pub provenance: Provenance,
    /// The running experiment's name.
    pub experiment: Option<String>,
    /// The variant whose versions answered.
    pub variant: Option<Variant>,
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
/// the error prefix), never lost. `output` says how `Ok` records are written (`k`, per-record
/// gzip, partition keys); the size accounting counts their final base64 bytes.
pub fn finish_batch(
    batch: PreparedBatch,
    answers: Vec<KnnAnswer>,
    provenance: &Provenance,
    output: &OutputOptions,
) -> Result<BatchOutcome, AnswerCountMismatch> {
    let stamp = RecordStamp {
        provenance: provenance.clone(),
        experiment: None,
        variant: None,
    };
    finish_batch_stamped(batch, answers, std::slice::from_ref(&stamp), |_| 0, output)
}

/// [`finish_batch`] with a stamp per record: record of customer `c` gets
/// `stamps[stamp_of(c)]` (`stamps` is never empty; an index past its end takes the last; its variant's versions, the experiment and the variant), in one
/// response in the records' order.
pub fn finish_batch_stamped(
    batch: PreparedBatch,
    mut answers: Vec<KnnAnswer>,
    stamps: &[RecordStamp],
    stamp_of: impl Fn(i64) -> usize,
    output: &OutputOptions,
) -> Result<BatchOutcome, AnswerCountMismatch> {
    let k = output.k;
    let mut encoder = RecordEncoder::new(output.record_gzip);
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
            Prepared::Dropped { record_id } => {
                FirehoseResponseRecord::approximate_failed_json_bytes(record_id, "")
            }
        })
        .sum();
    let mut records = Vec::with_capacity(batch.records.len());
    let mut failures = Vec::new();
    let mut ok = 0usize;
    for prepared in batch.records {
        let (out, failure) = match prepared {
            Prepared::Dropped { record_id } => (
                FirehoseResponseRecord {
                    record_id,
                    result: FirehoseResult::Dropped,
                    data: String::new(),
                    metadata: None,
                },
                None,
            ),
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
                        let browsed = event.session_product_codes();
                        let customer_number = event.customer_number;
                        let stamp = &stamps[stamp_of(customer_number).min(stamps.len() - 1)];
                        let provenance = &stamp.provenance;
                        let record = RecommendationRecord {
                            event: (*event).into(),
                            recommended_items: clean_list(recommended, &browsed, k),
                            similar_items: clean_list(similar, &browsed, k),
                            recommendation_id: recommendation_id(&payload_digest, provenance),
                            model_version: provenance.model_version.clone(),
                            embedding_version: provenance.embedding_version.clone(),
                            generated_at: provenance.generated_at.clone(),
                            experiment: stamp.experiment.clone(),
                            variant: stamp.variant,
                        };
                        let payload = encoder.encode(&record.to_ndjson_line());
                        let mut out = FirehoseResponseRecord::ok(record_id.clone(), &payload);
                        if output.partition_keys {
                            out = out.partitioned_by_customer(customer_number);
                        }
                        // The response holds the final bytes: base64 of the (compressed) data.
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
    use crate::firehose::encode_data;

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

    /// The default output (per-record gzip, no partition keys) with lists of `k`.
    fn output(k: usize) -> OutputOptions {
        OutputOptions {
            k,
            ..OutputOptions::default()
        }
    }

    /// The record an `Ok` response record delivers (one gzip member, or a plain line).
    fn delivered(data: &str) -> RecommendationRecord {
        let line = decode_record_data(data).unwrap();
        assert_eq!(line.last(), Some(&b'\n'), "one NDJSON line per record");
        serde_json::from_slice(&line).unwrap()
    }

    #[test]
    fn stamped_records_carry_their_own_variant_and_versions_in_record_order() {
        struct OtherEmbedder;
        impl CustomerEmbedder for OtherEmbedder {
            fn model_version(&self) -> &str {
                "m2"
            }
            fn embed_customer(&self, _: &ClickEvent) -> Vec<f32> {
                vec![-1.0, -1.0]
            }
        }
        let mut batch = prepare_batch(
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
        assert_eq!(batch.query_customers(), vec![5, 5, 6]);
        // Customer 6 is re-embedded by the other model; customer 5 keeps the first one's.
        batch.reembed_where(&OtherEmbedder, |c| c == 6);
        assert!(
            matches!(&batch.queries[0], KnnQuery::ByVector { vector, .. } if vector == &[5.0, 1.0])
        );
        assert!(
            matches!(&batch.queries[2], KnnQuery::ByVector { vector, .. } if vector == &[-1.0, -1.0])
        );
        let stamps = [
            RecordStamp {
                provenance: provenance(),
                experiment: Some("x".into()),
                variant: Some(Variant::Control),
            },
            RecordStamp {
                provenance: Provenance {
                    model_version: "m2".into(),
                    embedding_version: "e2".into(),
                    generated_at: "2026-01-01T00:00:00.000Z".into(),
                },
                experiment: Some("x".into()),
                variant: Some(Variant::Treatment),
            },
        ];
        let answers = vec![
            Ok(vec![item("P2", 0.8)]),
            Ok(vec![item("P4", 0.6)]),
            Ok(vec![item("P9", 0.5)]),
        ];
        let outcome =
            finish_batch_stamped(batch, answers, &stamps, |c| usize::from(c == 6), &output(3))
                .unwrap();
        let records = &outcome.response.records;
        assert_eq!(records[1].result, FirehoseResult::ProcessingFailed);
        let (a, c) = (delivered(&records[0].data), delivered(&records[2].data));
        assert_eq!(
            (
                a.event.customer_number,
                a.model_version.as_str(),
                a.embedding_version.as_str()
            ),
            (5, "m1", "e1")
        );
        assert_eq!(
            (a.experiment.as_deref(), a.variant),
            (Some("x"), Some(Variant::Control))
        );
        assert_eq!(a.recommended_items, vec![item("P2", 0.8)]);
        assert_eq!(
            (
                c.event.customer_number,
                c.model_version.as_str(),
                c.embedding_version.as_str()
            ),
            (6, "m2", "e2")
        );
        assert_eq!(
            (c.experiment.as_deref(), c.variant),
            (Some("x"), Some(Variant::Treatment))
        );
        assert_eq!(c.recommended_items, vec![item("P9", 0.5)]);
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
        let plain_partitioned = OutputOptions {
            k: 2,
            record_gzip: false,
            partition_keys: true,
        };
        let outcome = finish_batch(batch, answers, &provenance(), &plain_partitioned).unwrap();
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
    fn stored_vectors_replace_the_model_s_only_for_the_customers_they_hold() {
        let event = |customer: u32, history: &str| {
            format!(
                r#"{{"session_id":"s","customer_number":{customer},"browse_history":[{history}]}}"#
            )
        };
        let mut batch = prepare_batch(
            vec![
                record("a", &event(7, r#"{"product_code":"P1"}"#)),
                record("b", &event(8, "")),
                record("c", "not json"),
                record("d", &event(7, "")),
                record(
                    "e",
                    r#"{"session_id":"s","customer_number":9,"event_type":"rec_impression","browse_history":[]}"#,
                ),
            ],
            &FixedEmbedder,
        );
        // Customers asking a customer query, once each, in order; impressions ask nothing.
        assert_eq!(batch.customers_where(|_| true), vec![7, 8]);
        assert_eq!(batch.customers_where(|c| c != 7), vec![8]);
        let stored = HashMap::from([(7, vec![0.0, -1.0]), (9, vec![9.0, 9.0])]);
        assert_eq!(
            batch.use_stored_vectors(&stored),
            2,
            "both events of customer 7"
        );
        // Queries: a (0 customer, 1 similar), b (2), d (3).
        assert_eq!(
            batch.queries[0],
            KnnQuery::ByVector {
                vector: vec![0.0, -1.0],
                exclude: vec!["P1".into()]
            }
        );
        assert!(matches!(&batch.queries[1], KnnQuery::SimilarTo { .. }));
        assert_eq!(
            batch.queries[2],
            KnnQuery::ByVector {
                vector: vec![8.0, 1.0],
                exclude: vec![]
            },
            "a customer the store does not hold keeps the model's vector"
        );
        assert!(
            matches!(&batch.queries[3], KnnQuery::ByVector { vector, .. } if vector == &[0.0, -1.0])
        );
        assert_eq!(batch.queries.len(), 4);
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
        let outcome = finish_batch(batch, answers, &provenance(), &output(3)).unwrap();
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
    fn impressions_are_dropped_and_the_item_joins_the_session() {
        let batch = prepare_batch(
            vec![
                record(
                    "imp",
                    r#"{"session_id":"s","customer_number":5,"event_type":"rec_impression","item":"P7","recommendation_id":"r1"}"#,
                ),
                record(
                    "cart",
                    r#"{"session_id":"s","customer_number":6,"event_type":"add_to_cart","item":"P2","browse_history":[{"product_code":"P1"}]}"#,
                ),
                record(
                    "buy",
                    r#"{"session_id":"s","customer_number":7,"event_type":"purchase","item":"P1","browse_history":[{"product_code":"P1"}]}"#,
                ),
                record(
                    "bad",
                    r#"{"session_id":"s","customer_number":8,"event_type":"rec_click","item":"P1"}"#,
                ),
            ],
            &FixedEmbedder,
        );
        assert_eq!(
            batch.queries,
            vec![
                KnnQuery::ByVector {
                    vector: vec![6.0, 1.0],
                    exclude: vec!["P1".into(), "P2".into()]
                },
                KnnQuery::SimilarTo {
                    item_ids: vec!["P1".into(), "P2".into()],
                    exclude: vec!["P1".into(), "P2".into()]
                },
                KnnQuery::ByVector {
                    vector: vec![7.0, 1.0],
                    exclude: vec!["P1".into()]
                },
                KnnQuery::SimilarTo {
                    item_ids: vec!["P1".into()],
                    exclude: vec!["P1".into()]
                },
            ],
            "the impression asks nothing; the cart's item is the newest session item, once"
        );
        let answers = vec![Ok(vec![item("P2", 0.9), item("P3", 0.8)]); 4];
        let outcome = finish_batch(batch, answers, &provenance(), &output(3)).unwrap();
        let results: Vec<_> = outcome.response.records.iter().map(|r| r.result).collect();
        assert_eq!(
            results,
            [
                FirehoseResult::Dropped,
                FirehoseResult::Ok,
                FirehoseResult::Ok,
                FirehoseResult::ProcessingFailed
            ]
        );
        assert_eq!(outcome.ok, 2);
        assert!(
            outcome.failures[0]
                .error
                .to_string()
                .contains("recommendation_id")
        );
        let cart = delivered(&outcome.response.records[1].data);
        assert_eq!(
            cart.recommended_items,
            vec![item("P3", 0.8)],
            "the cart's item is not recommended back"
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
        let err = finish_batch(batch, vec![], &provenance(), &output(3)).unwrap_err();
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
        let outcome = finish_batch(
            batch,
            vec![Ok(vec![]), Ok(vec![])],
            &provenance(),
            &output(3),
        )
        .unwrap();
        let ids: Vec<String> = outcome
            .response
            .records
            .iter()
            .map(|r| delivered(&r.data).recommendation_id)
            .collect();
        assert_eq!(ids[0], ids[1]);
    }

    #[test]
    fn ok_records_are_one_gzip_member_each_without_partition_keys_by_default() {
        let json = |customer: u32| {
            format!(
                r#"{{"session_id":"s{customer}","customer_number":{customer},"browse_history":[{{"product_code":"P1"}}]}}"#
            )
        };
        let batch = prepare_batch(
            vec![record("a", &json(5)), record("b", &json(6))],
            &FixedEmbedder,
        );
        let answers = vec![Ok(vec![item("P2", 0.876_543_2), item("P3", 0.5)]); 4];
        let outcome = finish_batch(batch, answers, &provenance(), &output(10)).unwrap();
        assert_eq!(outcome.ok, 2);
        let mut object = Vec::new();
        for (out, customer) in outcome.response.records.iter().zip([5, 6]) {
            assert_eq!(out.result, FirehoseResult::Ok);
            assert_eq!(out.metadata, None, "no partition keys unless asked");
            let bytes = decode_data(&out.data).unwrap();
            assert_eq!(&bytes[..2], &[0x1f, 0x8b], "a gzip member");
            let rec = delivered(&out.data);
            assert_eq!(rec.event.customer_number, customer);
            assert_eq!(rec.event.browsed_items, ["P1"]);
            assert_eq!(
                rec.recommended_items,
                vec![item("P2", 0.8765), item("P3", 0.5)]
            );
            object.extend_from_slice(&bytes);
        }
        // The delivered object, the members one after the other, is one valid gzip file.
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::MultiGzDecoder::new(&object[..]),
            &mut text,
        )
        .unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.contains(r#""customer_number":5"#) && text.contains(r#""customer_number":6"#));
    }

    #[test]
    fn the_gzip_member_is_what_a_gzip_encoder_decodes_for_any_line_length() {
        let mut encoder = RecordEncoder::new(true);
        for len in [0usize, 1, 100, 5_000, 70_000] {
            let line: Vec<u8> = (0..len)
                .map(|i| b"ab{}\":,0123456789"[i * 7 % 17])
                .collect();
            let member = encoder.encode(&line);
            let mut back = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&member[..]), &mut back)
                .unwrap();
            assert_eq!(back, line, "length {len}");
        }
        assert_eq!(RecordEncoder::new(false).encode(b"{}\n"), b"{}\n");
        assert_eq!(decode_record_data(&encode_data(b"{}\n")).unwrap(), b"{}\n");
        let member = RecordEncoder::new(true).encode(b"{}\n");
        assert_eq!(decode_record_data(&encode_data(&member)).unwrap(), b"{}\n");
        let cut = &member[..member.len() - 4];
        assert!(matches!(
            decode_record_data(&encode_data(cut)),
            Err(RecordDataError::Gzip { .. })
        ));
        assert!(matches!(
            decode_record_data("not base64!"),
            Err(RecordDataError::NotBase64 { .. })
        ));
    }

    #[test]
    fn records_past_the_response_limit_fail_with_their_original_data() {
        // 2,000 small events (a ~1 MB batch) answered with 100 items per list whose ids do not
        // compress: even gzipped, the response would be ~7 MB, so later records must come
        // back failed, untouched. Gzip off, the same holds (~12 MB).
        let json = r#"{"session_id":"s","customer_number":5,"browse_history":[{"product_code":"P0"}],"note":"0123456789012345678901234567890123456789"}"#;
        let records: Vec<_> = (0..2_000).map(|i| record(&format!("r{i}"), json)).collect();
        // splitmix64: 16 hex digits that no compressor shortens.
        let mut state = 0u64;
        let mut random_id = move || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            format!("{:016x}", z ^ (z >> 31))
        };
        let mut list = |_query: usize| -> Vec<ScoredItem> {
            (1..=100u32)
                .map(|i| item(&random_id(), 1.0 / i as f32))
                .collect()
        };
        for record_gzip in [true, false] {
            let batch = prepare_batch(records.clone(), &FixedEmbedder);
            let answers = (0..batch.queries.len()).map(|q| Ok(list(q))).collect();
            let options = OutputOptions {
                k: 100,
                record_gzip,
                partition_keys: false,
            };
            let outcome = finish_batch(batch, answers, &provenance(), &options).unwrap();
            let size = serde_json::to_vec(&outcome.response).unwrap().len();
            assert!(size <= MAX_RESPONSE_BYTES, "gzip {record_gzip}: {size}");
            assert!(
                outcome.ok > 100 && outcome.ok < 2_000,
                "gzip {record_gzip}: {}",
                outcome.ok
            );
            assert_eq!(outcome.ok + outcome.failures.len(), 2_000);
            assert_eq!(outcome.response.records.len(), 2_000);
            let failed = outcome.response.records.last().unwrap();
            assert_eq!(failed.result, FirehoseResult::ProcessingFailed);
            assert_eq!(failed.data, records[1_999].data);
            assert!(
                outcome
                    .failures
                    .iter()
                    .all(|f| matches!(f.error, RecordError::ResponseFull { .. }))
            );
            let ok = outcome
                .response
                .records
                .iter()
                .find(|r| r.result == FirehoseResult::Ok)
                .unwrap();
            assert_eq!(delivered(&ok.data).recommended_items.len(), 100);
        }
    }
}
