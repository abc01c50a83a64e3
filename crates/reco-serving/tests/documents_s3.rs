//! Newest-wins documents on the S3 emulator: the conditional puts (`If-None-Match: *`,
//! `If-Match: <etag>`) behave there as on S3, in both orders, under replays and with
//! concurrent writers; documents are stored as JSON with a short cache lifetime.

#![cfg(feature = "integration")]

use std::sync::Arc;

use reco_domain::serving::{
    DocumentProvenance, DocumentSource, LATEST_DOCUMENT_SCHEMA, LatestDocument,
};
use reco_serving::documents::{DOCUMENT_CACHE_CONTROL, DocumentStore, WriteOutcome};
use reco_testkit::LocalStack;

fn doc(customer: i64, generated_at: &str, id: &str, source: DocumentSource) -> LatestDocument {
    let catalogue = reco_domain::serving::ProductCatalogue::default();
    LatestDocument {
        schema_version: LATEST_DOCUMENT_SCHEMA,
        customer_number: Some(customer),
        source,
        recommended: vec![catalogue.display_one(&format!("P-{id}"), 0.5)],
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
async fn conditional_writes_keep_the_newest_document_on_the_emulator() {
    let stack = LocalStack::get();
    let bucket = stack.s3_bucket().await;
    let store = DocumentStore::new(stack.bucket(&bucket.name));
    let old = doc(
        11,
        "2026-12-02T04:30:00.000Z",
        "batch-1",
        DocumentSource::Batch,
    );
    let new = doc(
        11,
        "2026-12-02T10:15:00.000Z",
        "stream-1",
        DocumentSource::Stream,
    );

    // Newer first, then the older one and replays of both: the newer stays.
    assert_eq!(
        store.put_if_newer(&new).await.unwrap(),
        WriteOutcome::Written
    );
    assert_eq!(store.put_if_newer(&old).await.unwrap(), WriteOutcome::Kept);
    assert_eq!(store.put_if_newer(&new).await.unwrap(), WriteOutcome::Kept);
    assert_eq!(store.get(&new.key()).await.unwrap(), Some(new.clone()));

    // Older first: replaced by the newer.
    let old12 = doc(
        12,
        "2026-12-02T04:30:00.000Z",
        "batch-2",
        DocumentSource::Batch,
    );
    let new12 = doc(
        12,
        "2026-12-02T10:15:00.000Z",
        "stream-2",
        DocumentSource::Stream,
    );
    assert_eq!(
        store.put_if_newer(&old12).await.unwrap(),
        WriteOutcome::Written
    );
    assert_eq!(
        store.put_if_newer(&new12).await.unwrap(),
        WriteOutcome::Written
    );
    assert_eq!(store.get(&new12.key()).await.unwrap(), Some(new12));

    // Twenty writers racing on one customer: the newest ends up stored.
    let racers: Vec<LatestDocument> = (0..20)
        .map(|i| {
            doc(
                13,
                &format!("2026-12-02T10:00:{:02}.000Z", (i * 7) % 20),
                &format!("r{i:02}"),
                DocumentSource::Stream,
            )
        })
        .collect();
    let store = Arc::new(store);
    let tasks: Vec<_> = racers
        .iter()
        .cloned()
        .map(|d| {
            let store = store.clone();
            tokio::spawn(async move { store.put_if_newer(&d).await.unwrap() })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let newest = racers.iter().max_by_key(|d| d.order()).unwrap();
    assert_eq!(
        store.get(&newest.key()).await.unwrap().as_ref(),
        Some(newest)
    );

    // What a front end receives: JSON with a short cache lifetime.
    let head = bucket
        .client()
        .head_object()
        .bucket(&bucket.name)
        .key(newest.key())
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("application/json"));
    assert_eq!(head.cache_control(), Some(DOCUMENT_CACHE_CONTROL));
}
