//! The latest documents: one JSON object per customer, written newest-wins with conditional
//! puts, so that a batch delivered twice, or an older batch processed after a newer one,
//! never replaces a newer document.
//!
//! A write is a compare-and-set: GET the current document (its ETag and its order), skip when
//! it is as new or newer, else PUT with `If-Match: <etag>` (or `If-None-Match: *` when there is
//! none). A concurrent writer makes the PUT fail with 412 and the write starts over.

use bytes::Bytes;
use object_store::path::Path;
use object_store::{
    Attribute, Attributes, ObjectStoreExt as _, PutMode, PutOptions, UpdateVersion,
};
use reco_aws::{Bucket, StorageError};
use reco_domain::serving::{DocumentError, LatestDocument};

/// Compare-and-set rounds before a write gives up (each lost round means another writer won
/// a newer write in between; ten in a row means something is wrong).
pub const MAX_CAS_ATTEMPTS: u32 = 10;

/// `Cache-Control` of every latest document: a front end (or CloudFront) may reuse it for
/// this long; the stream updates a document within seconds, so a short TTL keeps it fresh.
pub const DOCUMENT_CACHE_CONTROL: &str = "max-age=10";

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The document is now the stored one.
    Written,
    /// The stored document is as new or newer; nothing changed.
    Kept,
}

/// A document could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum DocumentStoreError {
    /// The object store failed.
    #[error(transparent)]
    Store(#[from] StorageError),
    /// The document breaks the contract (too large, unreadable).
    #[error("{key}: {source}")]
    Document {
        /// The object key.
        key: String,
        /// What is wrong.
        #[source]
        source: DocumentError,
    },
    /// Other writers kept winning.
    #[error("{key}: gave up after {attempts} compare-and-set rounds lost to other writers")]
    Contended {
        /// The object key.
        key: String,
        /// Rounds tried.
        attempts: u32,
    },
}

/// The latest documents of one bucket.
#[derive(Debug, Clone)]
pub struct DocumentStore {
    bucket: Bucket,
}

impl DocumentStore {
    /// The documents of `bucket` (the recommendations bucket).
    pub fn new(bucket: Bucket) -> Self {
        Self { bucket }
    }

    /// The bucket the documents live in.
    pub fn bucket(&self) -> &Bucket {
        &self.bucket
    }

    /// The document at `key`, or `None` when there is none.
    pub async fn get(&self, key: &str) -> Result<Option<LatestDocument>, DocumentStoreError> {
        Ok(self.get_versioned(key).await?.map(|(doc, _)| doc))
    }

    async fn get_versioned(
        &self,
        key: &str,
    ) -> Result<Option<(LatestDocument, UpdateVersion)>, DocumentStoreError> {
        let path = Path::from(key);
        let result = match self.bucket.store().get(&path).await {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(source) => return Err(self.store_error("get", key, source)),
        };
        let version = UpdateVersion {
            e_tag: result.meta.e_tag.clone(),
            version: result.meta.version.clone(),
        };
        let bytes = result
            .bytes()
            .await
            .map_err(|source| self.store_error("get", key, source))?;
        let doc = LatestDocument::from_json_slice(&bytes).map_err(|source| {
            DocumentStoreError::Document {
                key: self.display_key(key),
                source,
            }
        })?;
        Ok(Some((doc, version)))
    }

    /// Writes `doc` at its key unless the stored document is as new or newer.
    pub async fn put_if_newer(
        &self,
        doc: &LatestDocument,
    ) -> Result<WriteOutcome, DocumentStoreError> {
        let key = doc.key();
        let body =
            Bytes::from(
                doc.to_json_vec()
                    .map_err(|source| DocumentStoreError::Document {
                        key: self.display_key(&key),
                        source,
                    })?,
            );
        let order = doc.order();
        let path = Path::from(key.as_str());
        for _ in 0..MAX_CAS_ATTEMPTS {
            let mode = match self.get_versioned(&key).await {
                Ok(None) => PutMode::Create,
                Ok(Some((stored, _))) if stored.order() >= order => return Ok(WriteOutcome::Kept),
                Ok(Some((_, version))) => PutMode::Update(version),
                // A stored object that is not a readable document is replaced (newest wins
                // needs an order to compare with; an unreadable one has none).
                Err(DocumentStoreError::Document {
                    source: DocumentError::Malformed { .. },
                    ..
                }) => PutMode::Overwrite,
                Err(e) => return Err(e),
            };
            let mut attributes = Attributes::new();
            attributes.insert(Attribute::ContentType, "application/json".into());
            attributes.insert(Attribute::CacheControl, DOCUMENT_CACHE_CONTROL.into());
            let options = PutOptions {
                mode,
                attributes,
                ..Default::default()
            };
            match self
                .bucket
                .store()
                .put_opts(&path, body.clone().into(), options)
                .await
            {
                Ok(_) => return Ok(WriteOutcome::Written),
                // Another writer got there first: read again and compare with theirs.
                Err(
                    object_store::Error::AlreadyExists { .. }
                    | object_store::Error::Precondition { .. },
                ) => continue,
                Err(source) => return Err(self.store_error("put", &key, source)),
            }
        }
        Err(DocumentStoreError::Contended {
            key: self.display_key(&key),
            attempts: MAX_CAS_ATTEMPTS,
        })
    }

