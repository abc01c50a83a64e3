//! The publisher: one delivered batch object (NDJSON recommendation records, gzip when its
//! key ends in `.gz`) to the latest document of every customer in it.
//!
//! Only the newest record of each customer in the object becomes a document, and each write
//! is newest-wins ([`DocumentStore::put_if_newer`]), so processing an object twice, or an
//! older object after a newer one, leaves the newest documents in place.

use std::collections::HashMap;
use std::io::Read as _;

use futures_util::StreamExt as _;
use reco_domain::recommendation::RecommendationRecord;
use reco_domain::serving::{LatestDocument, ProductCatalogue};

use crate::documents::{DocumentStore, DocumentStoreError, WriteOutcome};

/// Document writes in flight at once (each is a GET and a PUT of a few KB).
pub const PUBLISH_CONCURRENCY: usize = 32;

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
}

impl PublishReport {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &PublishReport) {
        self.records += other.records;
        self.malformed += other.malformed;
        self.customers += other.customers;
        self.written += other.written;
        self.kept += other.kept;
    }
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
    let mut docs: Vec<LatestDocument> = newest
        .values()
        .map(|r| LatestDocument::from_record(r, catalogue))
        .collect();
    docs.sort_by_key(|d| d.customer_number);
    report.customers = docs.len() as u64;
    Ok((docs, report))
}

/// Writes `docs` newest-wins, [`PUBLISH_CONCURRENCY`] at a time; adds the outcomes to `report`.
pub async fn write_documents(
    store: &DocumentStore,
    docs: &[LatestDocument],
    report: &mut PublishReport,
) -> Result<(), PublishError> {
    let mut writes = futures_util::stream::iter(docs.iter().map(|d| store.put_if_newer(d)))
        .buffer_unordered(PUBLISH_CONCURRENCY);
    while let Some(outcome) = writes.next().await {
        match outcome? {
            WriteOutcome::Written => report.written += 1,
            WriteOutcome::Kept => report.kept += 1,
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
    let (docs, mut report) = documents_of_object(key, body, catalogue)?;
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
        let event = serde_json::json!({
            "session_id": format!("s-{id}"), "customer_number": customer, "city": "Lyon",
            "country": "France", "credit_limit": 1.0,
            "browse_history": [{"product_code": "S1", "quantity": 1, "in_shopping_cart": false}]
        });
        let record = RecommendationRecord {
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
        };
        String::from_utf8(record.to_ndjson_line()).unwrap()
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
        assert!(matches!(
            publish_object("k.ndjson.gz", b"plain", &catalogue(), &s).await,
            Err(PublishError::Decompress { .. })
        ));
    }
}
