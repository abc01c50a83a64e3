//! The k-NN caches of the pgvector path against the local PostgreSQL + pgvector: cached
//! answers are the uncached ones (same ids, same order), exclusions hold, a session whose
//! merge cannot be certified is sent, the counters count, a new version empties the caches.

#![cfg(feature = "integration")]

mod support;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reco_domain::recommendation::ScoredItem;
use reco_domain::transform::{KnnAnswer, KnnQuery};
use reco_testkit::LocalStack;
use reco_transform_lambda::knn_cache::KnnCacheStats;
use reco_transform_lambda::pg_index::PgVectorIndex;
use reco_transform_lambda::ports::{IndexVersion, NeighbourIndex};
use reco_vector_store::{StoreOptions, VectorStore};

const DIM: usize = 8;
const ITEMS: usize = 1_000;
const CLUSTERS: usize = 20;
const K: usize = 10;

/// Item `i` belongs to cluster `i % CLUSTERS`: a centre plus noise, as trained embeddings.
fn catalogue(seed: u64) -> (String, Vec<Vec<f32>>) {
    support::clustered_catalogue(seed, ITEMS, CLUSTERS, DIM, 0.3, |i| format!("S{i:04}"))
}

fn id(i: usize) -> String {
    format!("S{i:04}")
}

/// Customers (each twice in the batch, once more with other exclusions) and sessions: of one
/// cluster (certifiable), and of two far clusters (the merge cannot prove its answer).
fn queries(vectors: &[Vec<f32>]) -> Vec<KnnQuery> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut queries = Vec::new();
    for c in 0..12 {
        let vector: Vec<f32> = vectors[c * 7]
            .iter()
            .map(|x| x + rng.random_range(-0.2f32..0.2))
            .collect();
        for exclude in [vec![id(c), id(c + 20)], vec![id(c), id(c + 20)], vec![]] {
            queries.push(KnnQuery::ByVector {
                vector: vector.clone(),
                exclude,
            });
        }
    }
    for s in 0..8 {
        // Items s, s + 20, s + 40: one cluster.
        let seeds = vec![id(s), id(s + CLUSTERS), id(s + 2 * CLUSTERS)];
        queries.push(KnnQuery::SimilarTo {
            item_ids: seeds.clone(),
            exclude: seeds,
        });
    }
    queries
}

/// Sessions whose seeds lie in different clusters.
fn mixed_sessions() -> Vec<KnnQuery> {
    (0..6)
        .map(|s| {
            let seeds: Vec<String> = (0..4).map(|c| id(100 + s * CLUSTERS + c * 3)).collect();
            KnnQuery::SimilarTo {
                item_ids: seeds.clone(),
                exclude: seeds,
            }
        })
        .collect()
}

fn answered(answers: Vec<KnnAnswer>) -> Vec<Vec<ScoredItem>> {
    answers
        .into_iter()
        .enumerate()
        .map(|(q, a)| a.unwrap_or_else(|e| panic!("query {q}: {e}")))
        .collect()
}

fn assert_same(cached: &[Vec<ScoredItem>], plain: &[Vec<ScoredItem>], what: &str) {
    assert_eq!(cached.len(), plain.len(), "{what}");
    for (q, (c, p)) in cached.iter().zip(plain).enumerate() {
        let ids = |l: &[ScoredItem]| l.iter().map(|s| s.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(c), ids(p), "{what}: query {q}");
        for (a, b) in c.iter().zip(p) {
            assert!((a.score - b.score).abs() < 1e-4, "{what}: query {q}");
        }
    }
}

async fn index(url: &str, cache_items: usize) -> PgVectorIndex {
    // ef_search 1000 over 1,000 items: the HNSW answers are exhaustive, so cached and
    // uncached answers must agree exactly.
    let mut options = StoreOptions::for_lambda();
    options.ef_search = 1000;
    PgVectorIndex::new(VectorStore::connect(url, options).await.unwrap(), 0)
        .with_knn_cache_items(cache_items)
}

async fn batch(
    index: &PgVectorIndex,
    version: &IndexVersion,
    q: &[KnnQuery],
) -> Vec<Vec<ScoredItem>> {
    answered(index.knn_batch(version, q, K).await.unwrap())
}