    fn display_key(&self, key: &str) -> String {
        self.bucket.location(key)
    }

    fn store_error(
        &self,
        operation: &'static str,
        key: &str,
        source: object_store::Error,
    ) -> DocumentStoreError {
        storage_error(operation, self.display_key(key), source).into()
    }
}

/// The seam's error for an `object_store` error (one mapping, in `reco_aws`).
pub(crate) fn storage_error(
    operation: &'static str,
    location: String,
    source: object_store::Error,
) -> StorageError {
    StorageError::from_store(operation, location, source)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reco_domain::serving::{DocumentProvenance, DocumentSource, LATEST_DOCUMENT_SCHEMA};

    fn doc(customer: i64, generated_at: &str, id: &str, source: DocumentSource) -> LatestDocument {
        LatestDocument {
            schema_version: LATEST_DOCUMENT_SCHEMA,
            customer_number: Some(customer),
            source,
            recommended: vec![],
            similar_to_session: vec![],
            provenance: DocumentProvenance {
                recommendation_id: id.into(),
                model_version: "m".into(),
                embedding_version: "e".into(),
                generated_at: generated_at.into(),
                experiment: None,
                variant: None,
            },
        }
    }

    #[tokio::test]
    async fn newest_wins_in_either_order_and_replays_change_nothing() {
        let store = DocumentStore::new(Bucket::in_memory("recs"));
        let old = doc(7, "2026-12-02T10:00:00.000Z", "a", DocumentSource::Batch);
        let new = doc(7, "2026-12-02T10:00:05.000Z", "b", DocumentSource::Stream);
        assert_eq!(
            store.put_if_newer(&new).await.unwrap(),
            WriteOutcome::Written
        );
        // Older after newer: kept.
        assert_eq!(store.put_if_newer(&old).await.unwrap(), WriteOutcome::Kept);
        // The same document again (a replayed batch): kept.
        assert_eq!(store.put_if_newer(&new).await.unwrap(), WriteOutcome::Kept);
        assert_eq!(store.get(&new.key()).await.unwrap(), Some(new.clone()));

        let other = DocumentStore::new(Bucket::in_memory("recs"));
        assert_eq!(
            other.put_if_newer(&old).await.unwrap(),
            WriteOutcome::Written
        );
        assert_eq!(
            other.put_if_newer(&new).await.unwrap(),
            WriteOutcome::Written
        );
        assert_eq!(other.get(&new.key()).await.unwrap(), Some(new));
        assert_eq!(other.get("latest/customers/8.json").await.unwrap(), None);
    }

    #[tokio::test]
    async fn concurrent_writers_end_with_the_newest_document() {
        let store = DocumentStore::new(Bucket::in_memory("recs"));
        let docs: Vec<LatestDocument> = (0..40)
            .map(|i| {
                doc(
                    1,
                    &format!("2026-12-02T10:00:{:02}.000Z", i % 60),
                    &format!("r{i:02}"),
                    DocumentSource::Stream,
                )
            })
            .collect();
        let writes = docs.iter().map(|d| {
            let store = store.clone();
            let d = d.clone();
            tokio::spawn(async move { store.put_if_newer(&d).await.unwrap() })
        });
        for w in writes {
            w.await.unwrap();
        }
        let newest = docs.iter().max_by_key(|d| d.order()).unwrap().clone();
        assert_eq!(store.get(&newest.key()).await.unwrap(), Some(newest));
    }

    #[tokio::test]
    async fn an_unreadable_stored_object_is_replaced_and_a_newer_schema_is_reported() {
        let memory = Bucket::in_memory("recs");
        let store = DocumentStore::new(memory.clone());
        let d = doc(3, "2026-12-02T10:00:00.000Z", "a", DocumentSource::Batch);
        memory
            .put(&d.key(), Bytes::from_static(b"garbage"), "application/json")
            .await
            .unwrap();
        assert!(matches!(
            store.get(&d.key()).await,
            Err(DocumentStoreError::Document { .. })
        ));
        assert_eq!(store.put_if_newer(&d).await.unwrap(), WriteOutcome::Written);
        assert_eq!(store.get(&d.key()).await.unwrap(), Some(d));
    }
}
