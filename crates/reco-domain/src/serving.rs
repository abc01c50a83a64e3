//! The serving contract: the latest recommendation document of each customer (one small JSON
//! object at a key computed from the customer number alone, so a front end needs one GET and
//! no LIST), the `popular` fallback document, the product catalogue that gives documents their
//! display fields, and the newest-wins order between two documents of one customer.
//!
//! Pure types and functions: the object store that holds documents lives in `reco-serving`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::experiment::Variant;
use crate::recommendation::{RecommendationRecord, ScoredItem};

/// Layout version of [`LatestDocument`]; a reader refuses documents of a newer version.
pub const LATEST_DOCUMENT_SCHEMA: u32 = 1;

/// Key prefix of every latest document inside the recommendations bucket.
pub const LATEST_PREFIX: &str = "latest/";

/// Key of the fallback document for customers the model does not know.
pub const POPULAR_DOCUMENT_KEY: &str = "latest/popular.json";

/// Largest document the serving side writes: "a few KB at most" keeps one GET cheap and fast
/// (ten items per list with display fields are about 3 KB).
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024;

/// Key of the product catalogue inside the data lake bucket (written by every ETL run).
pub const CATALOGUE_KEY: &str = "catalogue/products.json";

/// Layout version of [`ProductCatalogue`].
pub const CATALOGUE_SCHEMA: u32 = 1;

/// Key of `customer_number`'s latest document: `latest/customers/<number>.json`.
pub fn customer_document_key(customer_number: i64) -> String {
    format!("{LATEST_PREFIX}customers/{customer_number}.json")
}

/// Where a document's recommendations came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocumentSource {
    /// The streaming path: the customer's latest click event, seconds ago.
    Stream,
    /// The daily scoring of every customer with a user embedding (`reco score-all`).
    Batch,
    /// The fallback for customers unknown to the model: the most rated products.
    Popular,
}

impl DocumentSource {
    /// The lowercase name used in JSON and on screen.
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentSource::Stream => "stream",
            DocumentSource::Batch => "batch",
            DocumentSource::Popular => "popular",
        }
    }
}

/// A recommended product with what a storefront card shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentItem {
    /// The product code.
    pub product_code: String,
    /// Product name from the catalogue (`None` when the catalogue does not know the code).
    pub name: Option<String>,
    /// Product line from the catalogue.
    pub product_line: Option<String>,
    /// Price (the catalogue's MSRP) in currency units, two decimals.
    pub price: Option<f64>,
    /// Score of the recommendation (cosine similarity, or a popularity share for `popular`).
    pub score: f32,
}

/// Which model and run produced a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentProvenance {
    /// Id of the recommendation (the delivered record's `recommendation_id` for `stream`).
    pub recommendation_id: String,
    /// Version of the model whose user tower embedded the customer.
    pub model_version: String,
    /// Version of the item embeddings searched.
    pub embedding_version: String,
    /// When the recommendations were computed (RFC 3339 UTC, milliseconds).
    pub generated_at: String,
    /// The A/B experiment that served the customer (absent when none ran; documents written
    /// before experiments existed have neither field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<String>,
    /// The customer's variant in [`Self::experiment`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<Variant>,
}

/// The latest recommendations of one customer (or the `popular` fallback), as a front end
/// reads them. Holds no personal data: no city, country or credit limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatestDocument {
    /// [`LATEST_DOCUMENT_SCHEMA`].
    pub schema_version: u32,
    /// The customer; `None` for the popular document.
    pub customer_number: Option<i64>,
    /// Stream, batch or popular.
    pub source: DocumentSource,
    /// Products for the customer, best first.
    pub recommended: Vec<DocumentItem>,
    /// Products similar to the ones viewed in the customer's latest session, best first
    /// (empty for batch and popular documents).
    pub similar_to_session: Vec<DocumentItem>,
    /// Which model and run.
    pub provenance: DocumentProvenance,
}

/// A document that cannot be read or would break the contract.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DocumentError {
    /// Not JSON of the document's shape.
    #[error("not a latest document: {reason}")]
    Malformed {
        /// The parser's message.
        reason: String,
    },
    /// Written by a newer reco than this one.
    #[error("latest document schema {found} is newer than this reader's {supported}; upgrade reco")]
    NewerSchema {
        /// The document's version.
        found: u32,
        /// The highest version understood here.
        supported: u32,
    },
    /// Larger than [`MAX_DOCUMENT_BYTES`].
    #[error("latest document of {bytes} bytes exceeds {limit} bytes")]
    TooLarge {
        /// Its size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
}

