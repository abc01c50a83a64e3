//! The publisher: one delivered batch object (NDJSON recommendation records, gzip when its
//! key ends in `.gz`: one gzip member per record as the transform writes them, or one for the
//! whole object; every member is read) to the latest document of every customer in it.
//!
//! Only the newest record of each customer in the object becomes a document, and each write
//! is newest-wins ([`DocumentStore::put_if_newer`]), so processing an object twice, or an
//! older object after a newer one, leaves the newest documents in place.
//!
//! The report also measures freshness: how long after its event each written document
//! landed ([`freshness_origin`]), the maximum reported as the `FreshnessSeconds` metric.

use std::collections::HashMap;
use std::io::Read as _;

use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;
use reco_aws::emf::{MetricSet, Unit};
use reco_domain::recommendation::RecommendationRecord;
use reco_domain::serving::{LatestDocument, ProductCatalogue};

use crate::documents::{DocumentStore, DocumentStoreError, WriteOutcome};

/// Document writes in flight at once (each is a GET and a PUT of a few KB).
pub const PUBLISH_CONCURRENCY: usize = 32;

/// The `Service` dimension of the publisher's metrics.
pub const METRICS_SERVICE: &str = "publisher";

/// What publishing one object did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublishReport {
    /// Records read.
    pub records: u64,
    /// Lines that are not recommendation records (counted, never fatal: the delivered log
    /// keeps them; the documents of the other customers are still published).
    pub malformed: u64,
    /// Distinct customers in the object.
    pub customers: u64,
    /// Documents written.
    pub written: u64,
    /// Documents kept because the stored one was as new or newer.
    pub kept: u64,
    /// The largest freshness of the documents written, in milliseconds: the time a document
    /// was written minus its record's [`freshness_origin`] (negative when the producer's
    /// clock runs ahead). `None` when nothing was written.
    pub max_freshness_ms: Option<i64>,
}

impl PublishReport {
    /// Adds `other`'s counts to these (and keeps the larger freshness).
    pub fn add(&mut self, other: &PublishReport) {
        self.records += other.records;
        self.malformed += other.malformed;
        self.customers += other.customers;
        self.written += other.written;
        self.kept += other.kept;
        self.max_freshness_ms = self.max_freshness_ms.max(other.max_freshness_ms);
    }

    /// Counts one document written at `written_at` from a record whose freshness counts from
    /// `origin`.
    fn record_written(&mut self, origin: Option<DateTime<Utc>>, written_at: DateTime<Utc>) {
        self.written += 1;
        if let Some(origin) = origin {
            let freshness = freshness_ms(origin, written_at);
            self.max_freshness_ms = Some(
                self.max_freshness_ms
                    .map_or(freshness, |m| m.max(freshness)),
            );
        }
    }

    /// The invocation's metrics (Service `publisher`): documents published and kept, and the
    /// largest freshness when a document was written.
    pub fn metrics(&self) -> MetricSet {
        let mut metrics = MetricSet::new(METRICS_SERVICE);
        metrics
            .count("DocumentsPublished", self.written)
            .count("DocumentsKept", self.kept);
        if let Some(ms) = self.max_freshness_ms {
            metrics.value("FreshnessSeconds", Unit::Seconds, ms as f64 / 1e3);
        }
        metrics
    }
}

/// A customer's newest record of a delivered object, as the document to write and the
/// instant its freshness counts from.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamDocument {
    /// The customer's latest document.
    pub document: LatestDocument,
    /// The record's [`freshness_origin`].
    pub origin: Option<DateTime<Utc>>,
}

/// The instant a record's freshness counts from: its event's `event_time` when the producer
/// set one (RFC 3339), else the time the recommendations were generated (`generated_at`).
/// `None` only when neither parses.
pub fn freshness_origin(record: &RecommendationRecord) -> Option<DateTime<Utc>> {
    let parse = |text: &str| {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    };
    record
        .event
        .event_time
        .as_deref()
        .and_then(parse)
        .or_else(|| parse(&record.generated_at))
}

/// Milliseconds from `origin` to `written_at`.
pub fn freshness_ms(origin: DateTime<Utc>, written_at: DateTime<Utc>) -> i64 {
    (written_at - origin).num_milliseconds()
}

/// Why an object could not be published (the caller retries: every step is idempotent).
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The object is not gzip although its key says so.
    #[error("{key}: not a gzip object: {reason}")]
    Decompress {
        /// The object's key.
        key: String,
        /// The decoder's message.
        reason: String,
    },
    /// A document could not be written.
    #[error(transparent)]
    Store(#[from] DocumentStoreError),
}

