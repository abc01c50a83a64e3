//! The pgvector adapter against the local PostgreSQL + pgvector: a small catalogue is read
//! once per embedding version and searched in memory, with the answers of the HNSW path; a
//! new version replaces the copy; a catalogue above the limit is searched by HNSW.

#![cfg(feature = "integration")]

mod support;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reco_domain::recommendation::ScoredItem;
use reco_domain::transform::{KnnAnswer, KnnQuery};
use reco_testkit::LocalStack;
use reco_transform_lambda::pg_index::PgVectorIndex;
use reco_transform_lambda::ports::NeighbourIndex;
use reco_vector_store::{StoreOptions, VectorStore};

const DIM: usize = 8;

fn queries() -> Vec<KnnQuery> {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut queries: Vec<KnnQuery> = (0..20)
        .map(|i| KnnQuery::ByVector {
            vector: (0..DIM).map(|_| rng.random_range(-1.0..1.0)).collect(),
            exclude: vec![format!("S{:04}", i), format!("S{:04}", i + 1)],
        })
        .collect();
    queries.push(KnnQuery::SimilarTo {
        item_ids: vec!["S0003".into(), "S0007".into()],
        exclude: vec!["S0003".into(), "S0007".into(), "S0011".into()],
    });
    queries
}

/// The lists of a batch none of whose queries may be refused.
fn answered(answers: Vec<KnnAnswer>) -> Vec<Vec<ScoredItem>> {
    answers
        .into_iter()
        .enumerate()
        .map(|(q, a)| a.unwrap_or_else(|e| panic!("query {q}: {e}")))
        .collect()
}

#[tokio::test]
async fn small_catalogue_is_searched_in_memory_with_the_index_answers() {
    let db = LocalStack::get().pg_database().await;
    let loader = VectorStore::connect(&db.url, StoreOptions::for_cli())
        .await
        .unwrap();
    let first = support::load(
        &loader,
        "m1",
        &support::catalogue_csv("S", 300, DIM, 1),
        DIM,
    )
    .await;

    // ef_search 400 over 300 items: the HNSW path is exhaustive, so both must agree.
    let mut options = StoreOptions::for_lambda();
    options.ef_search = 400;
    let hnsw = PgVectorIndex::new(
        VectorStore::connect(&db.url, options.clone())
            .await
            .unwrap(),
        0,
    );
    let exact = PgVectorIndex::new(VectorStore::connect(&db.url, options).await.unwrap(), 300);
    let version = exact.active_version().await.unwrap().unwrap();
    assert_eq!(version.embedding_version, first);
    let catalogue = exact
        .exact_catalogue()
        .expect("300 items <= 300: in memory");
    assert_eq!(
        (catalogue.len(), catalogue.embedding_version()),
        (300, first.as_str())
    );
    hnsw.active_version().await.unwrap().unwrap();
    assert!(hnsw.exact_catalogue().is_none(), "limit 0: always HNSW");

    let queries = queries();
    let from_index = answered(hnsw.knn_batch(&version, &queries, 10).await.unwrap());
    let from_memory = answered(exact.knn_batch(&version, &queries, 10).await.unwrap());
    assert_eq!(from_memory.len(), queries.len());
    for (q, (m, i)) in from_memory.iter().zip(&from_index).enumerate() {
        assert_eq!(m.len(), 10, "query {q}");
        let ids = |l: &[ScoredItem]| l.iter().map(|s| s.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(m), ids(i), "query {q}");
        for (a, b) in m.iter().zip(i) {
            assert!((a.score - b.score).abs() < 1e-5, "query {q}");
        }
    }
    let similar = from_memory.last().unwrap();
    assert!(
        similar
            .iter()
            .all(|s| !["S0003", "S0007", "S0011"].contains(&s.id.as_str()))
    );

    // A new, different version: the copy follows it once the version is read again.
    let second = support::load(
        &loader,
        "m2",
        &support::catalogue_csv("S", 200, DIM, 2),
        DIM,
    )
    .await;
    assert_ne!(second, first);
    let version = exact.active_version().await.unwrap().unwrap();
    assert_eq!(version.model_version, "m2");
    let catalogue = exact.exact_catalogue().unwrap();
    assert_eq!(
        (catalogue.len(), catalogue.embedding_version()),
        (200, second.as_str())
    );
    let answers = answered(exact.knn_batch(&version, &queries, 10).await.unwrap());
    assert!(
        answers[0]
            .iter()
            .all(|s| s.id.as_str() < "S0200" && !["S0000", "S0001"].contains(&s.id.as_str()))
    );

    // Above the limit: the copy is dropped and pgvector answers.
    support::load(
        &loader,
        "m3",
        &support::catalogue_csv("S", 301, DIM, 3),
        DIM,
    )
    .await;
    let version = exact.active_version().await.unwrap().unwrap();
    assert!(exact.exact_catalogue().is_none(), "301 items > 300: HNSW");
    let answers = answered(exact.knn_batch(&version, &queries, 10).await.unwrap());
    assert_eq!(answers[0].len(), 10);
}

#[tokio::test]
async fn known_customers_vectors_are_read_once_per_version_and_new_ones_fall_through() {
    let (db, loader) = support::database_with_loader().await;
    // The support loader stores one customer, 1, with an all-ones vector.
    support::load(&loader, "m1", &support::catalogue_csv("S", 50, DIM, 3), DIM).await;
    let index = PgVectorIndex::new(
        VectorStore::connect(&db.url, StoreOptions::for_lambda())
            .await
            .unwrap(),
        1_000,
    );
    let version = index.active_version().await.unwrap().unwrap();
    let asked = [1, 2, 1 << 40];
    let stored = index.customer_vectors(&version, &asked).await.unwrap();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[&1], vec![1.0; DIM]);
    let (stats, held) = index.customer_vector_stats();
    assert_eq!((stats.hits, stats.reads, stats.stored, held), (0, 3, 1, 3));
    // Kept: the same customers again read nothing (the absent ones too).
    assert_eq!(
        index.customer_vectors(&version, &asked).await.unwrap(),
        stored
    );
    let (stats, _) = index.customer_vector_stats();
    assert_eq!((stats.hits, stats.reads), (3, 3));

    // A version whose table is gone: the handler reads the active version again.
    let gone = reco_transform_lambda::ports::IndexVersion {
        embedding_version: "e20000101000000000000".to_owned(),
        ..version
    };
    let error = index.customer_vectors(&gone, &[5]).await.unwrap_err();
    assert!(
        matches!(
            error,
            reco_transform_lambda::ports::IndexError::VersionGone { .. }
        ),
        "{error}"
    );
}