/// The newest-wins order of a document: when it was generated, then its recommendation id
/// (so two documents of the same instant still compare the same way on every writer).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DocumentOrder {
    /// `provenance.generated_at` (RFC 3339 with fixed width sorts as text).
    pub generated_at: String,
    /// `provenance.recommendation_id`.
    pub recommendation_id: String,
}

impl DocumentOrder {
    /// The order as one text value (stored as object metadata so a writer can compare with a
    /// HEAD request instead of a GET).
    pub fn to_tag(&self) -> String {
        format!("{}/{}", self.generated_at, self.recommendation_id)
    }

    /// Parses [`DocumentOrder::to_tag`]'s text.
    pub fn from_tag(tag: &str) -> Option<Self> {
        let (generated_at, recommendation_id) = tag.split_once('/')?;
        Some(Self {
            generated_at: generated_at.to_owned(),
            recommendation_id: recommendation_id.to_owned(),
        })
    }
}

impl LatestDocument {
    /// The document's place in the newest-wins order.
    pub fn order(&self) -> DocumentOrder {
        DocumentOrder {
            generated_at: self.provenance.generated_at.clone(),
            recommendation_id: self.provenance.recommendation_id.clone(),
        }
    }

    /// The key this document is stored at.
    pub fn key(&self) -> String {
        match self.customer_number {
            Some(n) => customer_document_key(n),
            None => POPULAR_DOCUMENT_KEY.to_owned(),
        }
    }

    /// The document as JSON, refused when larger than [`MAX_DOCUMENT_BYTES`].
    pub fn to_json_vec(&self) -> Result<Vec<u8>, DocumentError> {
        let bytes = serde_json::to_vec(self).map_err(|e| DocumentError::Malformed {
            reason: e.to_string(),
        })?;
        if bytes.len() > MAX_DOCUMENT_BYTES {
            return Err(DocumentError::TooLarge {
                bytes: bytes.len(),
                limit: MAX_DOCUMENT_BYTES,
            });
        }
        Ok(bytes)
    }

    /// Parses a stored document, refusing a newer schema.
    pub fn from_json_slice(bytes: &[u8]) -> Result<Self, DocumentError> {
        #[derive(Deserialize)]
        struct Version {
            schema_version: u32,
        }
        let version: Version =
            serde_json::from_slice(bytes).map_err(|e| DocumentError::Malformed {
                reason: e.to_string(),
            })?;
        if version.schema_version > LATEST_DOCUMENT_SCHEMA {
            return Err(DocumentError::NewerSchema {
                found: version.schema_version,
                supported: LATEST_DOCUMENT_SCHEMA,
            });
        }
        serde_json::from_slice(bytes).map_err(|e| DocumentError::Malformed {
            reason: e.to_string(),
        })
    }

    /// The stream document of a delivered recommendation record.
    pub fn from_record(record: &RecommendationRecord, catalogue: &ProductCatalogue) -> Self {
        Self {
            schema_version: LATEST_DOCUMENT_SCHEMA,
            customer_number: Some(record.event.customer_number),
            source: DocumentSource::Stream,
            recommended: catalogue.display(&record.recommended_items),
            similar_to_session: catalogue.display(&record.similar_items),
            provenance: DocumentProvenance {
                recommendation_id: record.recommendation_id.clone(),
                model_version: record.model_version.clone(),
                embedding_version: record.embedding_version.clone(),
                generated_at: record.generated_at.clone(),
                experiment: record.experiment.clone(),
                variant: record.variant,
            },
        }
    }
}

/// What a storefront shows of a product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogueProduct {
    /// `productCode`.
    pub product_code: String,
    /// `productName`.
    pub name: String,
    /// `productLine`.
    pub product_line: String,
    /// `MSRP` in cents.
    pub msrp_cents: i64,
}

/// The product catalogue the documents take display fields from: written by the ETL at
/// [`CATALOGUE_KEY`], read by the publisher and `score-all`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProductCatalogue {
    products: HashMap<String, CatalogueProduct>,
}