#[tokio::test]
async fn cached_answers_are_the_uncached_answers_and_the_counters_count() {
    let db = LocalStack::get().pg_database().await;
    let loader = VectorStore::connect(&db.url, StoreOptions::for_cli())
        .await
        .unwrap();
    let (csv, vectors) = catalogue(1);
    support::load(&loader, "m1", &csv, DIM).await;
    let plain = index(&db.url, 0).await;
    let cached = index(&db.url, 100_000).await;
    let version = cached.active_version().await.unwrap().unwrap();

    let queries = queries(&vectors);
    let expected = batch(&plain, &version, &queries).await;
    assert_eq!(
        plain.cache_stats().scans,
        queries.len() as u64,
        "caches off: all sent"
    );
    assert_eq!(plain.cache_stats().customer_hits, 0);

    let first = batch(&cached, &version, &queries).await;
    assert_same(&first, &expected, "first batch");
    let stats = cached.cache_stats();
    // 12 distinct customer vectors, 24 distinct seeds fetched; every session certified.
    assert_eq!(
        (stats.customer_hits, stats.customer_misses),
        (0, 36),
        "{stats:?}"
    );
    assert_eq!((stats.item_hits, stats.item_misses), (0, 24), "{stats:?}");
    assert_eq!(
        (stats.similar_merged, stats.similar_fallbacks),
        (8, 0),
        "{stats:?}"
    );
    assert_eq!(stats.scans, 12 + 24, "{stats:?}");
    for (q, list) in first.iter().enumerate() {
        let exclude = match &queries[q] {
            KnnQuery::ByVector { exclude, .. } => exclude,
            KnnQuery::SimilarTo { exclude, .. } => exclude,
        };
        assert_eq!(list.len(), K, "query {q}");
        assert!(list.iter().all(|s| !exclude.contains(&s.id)), "query {q}");
    }

    // Again: everything from the caches, nothing sent.
    cached.reset_cache_stats();
    let second = batch(&cached, &version, &queries).await;
    assert_same(&second, &expected, "second batch");
    let stats = cached.cache_stats();
    assert_eq!(
        stats,
        KnnCacheStats {
            customer_hits: 36,
            item_hits: 24,
            similar_merged: 8,
            ..KnnCacheStats::default()
        }
    );

    // Excluding more of a customer's nearest items than the list's margin: the list cannot
    // answer, the query is sent with its exclusions (once for both identical queries).
    let KnnQuery::ByVector { vector, .. } = &queries[0] else {
        unreachable!()
    };
    let nearest: Vec<String> = second[2].iter().map(|s| s.id.clone()).collect();
    let mut exclude = nearest.clone();
    exclude.extend(second[0].iter().map(|s| s.id.clone()));
    let wide = KnnQuery::ByVector {
        vector: vector.clone(),
        exclude: exclude.clone(),
    };
    let both = vec![wide.clone(), wide];
    cached.reset_cache_stats();
    let lists = batch(&cached, &version, &both).await;
    assert_same(
        &lists,
        &batch(&plain, &version, &both).await,
        "wide exclusions",
    );
    assert!(lists[0].iter().all(|s| !exclude.contains(&s.id)));
    let stats = cached.cache_stats();
    assert_eq!((stats.customer_misses, stats.scans), (2, 1), "{stats:?}");

    // Sessions across clusters: the certificate fails, the queries are sent as they are.
    cached.reset_cache_stats();
    let mixed = mixed_sessions();
    let lists = batch(&cached, &version, &mixed).await;
    assert_same(
        &lists,
        &batch(&plain, &version, &mixed).await,
        "mixed sessions",
    );
    let stats = cached.cache_stats();
    assert_eq!(stats.similar_fallbacks, 6, "{stats:?}");
    assert_eq!(stats.similar_merged, 0, "{stats:?}");
    assert_eq!(stats.scans, stats.item_misses + 6, "{stats:?}");
    // The same sessions again (their histories unchanged): the answers sent before answer.
    cached.reset_cache_stats();
    let again = batch(&cached, &version, &mixed).await;
    assert_same(&again, &lists, "mixed sessions again");
    let stats = cached.cache_stats();
    assert_eq!((stats.answer_hits, stats.scans), (6, 0), "{stats:?}");
}

#[tokio::test]
async fn a_new_version_empties_the_caches_and_unknown_seeds_are_ignored() {
    let db = LocalStack::get().pg_database().await;
    let loader = VectorStore::connect(&db.url, StoreOptions::for_cli())
        .await
        .unwrap();
    let (csv, vectors) = catalogue(1);
    support::load(&loader, "m1", &csv, DIM).await;
    let plain = index(&db.url, 0).await;
    let cached = index(&db.url, 100_000).await;
    let version = cached.active_version().await.unwrap().unwrap();
    let queries = queries(&vectors);
    batch(&cached, &version, &queries).await;
    assert_eq!(cached.cache_entries().0, 12);

    let (csv, vectors) = catalogue(2);
    support::load(&loader, "m2", &csv, DIM).await;
    let second = cached.active_version().await.unwrap().unwrap();
    assert_ne!(second.embedding_version, version.embedding_version);
    cached.reset_cache_stats();
    let mut queries = crate::queries(&vectors);
    // An id the version does not hold is ignored, as the SQL ignores it.
    queries.push(KnnQuery::SimilarTo {
        item_ids: vec![id(3), "NOPE".into()],
        exclude: vec![id(3), "NOPE".into()],
    });
    queries.push(KnnQuery::SimilarTo {
        item_ids: vec!["NOPE".into()],
        exclude: vec![],
    });
    let lists = batch(&cached, &second, &queries).await;
    assert_same(
        &lists,
        &batch(&plain, &second, &queries).await,
        "new version",
    );
    assert!(lists.last().unwrap().is_empty());
    let stats = cached.cache_stats();
    assert_eq!(stats.customer_hits + stats.item_hits, 0, "{stats:?}");
    // Only the new version's entries: 12 customers, 24 seeds + the unknown one.
    let (customers, seeds, _) = cached.cache_entries();
    assert_eq!((customers, seeds), (12, 25));
}
