//! The k-NN caches at catalogue scale (ignored: a 1M x 32 load and an HNSW build of minutes;
//! run in release by hand):
//!
//! ```text
//! cargo test --release -p reco-transform-lambda --features integration --test knn_cache_scale \
//!     -- --ignored --nocapture
//! ```
//!
//! Loads (once; kept in database `reco_knn_cache_scale` while `RECO_KNN_SCALE_KEEP_DB` is set,
//! dropped otherwise) the vector-store bench's catalogue: 1M items x 32 dims around 1,000
//! cluster centres (seed 7). Replays batches of session events, answers each with the caches
//! off and on, and prints HNSW scans per record, the time of each and recall@10 of both
//! against exact search, checking recall@10 >= 0.95 with the caches on.

#![cfg(feature = "integration")]

use std::io::Write as _;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reco_domain::recommendation::ScoredItem;
use reco_domain::transform::{KnnAnswer, KnnQuery};
use reco_testkit::LocalStack;
use reco_transform_lambda::pg_index::PgVectorIndex;
use reco_transform_lambda::ports::NeighbourIndex;
use reco_vector_loader::{EmbeddingFile, EmbeddingSource, Loader};
use reco_vector_store::{StoreOptions, VectorStore};
use sqlx::Connection;

const ITEMS: usize = 1_000_000;
const DIM: usize = 32;
const CLUSTERS: usize = 1000;
const CUSTOMERS: usize = 2_000;
const SESSIONS: usize = 600;
const EVENTS_PER_BATCH: usize = 2_700;
const BATCHES: usize = 4;
const RECALL_SAMPLE: usize = 400;
const K: usize = 10;
const DATABASE: &str = "reco_knn_cache_scale";

fn vectors(rng: &mut ChaCha8Rng, centres: &[Vec<f32>], n: usize) -> (Vec<Vec<f32>>, Vec<usize>) {
    (0..n)
        .map(|_| {
            let c = rng.random_range(0..centres.len());
            let v = centres[c]
                .iter()
                .map(|x| x + rng.random_range(-0.5..0.5))
                .collect();
            (v, c)
        })
        .unzip()
}

fn unit(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n).collect()
}

fn item(i: usize) -> String {
    format!("P{i:07}")
}

struct Session {
    customer: usize,
    home: usize,
    browsed: Vec<usize>,
}