#[derive(Serialize, Deserialize)]
struct CatalogueFile {
    schema_version: u32,
    products: Vec<CatalogueProduct>,
}

impl ProductCatalogue {
    /// A catalogue of `products` (a later duplicate code replaces an earlier one).
    pub fn new(products: impl IntoIterator<Item = CatalogueProduct>) -> Self {
        Self {
            products: products
                .into_iter()
                .map(|p| (p.product_code.clone(), p))
                .collect(),
        }
    }

    /// Number of products.
    pub fn len(&self) -> usize {
        self.products.len()
    }

    /// Whether the catalogue is empty.
    pub fn is_empty(&self) -> bool {
        self.products.is_empty()
    }

    /// The product with `code`.
    pub fn get(&self, code: &str) -> Option<&CatalogueProduct> {
        self.products.get(code)
    }

    /// Every product, in no particular order.
    pub fn products(&self) -> impl Iterator<Item = &CatalogueProduct> {
        self.products.values()
    }

    /// The catalogue file's JSON (products sorted by code, so equal catalogues give equal bytes).
    pub fn to_json_vec(&self) -> Vec<u8> {
        let mut products: Vec<CatalogueProduct> = self.products.values().cloned().collect();
        products.sort_by(|a, b| a.product_code.cmp(&b.product_code));
        serde_json::to_vec(&CatalogueFile {
            schema_version: CATALOGUE_SCHEMA,
            products,
        })
        .unwrap_or_default()
    }

    /// Parses a catalogue file, refusing a newer schema.
    pub fn from_json_slice(bytes: &[u8]) -> Result<Self, DocumentError> {
        let file: CatalogueFile =
            serde_json::from_slice(bytes).map_err(|e| DocumentError::Malformed {
                reason: format!("product catalogue: {e}"),
            })?;
        if file.schema_version > CATALOGUE_SCHEMA {
            return Err(DocumentError::NewerSchema {
                found: file.schema_version,
                supported: CATALOGUE_SCHEMA,
            });
        }
        Ok(Self::new(file.products))
    }

    /// Display items for scored product codes, in the same order.
    pub fn display(&self, items: &[ScoredItem]) -> Vec<DocumentItem> {
        items
            .iter()
            .map(|item| self.display_one(&item.id, item.score))
            .collect()
    }

