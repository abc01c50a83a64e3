//! The function's warm-up read against the local PostgreSQL + pgvector: the active version and,
//! for a small catalogue not held yet, its items in one statement
//! (`VectorStore::active_version_and_catalogue`), equal to the two reads it replaces
//! (`active_version` then `item_catalogue`), across a load that replaces the version.
#![cfg(feature = "integration")]

#[path = "../../reco-vector-loader/tests/support/mod.rs"]
mod support;

use reco_testkit::LocalStack;
use reco_vector_store::{ExactIndex, KnnRequest, VectorStore};
use support::{DIM, items_csv, load, source, store, users_csv, vectors};

/// The 10 nearest items of a few queries, ids and scores, as the catalogue answers them.
fn answers(catalogue: &ExactIndex, queries: &[Vec<f32>]) -> Vec<Vec<(String, f32)>> {
    let requests: Vec<KnnRequest> = queries
        .iter()
        .map(|v| KnnRequest::ByVector {
            vector: v.clone(),
            exclude: vec![],
        })
        .collect();
    catalogue
        .knn_batch(&requests, 10)
        .unwrap()
        .into_iter()
        .map(|list| list.into_iter().map(|s| (s.id, s.score)).collect())
        .collect()
}

/// The catalogue the separate read gives for the active version.
async fn read_separately(store: &VectorStore) -> ExactIndex {
    let active = store.active_version().await.unwrap().unwrap();
    store
        .item_catalogue(&active.embedding_version)
        .await
        .unwrap()
}

#[tokio::test]
async fn one_statement_reads_the_version_and_a_small_catalogue_not_held_yet() {
    let db = LocalStack::get().pg_database().await;
    let store = store(&db, 100).await;
    // Before the first load (no metadata table): no version.
    assert!(
        store
            .active_version_and_catalogue(1000, None)
            .await
            .unwrap()
            .is_none()
    );

    let items = items_csv("P", &vectors(300, 12, 3));
    let users = users_csv(20, 4);
    load(&store, source("m1", &items, &users)).await;
    let queries = vectors(320, 12, 3).split_off(300);

    let (active, catalogue) = store
        .active_version_and_catalogue(1000, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(active, store.active_version().await.unwrap().unwrap());
    let catalogue = catalogue.expect("a 300-item catalogue under the limit of 1,000 is read");
    assert_eq!(catalogue.embedding_version(), active.embedding_version);
    assert_eq!((catalogue.len(), catalogue.dim()), (300, DIM));
    let separate = read_separately(&store).await;
    assert_eq!(answers(&catalogue, &queries), answers(&separate, &queries));

    // Exactly at the limit it is read; one item over, or already held, it is not.
    let (_, at_limit) = store
        .active_version_and_catalogue(300, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(at_limit.map(|c| c.len()), Some(300));
    let (over, none) = store
        .active_version_and_catalogue(299, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        over, active,
        "the version is read whatever the catalogue's size"
    );
    assert!(none.is_none(), "a catalogue over the limit is not read");
    let (_, held) = store
        .active_version_and_catalogue(1000, Some(&active.embedding_version))
        .await
        .unwrap()
        .unwrap();
    assert!(
        held.is_none(),
        "the catalogue already held is not read again"
    );

    // A new load replaces the version: a caller holding the old one gets the new catalogue.
    let items = items_csv("Q", &vectors(250, 10, 5));
    load(&store, source("m2", &items, &users)).await;
    let (next, catalogue) = store
        .active_version_and_catalogue(1000, Some(&active.embedding_version))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.model_version, "m2");
    assert_ne!(next.embedding_version, active.embedding_version);
    let catalogue = catalogue.expect("the new version's catalogue is read");
    assert_eq!(
        (catalogue.embedding_version(), catalogue.len()),
        (next.embedding_version.as_str(), 250)
    );
    let separate = read_separately(&store).await;
    assert_eq!(answers(&catalogue, &queries), answers(&separate, &queries));
}