/// The batches' queries, as the handler lists them (customer query, session query when the
/// event has a browse history), and the number of events. Sessions (600 at once, each of one
/// of 2,000 customers, ending with probability 0.05 per event) browse a new item in 60% of
/// their events: 70% one of the 20 items nearest to the last one browsed (following a
/// recommendation), 30% any item of their home cluster; the history keeps the last 6.
fn workload(
    rng: &mut ChaCha8Rng,
    items: &[Vec<f32>],
    cluster_of: &[usize],
    customers: &[Vec<f32>],
) -> Vec<(Vec<KnnQuery>, usize)> {
    let mut members = vec![Vec::new(); CLUSTERS];
    for (i, c) in cluster_of.iter().enumerate() {
        members[*c].push(i);
    }
    let units: Vec<Vec<f32>> = items.iter().map(|v| unit(v)).collect();
    let nearest_in_cluster = |i: usize, rng: &mut ChaCha8Rng| -> usize {
        let mut scored: Vec<(f32, usize)> = members[cluster_of[i]]
            .iter()
            .filter(|j| **j != i)
            .map(|j| {
                (
                    units[i].iter().zip(&units[*j]).map(|(a, b)| a * b).sum(),
                    *j,
                )
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored[rng.random_range(0..20.min(scored.len()))].1
    };
    let new_session = |rng: &mut ChaCha8Rng| {
        let customer = rng.random_range(0..CUSTOMERS);
        Session {
            customer,
            home: rng.random_range(0..CLUSTERS),
            browsed: Vec::new(),
        }
    };
    let mut sessions: Vec<Session> = (0..SESSIONS).map(|_| new_session(rng)).collect();
    (0..BATCHES)
        .map(|_| {
            let mut queries = Vec::new();
            for _ in 0..EVENTS_PER_BATCH {
                let s = rng.random_range(0..SESSIONS);
                if rng.random_bool(0.05) {
                    sessions[s] = new_session(rng);
                }
                let session = &mut sessions[s];
                if rng.random_bool(0.6) {
                    let next = match session.browsed.last() {
                        Some(last) if rng.random_bool(0.7) => nearest_in_cluster(*last, rng),
                        _ => {
                            let m = &members[session.home];
                            m[rng.random_range(0..m.len())]
                        }
                    };
                    session.browsed.retain(|b| *b != next);
                    session.browsed.push(next);
                    if session.browsed.len() > 6 {
                        session.browsed.remove(0);
                    }
                }
                let browsed: Vec<String> = session.browsed.iter().map(|i| item(*i)).collect();
                queries.push(KnnQuery::ByVector {
                    vector: customers[session.customer].clone(),
                    exclude: browsed.clone(),
                });
                if !browsed.is_empty() {
                    queries.push(KnnQuery::SimilarTo {
                        item_ids: browsed.clone(),
                        exclude: browsed,
                    });
                }
            }
            (queries, EVENTS_PER_BATCH)
        })
        .collect()
}

fn lists(answers: Vec<KnnAnswer>) -> Vec<Vec<ScoredItem>> {
    answers.into_iter().map(|a| a.unwrap()).collect()
}

fn recall(got: &[Vec<ScoredItem>], exact: &[Vec<ScoredItem>], sample: &[usize]) -> f64 {
    let (mut hit, mut total) = (0usize, 0usize);
    for (s, e) in sample.iter().zip(exact) {
        total += e.len();
        hit += e
            .iter()
            .filter(|x| got[*s].iter().any(|g| g.id == x.id))
            .count();
    }
    hit as f64 / total.max(1) as f64
}

#[tokio::test]
#[ignore = "1M x 32 load and HNSW build (minutes): run in release by hand"]
async fn caches_at_one_million_items() {
    let stack = LocalStack::get();
    let server = stack.setting("RECO_PG_URL").to_owned();
    let (base, query) = server.split_once('?').unwrap_or((server.as_str(), ""));
    let (base, _) = base.rsplit_once('/').unwrap();
    let url = format!("{base}/{DATABASE}?{query}");
    let keep = std::env::var_os("RECO_KNN_SCALE_KEEP_DB").is_some();

    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let centres: Vec<Vec<f32>> = (0..CLUSTERS)
        .map(|_| (0..DIM).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect();
    let (items, cluster_of) = vectors(&mut rng, &centres, ITEMS);
    let (customers, _) = vectors(&mut rng, &centres, CUSTOMERS);

    let mut admin = sqlx::PgConnection::connect(&server).await.unwrap();
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(DATABASE)
            .fetch_one(&mut admin)
            .await
            .unwrap();
    if !exists {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {DATABASE}")))
            .execute(&mut admin)
            .await
            .unwrap();
    }
    let loader = VectorStore::connect(&url, StoreOptions::for_cli())
        .await
        .unwrap();
    let loaded = loader
        .active_version()
        .await
        .unwrap()
        .is_some_and(|v| v.item_rows == ITEMS as i64);
    if !loaded {
        let mut csv: Vec<u8> = Vec::with_capacity(ITEMS * 340);
        writeln!(csv, "id,embedding").unwrap();
        for (i, v) in items.iter().enumerate() {
            let text: Vec<String> = v.iter().map(|x| format!("{x:.6}")).collect();
            writeln!(csv, "{},\"[{}]\"", item(i), text.join(",")).unwrap();
        }
        let users = format!("id,embedding\n1,\"[{}]\"\n", ["1"; DIM].join(","));
        let started = Instant::now();
        Loader::new(&loader)
            .load_version(EmbeddingSource {
                model_version: "scale".to_owned(),
                items: EmbeddingFile {
                    name: "items".to_owned(),
                    reader: csv.as_slice(),
                },
                users: EmbeddingFile {
                    name: "users".to_owned(),
                    reader: users.as_bytes(),
                },
            })
            .await
            .unwrap();
        eprintln!("loaded 1M x 32 in {:.0} s", started.elapsed().as_secs_f64());
    }

    let plain = PgVectorIndex::new(
        VectorStore::connect(&url, StoreOptions::for_lambda())
            .await
            .unwrap(),
        0,
    )
    .with_knn_cache_items(0);
    let cached = PgVectorIndex::new(
        VectorStore::connect(&url, StoreOptions::for_lambda())
            .await
            .unwrap(),
        0,
    );
    let version = cached.active_version().await.unwrap().unwrap();
    plain.active_version().await.unwrap().unwrap();
    let exact = loader
        .item_catalogue(&version.embedding_version)
        .await
        .unwrap();

    let batches = workload(&mut rng, &items, &cluster_of, &customers);
    let (mut plain_secs, mut cached_secs, mut records) = (0.0, 0.0, 0usize);
    let (mut plain_recall, mut cached_recall) = (Vec::new(), Vec::new());
    for (b, (queries, events)) in batches.iter().enumerate() {
        let started = Instant::now();
        let from_plain = lists(plain.knn_batch(&version, queries, K).await.unwrap());
        let plain_batch = started.elapsed().as_secs_f64();
        cached.reset_cache_stats();
        let started = Instant::now();
        let from_cache = lists(cached.knn_batch(&version, queries, K).await.unwrap());
        let cached_batch = started.elapsed().as_secs_f64();
        let stats = cached.cache_stats();

        let sample: Vec<usize> = (0..RECALL_SAMPLE)
            .map(|_| rng.random_range(0..queries.len()))
            .collect();
        let sampled: Vec<KnnQuery> = sample.iter().map(|s| queries[*s].clone()).collect();
        let truth = exact.knn_batch(&sampled, K).unwrap();
        let (rp, rc) = (
            recall(&from_plain, &truth, &sample),
            recall(&from_cache, &truth, &sample),
        );
        eprintln!(
            "batch {b}: {events} events, {} queries | caches off {:.2} s ({:.0} rec/s, {:.2} scans/rec, recall@10 {rp:.3}) | on {:.2} s ({:.0} rec/s, {:.3} scans/rec, recall@10 {rc:.3}) | {stats:?} | entries {:?}, {:.1} MB",
            queries.len(),
            plain_batch,
            *events as f64 / plain_batch,
            queries.len() as f64 / *events as f64,
            cached_batch,
            *events as f64 / cached_batch,
            stats.scans as f64 / *events as f64,
            cached.cache_entries(),
            cached.cache_bytes() as f64 / 1e6,
        );
        if b > 0 {
            plain_secs += plain_batch;
            cached_secs += cached_batch;
            records += events;
            plain_recall.push(rp);
            cached_recall.push(rc);
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    eprintln!(
        "after the first batch: caches off {:.0} rec/s, on {:.0} rec/s ({:.1}x); recall@10 off {:.3}, on {:.3}",
        records as f64 / plain_secs,
        records as f64 / cached_secs,
        plain_secs / cached_secs,
        mean(&plain_recall),
        mean(&cached_recall),
    );
    drop((plain, cached, loader));
    if !keep {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await
        .unwrap();
    }
    assert!(mean(&cached_recall) >= 0.95, "recall@10 {cached_recall:?}");
}