    /// The display item of one product code.
    pub fn display_one(&self, code: &str, score: f32) -> DocumentItem {
        let product = self.products.get(code);
        DocumentItem {
            product_code: code.to_owned(),
            name: product.map(|p| p.name.clone()),
            product_line: product.map(|p| p.product_line.clone()),
            price: product.map(|p| p.msrp_cents as f64 / 100.0),
            score,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ClickEvent;

    fn catalogue() -> ProductCatalogue {
        ProductCatalogue::new([
            CatalogueProduct {
                product_code: "S10_1678".into(),
                name: "1969 Harley Davidson Ultimate Chopper".into(),
                product_line: "Motorcycles".into(),
                msrp_cents: 9570,
            },
            CatalogueProduct {
                product_code: "S10_1949".into(),
                name: "1952 Alpine Renault 1300".into(),
                product_line: "Classic Cars".into(),
                msrp_cents: 21408,
            },
        ])
    }

    fn record(generated_at: &str, id: &str) -> RecommendationRecord {
        let event: ClickEvent = serde_json::from_value(serde_json::json!({
            "session_id": "s", "customer_number": 103, "city": "Nantes", "country": "France",
            "credit_limit": 21000.0,
            "browse_history": [{"product_code": "S10_4757", "quantity": 1, "in_shopping_cart": false}]
        }))
        .unwrap();
        RecommendationRecord {
            event: event.into(),
            recommended_items: vec![
                ScoredItem {
                    id: "S10_1949".into(),
                    score: 0.9,
                },
                ScoredItem {
                    id: "S99_0000".into(),
                    score: 0.5,
                },
            ],
            similar_items: vec![ScoredItem {
                id: "S10_1678".into(),
                score: 0.8,
            }],
            recommendation_id: id.into(),
            model_version: "m1".into(),
            embedding_version: "e1".into(),
            generated_at: generated_at.into(),
            experiment: None,
            variant: None,
        }
    }

    #[test]
    fn stream_document_carries_display_fields_and_no_personal_data() {
        let doc =
            LatestDocument::from_record(&record("2026-12-02T10:00:00.000Z", "r1"), &catalogue());
        assert_eq!(doc.key(), "latest/customers/103.json");
        assert_eq!(doc.source, DocumentSource::Stream);
        assert_eq!(
            doc.recommended[0].name.as_deref(),
            Some("1952 Alpine Renault 1300")
        );
        assert_eq!(doc.recommended[0].price, Some(214.08));
        // A code the catalogue does not know keeps its place, without display fields.
        assert_eq!(doc.recommended[1].product_code, "S99_0000");
        assert_eq!(doc.recommended[1].name, None);
        assert_eq!(
            doc.similar_to_session[0].product_line.as_deref(),
            Some("Motorcycles")
        );
        let bytes = doc.to_json_vec().unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        for personal in ["Nantes", "France", "21000", "city", "credit"] {
            assert!(
                !text.contains(personal),
                "document leaks {personal}: {text}"
            );
        }
        assert_eq!(LatestDocument::from_json_slice(&bytes).unwrap(), doc);
    }

    #[test]
    fn documents_carry_the_experiment_and_variant_and_old_documents_still_parse() {
        let mut record = record("2026-12-02T10:00:00.000Z", "r1");
        let plain = LatestDocument::from_record(&record, &catalogue());
        let text = String::from_utf8(plain.to_json_vec().unwrap()).unwrap();
        assert!(
            !text.contains("experiment") && !text.contains("variant"),
            "{text}"
        );
        record.experiment = Some("towers-v2".into());
        record.variant = Some(Variant::Treatment);
        let doc = LatestDocument::from_record(&record, &catalogue());
        let value: serde_json::Value = serde_json::from_slice(&doc.to_json_vec().unwrap()).unwrap();
        assert_eq!(value["provenance"]["experiment"], "towers-v2");
        assert_eq!(value["provenance"]["variant"], "treatment");
        // A document written before experiments existed.
        let mut old = serde_json::to_value(&plain).unwrap();
        old["provenance"].as_object_mut().unwrap().retain(|k, _| {
            [
                "recommendation_id",
                "model_version",
                "embedding_version",
                "generated_at",
            ]
            .contains(&k.as_str())
        });
        let parsed = LatestDocument::from_json_slice(&serde_json::to_vec(&old).unwrap()).unwrap();
        assert_eq!(parsed, plain);
    }

    #[test]
    fn order_is_generated_at_then_recommendation_id() {
        let c = catalogue();
        let older = LatestDocument::from_record(&record("2026-12-02T10:00:00.000Z", "b"), &c);
        let newer = LatestDocument::from_record(&record("2026-12-02T10:00:00.001Z", "a"), &c);
        let same_instant =
            LatestDocument::from_record(&record("2026-12-02T10:00:00.000Z", "c"), &c);
        assert!(older.order() < newer.order());
        assert!(older.order() < same_instant.order());
        let tag = newer.order().to_tag();
        assert_eq!(DocumentOrder::from_tag(&tag), Some(newer.order()));
        assert_eq!(DocumentOrder::from_tag("no-separator"), None);
    }

    #[test]
    fn newer_schema_and_oversized_documents_are_refused() {
        let err = LatestDocument::from_json_slice(br#"{"schema_version": 99}"#).unwrap_err();
        assert!(matches!(err, DocumentError::NewerSchema { found: 99, .. }));
        assert!(LatestDocument::from_json_slice(b"not json").is_err());
        let mut doc = LatestDocument::from_record(&record("t", "r"), &catalogue());
        doc.recommended = (0..1000)
            .map(|i| catalogue().display_one(&format!("S{i:05}"), 0.1))
            .collect();
        assert!(matches!(
            doc.to_json_vec(),
            Err(DocumentError::TooLarge { .. })
        ));
    }

    #[test]
    fn catalogue_round_trips_and_refuses_a_newer_schema() {
        let c = catalogue();
        let back = ProductCatalogue::from_json_slice(&c.to_json_vec()).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.len(), 2);
        assert!(
            ProductCatalogue::from_json_slice(br#"{"schema_version":2,"products":[]}"#).is_err()
        );
    }
}