/// The newest record of each customer in `body`, as documents (in customer order), and the
/// counts of records and malformed lines.
pub fn documents_of_object(
    key: &str,
    body: &[u8],
    catalogue: &ProductCatalogue,
) -> Result<(Vec<LatestDocument>, PublishReport), PublishError> {
    let (docs, report) = stream_documents_of_object(key, body, catalogue)?;
    Ok((docs.into_iter().map(|d| d.document).collect(), report))
}

/// As [`documents_of_object`], each document with the instant its freshness counts from.
pub fn stream_documents_of_object(
    key: &str,
    body: &[u8],
    catalogue: &ProductCatalogue,
) -> Result<(Vec<StreamDocument>, PublishReport), PublishError> {
    let text;
    let body = if key.ends_with(".gz") {
        let mut decoded = Vec::with_capacity(body.len() * 4);
        flate2::read::MultiGzDecoder::new(body)
            .read_to_end(&mut decoded)
            .map_err(|e| PublishError::Decompress {
                key: key.to_owned(),
                reason: e.to_string(),
            })?;
        text = decoded;
        &text[..]
    } else {
        body
    };
    let mut report = PublishReport::default();
    let mut newest: HashMap<i64, RecommendationRecord> = HashMap::new();
    for (number, line) in body.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        report.records += 1;
        let record: RecommendationRecord = match serde_json::from_slice(line) {
            Ok(r) => r,
            Err(e) => {
                // The line number and the parser's position only: never the line's content.
                tracing::warn!(key, line = number + 1, error = %e, "not a recommendation record");
                report.malformed += 1;
                continue;
            }
        };
        let customer = record.event.customer_number;
        match newest.get(&customer) {
            // Within one instant the later line wins: Firehose writes records in arrival order.
            Some(kept) if kept.generated_at > record.generated_at => {}
            _ => {
                newest.insert(customer, record);
            }
        }
    }
    let mut docs: Vec<StreamDocument> = newest
        .values()
        .map(|r| StreamDocument {
            document: LatestDocument::from_record(r, catalogue),
            origin: freshness_origin(r),
        })
        .collect();
    docs.sort_by_key(|d| d.document.customer_number);
    report.customers = docs.len() as u64;
    Ok((docs, report))
}

/// Writes `docs` newest-wins, [`PUBLISH_CONCURRENCY`] at a time; adds the outcomes (and the
/// freshness of the documents written) to `report`.
pub async fn write_documents(
    store: &DocumentStore,
    docs: &[StreamDocument],
    report: &mut PublishReport,
) -> Result<(), PublishError> {
    let mut writes = futures_util::stream::iter(docs.iter().map(|d| async move {
        let outcome = store.put_if_newer(&d.document).await?;
        Ok::<_, DocumentStoreError>((outcome, d.origin, Utc::now()))
    }))
    .buffer_unordered(PUBLISH_CONCURRENCY);
    while let Some(outcome) = writes.next().await {
        match outcome? {
            (WriteOutcome::Written, origin, written_at) => {
                report.record_written(origin, written_at)
            }
            (WriteOutcome::Kept, ..) => report.kept += 1,
        }
    }
    Ok(())
}

