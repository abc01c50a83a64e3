//! Fault injection on the handler against the local PostgreSQL + pgvector: a product code
//! PostgreSQL cannot take fails only its record (HNSW path and in-memory path alike), and a
//! new embeddings version loaded between two invocations (between the version read and the
//! query) leaves every record stamped with the version whose vectors produced it.

#![cfg(feature = "integration")]

mod support;

use reco_domain::firehose::FirehoseResult;
use reco_domain::recommendation::RecommendationRecord;
use reco_domain::transform::{KnnQuery, RecordError, decode_record_data};
use reco_testkit::fakes::InMemoryModels;
use reco_transform_lambda::pg_index::PgVectorIndex;
use reco_transform_lambda::ports::{IndexError, NeighbourIndex};
use reco_transform_lambda::{TransformOptions, Transformed, Transformer, handle_invocation};
use support::{SeededTower, catalogue_csv, invocation};

const DIM: usize = 8;
const K: usize = 5;

type PgTransformer<'m> = Transformer<PgVectorIndex, &'m InMemoryModels<SeededTower>>;

/// A user tower per model version: a fixed direction per customer number (the same for
/// every version).
fn tower(model_version: &'static str) -> SeededTower {
    SeededTower {
        model_version,
        salt: 0,
        dim: DIM,
    }
}

fn models() -> InMemoryModels<SeededTower> {
    InMemoryModels::new([(tower("m1"), DIM), (tower("m2"), DIM), (tower("m3"), DIM)])
}

/// A transformer over the database at `url`: HNSW always (`exact_max_items` 0) or the
/// in-memory search of catalogues up to `exact_max_items` items; k-NN caches as by default.
async fn transformer<'m>(
    url: &str,
    models: &'m InMemoryModels<SeededTower>,
    exact_max_items: usize,
) -> PgTransformer<'m> {
    transformer_with_cache(
        url,
        models,
        exact_max_items,
        TransformOptions::default().knn_cache_items,
    )
    .await
}

/// [`transformer`] with k-NN caches of `knn_cache_items` item vectors (0: off).
async fn transformer_with_cache<'m>(
    url: &str,
    models: &'m InMemoryModels<SeededTower>,
    exact_max_items: usize,
    knn_cache_items: usize,
) -> PgTransformer<'m> {
    let options = TransformOptions {
        knn_k: K,
        exact_knn_max_items: exact_max_items,
        knn_cache_items,
        ..TransformOptions::default()
    };
    support::pg_transformer(url, models, &options).await
}

fn event(customer: u32, codes: &[&str]) -> Vec<u8> {
    let history: Vec<serde_json::Value> = codes
        .iter()
        .map(|code| serde_json::json!({"product_code": code, "quantity": 1, "in_shopping_cart": false}))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "session_id": format!("s-{customer}"),
        "customer_number": customer,
        "browse_history": history,
    }))
    .unwrap()
}

fn records(transformed: &Transformed) -> Vec<RecommendationRecord> {
    transformed
        .response
        .records
        .iter()
        .filter(|r| r.result == FirehoseResult::Ok)
        .map(|r| serde_json::from_slice(&decode_record_data(&r.data).unwrap()).unwrap())
        .collect()
}

/// Twenty good events and, at position 7, one whose product code holds a NUL byte.
fn batch_with_a_nul_code() -> Vec<Vec<u8>> {
    (0..21u32)
        .map(|i| {
            if i == 7 {
                event(1000 + i, &["A0001", "A\0BAD"])
            } else {
                event(1000 + i, &[&format!("A{:04}", i % 50)])
            }
        })
        .collect()
}

#[tokio::test]
async fn a_nul_product_code_fails_only_its_record_on_the_hnsw_and_the_in_memory_path() {
    let (db, loader) = support::database_with_loader().await;
    let version = support::load(&loader, "m1", &catalogue_csv("A", 300, DIM, 1), DIM).await;
    let models = models();
    for exact_max_items in [0, 1_000] {
        let transformer = transformer(&db.url, &models, exact_max_items).await;
        let transformed = handle_invocation(invocation(&batch_with_a_nul_code()), &transformer)
            .await
            .unwrap_or_else(|e| panic!("exact_max_items {exact_max_items}: {e}"));
        assert_eq!(
            transformer.index().exact_catalogue().is_some(),
            exact_max_items > 0
        );
        let results: Vec<FirehoseResult> = transformed
            .response
            .records
            .iter()
            .map(|r| r.result)
            .collect();
        let mut expected = vec![FirehoseResult::Ok; 21];
        expected[7] = FirehoseResult::ProcessingFailed;
        assert_eq!(results, expected, "exact_max_items {exact_max_items}");
        assert_eq!(
            (transformed.counts.ok, transformed.counts.query_rejected),
            (20, 1)
        );
        assert_eq!(transformed.failures.len(), 1);
        assert_eq!(transformed.failures[0].record_id, "r7");
        let RecordError::QueryRejected(rejected) = &transformed.failures[0].error else {
            panic!("{:?}", transformed.failures[0].error);
        };
        assert!(rejected.reason.contains("NUL byte"), "{rejected}");
        for record in records(&transformed) {
            assert_eq!(record.recommended_items.len(), K);
            assert_eq!(record.embedding_version, version);
        }
    }

    // Unchecked, the NUL reaches PostgreSQL, which refuses the whole statement (22021): the
    // batch is split until that query stands alone; every other query is answered.
    let index = transformer(&db.url, &models, 0).await;
    let queries: Vec<KnnQuery> = (0..40)
        .map(|i| KnnQuery::SimilarTo {
            item_ids: vec![if i == 29 {
                "A\0BAD".to_owned()
            } else {
                format!("A{i:04}")
            }],
            exclude: vec![],
        })
        .collect();
    let isolated = index
        .index()
        .knn_in_version(&version, &queries, K)
        .await
        .unwrap();
    assert!(isolated.round_trips > 1, "{}", isolated.round_trips);
    for (i, answer) in isolated.answers.iter().enumerate() {
        match answer {
            Err(rejected) => {
                assert_eq!(i, 29);
                assert!(rejected.reason.contains("0x00"), "{rejected}");
            }
            Ok(items) => assert_eq!(items.len(), K, "query {i}"),
        }
    }
    assert_eq!(isolated.answers.iter().filter(|a| a.is_err()).count(), 1);
}