/// Publishes one delivered object: its customers' latest documents, newest wins.
pub async fn publish_object(
    key: &str,
    body: &[u8],
    catalogue: &ProductCatalogue,
    store: &DocumentStore,
) -> Result<PublishReport, PublishError> {
    let (docs, mut report) = stream_documents_of_object(key, body, catalogue)?;
    write_documents(store, &docs, &mut report).await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    use reco_aws::Bucket;
    use reco_domain::recommendation::ScoredItem;
    use reco_domain::serving::{CatalogueProduct, DocumentSource, customer_document_key};

    fn line(customer: i64, generated_at: &str, id: &str, item: &str) -> String {
        String::from_utf8(record(customer, generated_at, None, id, item).to_ndjson_line()).unwrap()
    }

    fn record(
        customer: i64,
        generated_at: &str,
        event_time: Option<&str>,
        id: &str,
        item: &str,
    ) -> RecommendationRecord {
        let mut event = serde_json::json!({
            "session_id": format!("s-{id}"), "customer_number": customer,
            "browsed_items": ["S1"]
        });
        if let Some(t) = event_time {
            event["event_time"] = t.into();
        }
        RecommendationRecord {
            event: serde_json::from_value(event).unwrap(),
            recommended_items: vec![ScoredItem {
                id: item.into(),
                score: 0.5,
            }],
            similar_items: vec![],
            recommendation_id: id.into(),
            model_version: "m".into(),
            embedding_version: "e".into(),
            generated_at: generated_at.into(),
            experiment: None,
            variant: None,
        }
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn catalogue() -> ProductCatalogue {
        ProductCatalogue::new([CatalogueProduct {
            product_code: "P2".into(),
            name: "Two".into(),
            product_line: "Ships".into(),
            msrp_cents: 250,
        }])
    }

    fn store() -> DocumentStore {
        DocumentStore::new(Bucket::in_memory("recs"))
    }

    async fn item_of(store: &DocumentStore, customer: i64) -> String {
        let doc = store
            .get(&customer_document_key(customer))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(doc.source, DocumentSource::Stream);
        doc.recommended[0].product_code.clone()
    }

    #[tokio::test]
    async fn newest_record_per_customer_wins_and_replays_and_old_batches_change_nothing() {
        let t1 = "2026-12-02T10:00:00.000Z";
        let t2 = "2026-12-02T10:01:00.000Z";
        let older = format!("{}{}", line(1, t1, "a", "P1"), line(2, t1, "b", "P1"));
        // Customer 1 twice in one object: the later line of the later batch wins.
        let newer = format!(
            "{}{}{}",
            line(1, t2, "c", "P2"),
            line(1, t2, "d", "P3"),
            "{not json\n"
        );
        let s = store();
        let r = publish_object("x.ndjson", newer.as_bytes(), &catalogue(), &s)
            .await
            .unwrap();
        assert_eq!(
            (r.records, r.malformed, r.customers, r.written),
            (3, 1, 1, 1)
        );
        assert_eq!(item_of(&s, 1).await, "P3");
        // The older batch after the newer one: customer 1 kept, customer 2 new.
        let r = publish_object("y.ndjson", older.as_bytes(), &catalogue(), &s)
            .await
            .unwrap();
        assert_eq!((r.written, r.kept), (1, 1));
        assert_eq!(item_of(&s, 1).await, "P3");
        assert_eq!(item_of(&s, 2).await, "P1");
        // Replays of both: nothing written.
        for (key, body) in [("x.ndjson", &newer), ("y.ndjson", &older)] {
            let r = publish_object(key, body.as_bytes(), &catalogue(), &s)
                .await
                .unwrap();
            assert_eq!(r.written, 0, "replay of {key} wrote");
        }
        // In order from scratch: the same end state.
        let s2 = store();
        for body in [&older, &newer] {
            publish_object("z.ndjson", body.as_bytes(), &catalogue(), &s2)
                .await
                .unwrap();
        }
        assert_eq!(item_of(&s2, 1).await, "P3");
        assert_eq!(item_of(&s2, 2).await, "P1");
        let doc = s2.get(&customer_document_key(1)).await.unwrap().unwrap();
        assert_eq!(doc.provenance.recommendation_id, "d");
    }

    /// Object keys of a stored document, sorted.
    fn keys_of(value: &serde_json::Value) -> Vec<String> {
        let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        keys.sort_unstable();
        keys
    }

    #[tokio::test]
    async fn customer_documents_carry_no_personal_field_even_from_old_records() {
        // A delivered line as written before records lost the event's personal and unknown
        // fields: the publisher reads it, and the document it stores has none of them.
        let old = r#"{"session_id":"s","customer_number":9,"city":"Lyon","country":"France",
            "credit_limit":21000.0,"email":"jane@example.com","browse_history":[{"product_code":"S1","quantity":1,"in_shopping_cart":false}],
            "recommended_items":[{"id":"P2","score":0.5}],"similar_items":[{"id":"P2","score":0.4}],
            "recommendation_id":"r","model_version":"m","embedding_version":"e",
            "generated_at":"2026-12-02T10:00:00.000Z"}"#
            .replace('\n', "");
        let s = store();
        let r = publish_object(
            "old.ndjson",
            format!("{old}\n").as_bytes(),
            &catalogue(),
            &s,
        )
        .await
        .unwrap();
        assert_eq!(r.written, 1);
        let raw = s.bucket().get(&customer_document_key(9)).await.unwrap();
        let text = std::str::from_utf8(&raw).unwrap();
        for personal in [
            "Lyon",
            "France",
            "21000",
            "jane@example.com",
            "city",
            "credit_limit",
        ] {
            assert!(
                !text.contains(personal),
                "{personal} in the document: {text}"
            );
        }
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(
            keys_of(&value),
            [
                "customer_number",
                "provenance",
                "recommended",
                "schema_version",
                "similar_to_session",
                "source",
            ]
        );
        assert_eq!(
            keys_of(&value["recommended"][0]),
            ["name", "price", "product_code", "product_line", "score"]
        );
    }

    #[tokio::test]
    async fn gzip_objects_are_read_and_a_corrupt_one_is_an_error() {
        let body = line(5, "2026-12-02T10:00:00.000Z", "g", "P2");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(body.as_bytes()).unwrap();
        let gz = gz.finish().unwrap();
        let s = store();
        let r = publish_object("k.ndjson.gz", &gz, &catalogue(), &s)
            .await
            .unwrap();
        assert_eq!(r.written, 1);
        let doc = s.get(&customer_document_key(5)).await.unwrap().unwrap();
        assert_eq!(doc.recommended[0].name.as_deref(), Some("Two"));

        // As delivered: one gzip member per record (the transform's per-record gzip), the
        // members one after the other. Every member is read, not only the first.
        let mut encoder = reco_domain::transform::RecordEncoder::new(true);
        let mut object = Vec::new();
        for customer in 10..16 {
            let line = line(customer, "2026-12-02T10:00:00.000Z", "m", "P2");
            object.extend_from_slice(&encoder.encode(line.as_bytes()));
        }
        let r = publish_object("members.ndjson.gz", &object, &catalogue(), &s)
            .await
            .unwrap();
        assert_eq!(
            (r.records, r.malformed, r.customers, r.written),
            (6, 0, 6, 6)
        );
        for customer in 10..16 {
            assert_eq!(item_of(&s, customer).await, "P2");
        }
        // A member cut short is an error, not a silently shorter object.
        assert!(matches!(
            publish_object(
                "cut.ndjson.gz",
                &object[..object.len() - 3],
                &catalogue(),
                &s
            )
            .await,
            Err(PublishError::Decompress { .. })
        ));
        assert!(matches!(
            publish_object("k.ndjson.gz", b"plain", &catalogue(), &s).await,
            Err(PublishError::Decompress { .. })
        ));
    }

    #[test]
    fn freshness_counts_from_the_event_time_else_from_generated_at() {
        let generated = "2026-12-02T10:00:02.500Z";
        let with_event = record(1, generated, Some("2026-12-02T11:00:00+01:00"), "a", "P1");
        assert_eq!(
            freshness_origin(&with_event),
            Some(utc("2026-12-02T10:00:00Z"))
        );
        let without = record(2, generated, None, "b", "P1");
        assert_eq!(freshness_origin(&without), Some(utc(generated)));
        // An event time that is not RFC 3339 does not hide the record's own time.
        let unreadable = record(3, generated, Some("yesterday"), "c", "P1");
        assert_eq!(freshness_origin(&unreadable), Some(utc(generated)));
        let neither = record(4, "soon", None, "d", "P1");
        assert_eq!(freshness_origin(&neither), None);

        let written = utc("2026-12-02T10:00:04Z");
        assert_eq!(
            freshness_ms(freshness_origin(&with_event).unwrap(), written),
            4_000
        );
        assert_eq!(
            freshness_ms(freshness_origin(&without).unwrap(), written),
            1_500
        );
        // A producer clock ahead of ours gives a negative freshness, reported as it is.
        assert_eq!(freshness_ms(utc("2026-12-02T10:00:05Z"), written), -1_000);
    }

    #[tokio::test]
    async fn the_report_carries_the_largest_freshness_of_the_documents_written() {
        // Customer 1's event is recent; customer 2 has no event time and an older
        // generated_at, so its document is the least fresh one.
        let recent = Utc::now() - chrono::TimeDelta::seconds(5);
        let stale = Utc::now() - chrono::TimeDelta::hours(1);
        let at = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let body = [
            record(1, &at(Utc::now()), Some(&at(recent)), "a", "P1"),
            record(2, &at(stale), None, "b", "P1"),
        ]
        .iter()
        .map(|r| String::from_utf8(r.to_ndjson_line()).unwrap())
        .collect::<String>();
        let s = store();
        let before = Utc::now();
        let r = publish_object("f.ndjson", body.as_bytes(), &catalogue(), &s)
            .await
            .unwrap();
        let after = Utc::now();
        let stale = utc(&at(stale));
        let max = r.max_freshness_ms.unwrap();
        assert!(
            freshness_ms(stale, before) <= max && max <= freshness_ms(stale, after),
            "{max}"
        );
        let metrics = r.metrics();
        assert_eq!(metrics.service(), "publisher");
        assert_eq!(metrics.values("DocumentsPublished"), Some(&[2.0][..]));
        assert_eq!(metrics.values("DocumentsKept"), Some(&[0.0][..]));
        assert_eq!(metrics.unit("FreshnessSeconds"), Some(Unit::Seconds));
        assert_eq!(
            metrics.values("FreshnessSeconds"),
            Some(&[max as f64 / 1e3][..])
        );

        // A replay writes nothing: no freshness to report, both documents kept.
        let again = publish_object("f.ndjson", body.as_bytes(), &catalogue(), &s)
            .await
            .unwrap();
        assert_eq!(
            (again.written, again.kept, again.max_freshness_ms),
            (0, 2, None)
        );
        let metrics = again.metrics();
        assert_eq!(metrics.values("DocumentsKept"), Some(&[2.0][..]));
        assert_eq!(metrics.values("FreshnessSeconds"), None);

        // Summing the two invocations keeps the larger freshness.
        let mut total = again;
        total.add(&r);
        assert_eq!(total.max_freshness_ms, Some(max));
        assert_eq!((total.written, total.kept), (2, 2));
    }
}