#[tokio::test]
async fn every_record_is_stamped_with_the_version_whose_vectors_produced_it() {
    let (db, loader) = support::database_with_loader().await;
    // Each version has its own item ids, so a list tells which version's vectors made it.
    let first = support::load(&loader, "m1", &catalogue_csv("A", 300, DIM, 1), DIM).await;
    let models = models();
    let hnsw = transformer(&db.url, &models, 0).await;
    let uncached = transformer_with_cache(&db.url, &models, 0, 0).await;
    let exact = transformer(&db.url, &models, 1_000).await;
    let batch: Vec<Vec<u8>> = (0..10u32)
        .map(|i| event(2000 + i, &[&format!("A{i:04}")]))
        .collect();
    let check = |transformed: &Transformed, model: &str, version: &str, prefix: char| {
        assert_eq!(transformed.counts.ok, 10, "{:?}", transformed.failures);
        for record in records(transformed) {
            assert_eq!(
                (
                    record.model_version.as_str(),
                    record.embedding_version.as_str()
                ),
                (model, version)
            );
            assert_eq!(record.recommended_items.len(), K);
            for item in record.recommended_items.iter().chain(&record.similar_items) {
                assert!(item.id.starts_with(prefix), "{} from {version}", item.id);
            }
        }
    };
    for transformer in [&hnsw, &uncached, &exact] {
        let transformed = handle_invocation(invocation(&batch), transformer)
            .await
            .unwrap();
        check(&transformed, "m1", &first, 'A');
    }

    // A new version is loaded between two invocations: both transformers hold the first
    // version (read less than the re-check interval ago) when the second invocation queries.
    let second = support::load(&loader, "m2", &catalogue_csv("B", 300, DIM, 2), DIM).await;
    let transformed = handle_invocation(invocation(&batch), &uncached)
        .await
        .unwrap();
    // HNSW: the first version's table is gone, so the batch is redone with the second
    // version's model and items, and stamped with them.
    assert_eq!(transformed.database.version_redos, 1);
    check(&transformed, "m2", &second, 'B');
    // HNSW with the k-NN caches: the same batch again is answered from the lists cached from
    // the first version's table (no query reaches the database), and stamped with it.
    let transformed = handle_invocation(invocation(&batch), &hnsw).await.unwrap();
    assert_eq!(transformed.database.version_redos, 0);
    assert_eq!(
        hnsw.index().cache_stats().scans,
        20,
        "the first invocation's only"
    );
    check(&transformed, "m1", &first, 'A');
    // In memory: the first version's items are still held and answer; stamped with it.
    let transformed = handle_invocation(invocation(&batch), &exact).await.unwrap();
    assert_eq!(transformed.database.version_redos, 0);
    check(&transformed, "m1", &first, 'A');

    // A load between reading the version and querying it, made deterministic at the index:
    // the query fails as VersionGone rather than answering from the new version's items.
    let read = hnsw.index().active_version().await.unwrap().unwrap();
    assert_eq!(read.embedding_version, second);
    let third = support::load(&loader, "m3", &catalogue_csv("C", 300, DIM, 3), DIM).await;
    let query = [KnnQuery::ByVector {
        vector: vec![0.5; DIM],
        exclude: vec![],
    }];
    let gone = hnsw.index().knn_batch(&read, &query, K).await.unwrap_err();
    assert!(
        matches!(&gone, IndexError::VersionGone { embedding_version } if *embedding_version == second),
        "{gone:?}"
    );
    let transformed = handle_invocation(invocation(&batch), &hnsw).await.unwrap();
    check(&transformed, "m3", &third, 'C');
}
