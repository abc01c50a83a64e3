//! The vector store against the local PostgreSQL + pgvector (and S3 / Secrets Manager on the
//! emulator): loads, atomic swap under concurrent readers, bad files, batched k-NN equal to an
//! exact search, exclusions returning k, index plans, and sql/embeddings.sql run by psql.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reco_domain::settings::var;
use reco_testkit::{LocalStack, TempDatabase, unique_name};
use reco_vector_store::{
    EmbeddingFile, EmbeddingSource, KnnRequest, LoadError, ModelArtifacts, StoreError,
    StoreOptions, VectorStore,
};

const DIM: usize = 16;

/// Clustered vectors (like trained embeddings): `n` points around `clusters` random centres.
fn vectors(n: usize, clusters: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let centres: Vec<Vec<f32>> = (0..clusters)
        .map(|_| (0..DIM).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect();
    (0..n)
        .map(|i| {
            centres[i % clusters]
                .iter()
                .map(|c| c + rng.random_range(-0.3..0.3))
                .collect()
        })
        .collect()
}

fn literal(v: &[f32]) -> String {
    let parts: Vec<String> = v.iter().map(|x| x.to_string()).collect();
    format!("[{}]", parts.join(","))
}

fn items_csv(prefix: &str, vectors: &[Vec<f32>]) -> String {
    let mut out = String::from("id,embedding\n");
    for (i, v) in vectors.iter().enumerate() {
        writeln!(out, "{prefix}{i:05},\"{}\"", literal(v)).unwrap();
    }
    out
}

fn users_csv(n: usize, seed: u64) -> String {
    let mut out = String::from("id,embedding\n");
    for (i, v) in vectors(n, 3, seed).iter().enumerate() {
        writeln!(out, "{},\"{}\"", 100 + i, literal(v)).unwrap();
    }
    out
}

fn source<'a>(model: &str, items: &'a str, users: &'a str) -> EmbeddingSource<&'a [u8], &'a [u8]> {
    EmbeddingSource {
        model_version: model.to_owned(),
        items: EmbeddingFile {
            name: "item_embeddings.csv".to_owned(),
            reader: items.as_bytes(),
        },
        users: EmbeddingFile {
            name: "user_embeddings.csv".to_owned(),
            reader: users.as_bytes(),
        },
    }
}

fn quiet(_: &str) {}

async fn store(db: &TempDatabase, ef_search: u32) -> VectorStore {
    let mut options = StoreOptions::for_cli();
    options.ef_search = ef_search;
    VectorStore::connect(&db.url, options).await.unwrap()
}

async fn versioned_tables(store: &VectorStore) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT relname::text FROM pg_class WHERE relkind = 'r' AND relname ~ '_emb_e' ORDER BY 1",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn batched_knn_equals_exact_search_and_every_subquery_uses_the_index() {
    let db = LocalStack::get().pg_database().await;
    let store = store(&db, 200).await;
    assert_eq!(store.active_version().await.unwrap(), None);
    let item_vectors = vectors(3000, 30, 1);
    let items = items_csv("P", &item_vectors);
    let users = users_csv(50, 2);
    let report = store
        .load_version(source("m1", &items, &users), &quiet)
        .await
        .unwrap();
    assert_eq!(
        (report.item_rows, report.user_rows, report.dim),
        (3000, 50, DIM)
    );
    let active = store.active_version().await.unwrap().unwrap();
    assert_eq!(active.model_version, "m1");
    assert_eq!(active.embedding_version, report.embedding_version);
    assert_eq!(
        (active.dim, active.item_rows, active.user_rows),
        (DIM, 3000, 50)
    );
    assert_eq!(active.loaded_by, "reco load-embeddings");

    let user = store.user_embeddings(&[100, 999]).await.unwrap();
    assert_eq!(user.len(), 1);
    assert_eq!(user[&100].len(), DIM);

    // Queries drawn like the items (same cluster centres, fresh noise), as user embeddings are.
    let queries = vectors(3040, 30, 1).split_off(3000);
    let mut requests: Vec<KnnRequest> = queries
        .iter()
        .map(|v| KnnRequest::ByVector {
            vector: v.clone(),
            exclude: vec!["P00000".into(), "P00030".into()],
        })
        .collect();
    requests.push(KnnRequest::SimilarTo {
        item_ids: vec!["P00005".into(), "P00035".into(), "UNKNOWN".into()],
        exclude: vec!["P00065".into()],
    });
    requests.push(KnnRequest::SimilarTo {
        item_ids: vec!["UNKNOWN".into()],
        exclude: vec![],
    });
    let k = 10;
    let exact = store.knn_batch_exact(&requests, k).await.unwrap();
    // The default store (ef_search 100) answers through the index: nearly all exact neighbours.
    let got = store.knn_batch(&requests, k).await.unwrap();
    let hits: usize = got
        .iter()
        .zip(&exact)
        .map(|(a, e)| a.iter().filter(|s| e.iter().any(|x| x.id == s.id)).count())
        .sum();
    assert!(hits * 100 >= 410 * 95, "recall@10 {hits}/410 below 0.95");
    // A batch large enough to be split over two connections answers like one statement.
    let many: Vec<KnnRequest> = (0..3).flat_map(|_| requests.iter().cloned()).collect();
    assert!(many.len() >= 2 * reco_vector_store::KNN_PART_MIN_REQUESTS);
    let mut one_statement = StoreOptions::for_cli();
    one_statement.ef_search = 200;
    one_statement.knn_parallelism = 1;
    let one_statement = VectorStore::connect(&db.url, one_statement).await.unwrap();
    let split = store.knn_batch(&many, k).await.unwrap();
    assert_eq!(split, one_statement.knn_batch(&many, k).await.unwrap());
    assert_eq!(&split[..requests.len()], &got[..]);
    // Tiny tables tempt the planner into sequential scans; a pool that forbids them makes
    // every sub-query an HNSW scan, and at ef_search 400 on 3,000 items it is exhaustive:
    // the batch must then equal the exact search, ids and scores.
    let forced_pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(
            db.url
                .parse::<sqlx::postgres::PgConnectOptions>()
                .unwrap()
                .options([("enable_seqscan", "off")]),
        )
        .await
        .unwrap();
    let mut forced_options = StoreOptions::for_lambda();
    forced_options.ef_search = 400;
    let forced = VectorStore::from_pool(forced_pool, forced_options);
    let got = forced.knn_batch(&requests, k).await.unwrap();
    assert_eq!(got.len(), requests.len());
    for (index, (approx, exact)) in got.iter().zip(&exact).enumerate() {
        if index == requests.len() - 1 {
            assert!(
                approx.is_empty() && exact.is_empty(),
                "unknown seeds give nothing"
            );
            continue;
        }
        assert_eq!(approx.len(), k, "request {index}");
        for pair in approx.windows(2) {
            assert!(pair[0].score >= pair[1].score, "request {index} not sorted");
        }
        let ids: Vec<&str> = approx.iter().map(|s| s.id.as_str()).collect();
        let exact_ids: Vec<&str> = exact.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, exact_ids, "request {index}");
        for (a, e) in approx.iter().zip(exact) {
            assert!((a.score - e.score).abs() < 1e-5, "request {index}");
        }
        if index < 40 {
            assert!(ids.iter().all(|id| !["P00000", "P00030"].contains(id)));
        }
    }
    // The in-memory catalogue of this version answers like PostgreSQL's exact search.
    let catalogue = store
        .item_catalogue(&active.embedding_version)
        .await
        .unwrap();
    assert_eq!((catalogue.len(), catalogue.dim()), (3000, DIM));
    let in_memory = catalogue.knn_batch(&requests, k).unwrap();
    for (index, (mem, exact)) in in_memory.iter().zip(&exact).enumerate() {
        let ids: Vec<&str> = mem.iter().map(|s| s.id.as_str()).collect();
        let exact_ids: Vec<&str> = exact.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, exact_ids, "in-memory request {index}");
        for (a, e) in mem.iter().zip(exact) {
            assert!(
                (a.score - e.score).abs() < 1e-5,
                "in-memory request {index}"
            );
        }
    }
    assert!(matches!(
        store.item_catalogue("e20000101000000000000").await,
        Err(reco_vector_store::StoreError::NoActiveVersion)
    ));
    let forced_plan = forced.explain_knn_batch(&requests, k).await.unwrap();
    assert!(
        forced_plan.iter().any(|l| l.contains("_hnsw")),
        "{}",
        forced_plan.join("\n")
    );
    let similar = &got[requests.len() - 2];
    assert!(
        similar
            .iter()
            .all(|s| !["P00005", "P00035", "P00065"].contains(&s.id.as_str())),
        "seed and excluded items must not be returned: {similar:?}"
    );
    // Cosine similarity of the query with the returned item, recomputed here.
    let q = &queries[0];
    let best = &got[0][0];
    let v = &item_vectors[best.id[1..].parse::<usize>().unwrap()];
    let dot: f32 = q.iter().zip(v).map(|(a, b)| a * b).sum();
    let norm = |x: &[f32]| x.iter().map(|a| a * a).sum::<f32>().sqrt();
    assert!((dot / (norm(q) * norm(v)) - best.score).abs() < 1e-4);
}

#[tokio::test]
async fn production_sized_table_is_searched_through_the_hnsw_index() {
    let db = LocalStack::get().pg_database().await;
    // Default settings, no planner overrides: with 20,000 items an HNSW scan is cheaper than a
    // sequential scan + sort, so the planner must pick the index for every sub-query.
    let store = store(&db, reco_vector_store::DEFAULT_EF_SEARCH).await;
    let report = store
        .load_version(
            source(
                "m1",
                &items_csv("P", &vectors(20_000, 50, 20)),
                &users_csv(5, 21),
            ),
            &quiet,
        )
        .await
        .unwrap();
    let item_table = reco_vector_store::schema::item_table(&report.embedding_version);
    let mut requests: Vec<KnnRequest> = vectors(20_100, 50, 20)
        .split_off(20_000)
        .into_iter()
        .map(|vector| KnnRequest::ByVector {
            vector,
            exclude: vec!["P00001".into()],
        })
        .collect();
    requests.push(KnnRequest::SimilarTo {
        item_ids: vec!["P00002".into()],
        exclude: vec![],
    });
    let plan = store.explain_knn_batch(&requests, 10).await.unwrap();
    let text = plan.join("\n");
    assert!(
        text.contains(&format!("Index Scan using {item_table}_hnsw")),
        "plan does not use the HNSW index:\n{text}"
    );
    assert!(
        !text.contains(&format!("Seq Scan on {item_table}")),
        "a sub-query scans the item table sequentially:\n{text}"
    );
    let got = store.knn_batch(&requests, 10).await.unwrap();
    assert!(got.iter().all(|r| r.len() == 10));
}

#[tokio::test]
async fn selective_exclusion_still_returns_k_items() {
    let db = LocalStack::get().pg_database().await;
    let loader = store(&db, 40).await;
    // 3,000 items in 30 clusters: a query at a cluster centre has ~100 close neighbours.
    let item_vectors = vectors(3000, 30, 4);
    let items = items_csv("P", &item_vectors);
    loader
        .load_version(source("m1", &items, &users_csv(5, 5)), &quiet)
        .await
        .unwrap();
    let query = item_vectors[0].clone();
    // Exclude the 150 nearest items: far more than ef_search = 40 candidates, so without
    // iterative index scans the filter would leave (almost) nothing.
    let nearest = loader
        .knn_batch_exact(
            &[KnnRequest::ByVector {
                vector: query.clone(),
                exclude: vec![],
            }],
            150,
        )
        .await
        .unwrap();
    let excluded: Vec<String> = nearest[0].iter().map(|s| s.id.clone()).collect();
    let request = [KnnRequest::ByVector {
        vector: query,
        exclude: excluded.clone(),
    }];
    let exact = loader.knn_batch_exact(&request, 10).await.unwrap();
    let pool_store = VectorStore::from_pool(loader.pool().clone(), {
        let mut o = StoreOptions::for_lambda();
        o.ef_search = 40;
        o
    });
    for store in [&loader, &pool_store] {
        let got = store.knn_batch(&request, 10).await.unwrap();
        assert_eq!(got[0].len(), 10, "exclusion must still return k items");
        assert!(got[0].iter().all(|s| !excluded.contains(&s.id)));
        let exact_ids: Vec<&str> = exact[0].iter().map(|s| s.id.as_str()).collect();
        let hits = got[0]
            .iter()
            .filter(|s| exact_ids.contains(&s.id.as_str()))
            .count();
        assert!(hits >= 8, "recall {hits}/10 after a selective exclusion");
    }
}

#[tokio::test]
async fn malformed_files_abort_with_the_line_and_leave_the_active_version() {
    let db = LocalStack::get().pg_database().await;
    let store = store(&db, 100).await;
    let items = items_csv("P", &vectors(20, 2, 6));
    let users = users_csv(5, 7);
    let good = store
        .load_version(source("good", &items, &users), &quiet)
        .await
        .unwrap();
    let before = versioned_tables(&store).await;

    let bad_literal = items.replacen("\"[", "\"[x", 3).replacen("\"[x", "\"[", 2);
    let short = format!("{items}P99999,\"[1,2,3]\"\n");
    let duplicate = format!("{items}P00003,\"{}\"\n", literal(&vectors(1, 1, 8)[0]));
    let cases: Vec<(String, String, &str, &str)> = vec![
        (
            bad_literal,
            users.clone(),
            "item_embeddings.csv:4:",
            "element 1",
        ),
        (
            short,
            users.clone(),
            "item_embeddings.csv:22:",
            "3 dimensions, expected 16",
        ),
        (
            duplicate,
            users.clone(),
            "item_embeddings.csv:22:",
            "duplicate item id",
        ),
        (
            items.clone(),
            format!("{users}101,\"{}\"\n", literal(&vectors(1, 1, 9)[0])),
            "user_embeddings.csv:7:",
            "duplicate user id 101",
        ),
        (
            items.clone(),
            users.replacen("100,", "C100,", 1),
            "user_embeddings.csv:2:",
            "not an integer",
        ),
        (
            items.replacen("id,embedding", "id;embedding", 1),
            users.clone(),
            "item_embeddings.csv:",
            "header",
        ),
        (
            items.clone(),
            "id,embedding\n".to_owned(),
            "user_embeddings.csv:",
            "no embeddings",
        ),
        (
            items.clone(),
            "id,embedding\n100,\"[1,2]\"\n".to_owned(),
            "dimension mismatch",
            "user embeddings have 2",
        ),
    ];
    for (items, users, at, why) in cases {
        let err = store
            .load_version(source("bad", &items, &users), &quiet)
            .await
            .unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains(at) && message.contains(why),
            "expected {at:?} and {why:?} in {message:?}"
        );
        assert!(!matches!(err, LoadError::Database { .. }), "{message}");
        let active = store.active_version().await.unwrap().unwrap();
        assert_eq!(active.embedding_version, good.embedding_version);
        assert_eq!(
            versioned_tables(&store).await,
            before,
            "nothing left behind"
        );
    }
    let still = store
        .knn_batch(
            &[KnnRequest::SimilarTo {
                item_ids: vec!["P00001".into()],
                exclude: vec![],
            }],
            3,
        )
        .await
        .unwrap();
    assert_eq!(still[0].len(), 3);
}

#[tokio::test]
async fn readers_see_one_complete_version_during_swaps() {
    let db = LocalStack::get().pg_database().await;
    let loader = store(&db, 100).await;
    let a = items_csv("A", &vectors(1500, 10, 10));
    let b = items_csv("B", &vectors(2500, 10, 11));
    let users = users_csv(10, 12);
    loader
        .load_version(source("a", &a, &users), &quiet)
        .await
        .unwrap();
    let reader = VectorStore::connect(&db.url, StoreOptions::for_lambda())
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let query = vectors(3, 3, 13);
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let (reader, stop, reads, query) =
            (reader.clone(), stop.clone(), reads.clone(), query.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let requests: Vec<KnnRequest> = query
                    .iter()
                    .map(|v| KnnRequest::ByVector {
                        vector: v.clone(),
                        exclude: vec![],
                    })
                    .collect();
                let got = reader
                    .knn_batch(&requests, 5)
                    .await
                    .expect("k-NN during swap");
                let first: Vec<char> = got
                    .iter()
                    .flatten()
                    .map(|s| s.id.chars().next().unwrap())
                    .collect();
                assert_eq!(first.len(), 15);
                assert!(
                    first.iter().all(|c| *c == first[0]),
                    "mixed versions: {first:?}"
                );
                let (count, min_id): (i64, String) =
                    sqlx::query_as("SELECT count(*), min(id)::text FROM item_emb")
                        .fetch_one(reader.pool())
                        .await
                        .expect("count during swap");
                let expected = if min_id.starts_with('A') { 1500 } else { 2500 };
                assert_eq!(count, expected, "incomplete version visible");
                reads.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for (model, items) in [("b", &b), ("a2", &a), ("b2", &b)] {
        loader
            .load_version(source(model, items, &users), &quiet)
            .await
            .unwrap();
        let active = loader.active_version().await.unwrap().unwrap();
        assert_eq!(active.model_version, model);
    }
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("reader failed");
    }
    assert!(reads.load(Ordering::Relaxed) > 10, "readers did not run");
    // Only the active version's tables remain.
    let active = loader.active_version().await.unwrap().unwrap();
    assert_eq!(
        versioned_tables(&loader).await,
        vec![
            format!("item_emb_{}", active.embedding_version),
            format!("user_emb_{}", active.embedding_version)
        ]
    );
}

#[tokio::test]
async fn psql_script_loads_checks_and_swaps_like_the_loader() {
    let stack = LocalStack::get();
    let db = stack.pg_database().await;
    let store = store(&db, 100).await;
    let dir = std::env::temp_dir()
        .join(unique_name("reco-emb-", '-'))
        .join("v-psql");
    std::fs::create_dir_all(&dir).unwrap();
    let items = items_csv("P", &vectors(500, 5, 14));
    std::fs::write(dir.join("item_embeddings.csv"), &items).unwrap();
    std::fs::write(dir.join("user_embeddings.csv"), users_csv(8, 15)).unwrap();
    let script = stack.root().join("sql/embeddings.sql");
    let psql = |dir: &std::path::Path| {
        std::process::Command::new("psql")
            .arg(&db.url)
            .args(["-X", "-v"])
            .arg(format!("dir={}", dir.display()))
            .arg("-f")
            .arg(&script)
            .output()
            .expect("cannot run psql")
    };
    // A Rust load first: the script must replace it (and drop its tables).
    store
        .load_version(source("rust", &items, &users_csv(8, 15)), &quiet)
        .await
        .unwrap();
    let out = psql(&dir);
    assert!(
        out.status.success(),
        "psql failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let active = store.active_version().await.unwrap().unwrap();
    assert_eq!(active.model_version, "v-psql");
    assert_eq!(active.loaded_by, "sql/embeddings.sql");
    assert_eq!(
        (active.dim, active.item_rows, active.user_rows),
        (DIM, 500, 8)
    );
    assert_eq!(
        versioned_tables(&store).await.len(),
        2,
        "old version dropped"
    );
    let requests = [KnnRequest::SimilarTo {
        item_ids: vec!["P00001".into()],
        exclude: vec![],
    }];
    let got = store.knn_batch(&requests, 5).await.unwrap();
    assert_eq!(got, store.knn_batch_exact(&requests, 5).await.unwrap());

    // Bad files: the script fails, naming the problem, and the active version stays.
    let bad = dir.with_file_name("v-bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(
        dir.with_file_name("v-bad").join("user_embeddings.csv"),
        users_csv(8, 15),
    )
    .unwrap();
    for (content, why) in [
        (
            format!("{items}P99999,\"[1,2]\"\n"),
            "has 2 dimensions, expected 16",
        ),
        (
            items.replacen("\"[", "\"[x", 1),
            "invalid input syntax for type vector",
        ),
        (format!("{items}P00001,\"[1,2]\"\n"), "duplicate key"),
        (
            items.replacen("id,embedding", "code,embedding", 1),
            "header",
        ),
    ] {
        std::fs::write(bad.join("item_embeddings.csv"), content).unwrap();
        let out = psql(&bad);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "bad file accepted");
        assert!(stderr.contains(why), "expected {why:?} in {stderr}");
        let now = store.active_version().await.unwrap().unwrap();
        assert_eq!(now.embedding_version, active.embedding_version);
        assert_eq!(versioned_tables(&store).await.len(), 2);
    }
    std::fs::remove_dir_all(dir.parent().unwrap()).ok();
}

#[tokio::test]
async fn load_from_s3_follows_latest() {
    let stack = LocalStack::get();
    let db = stack.pg_database().await;
    let bucket = stack.s3_bucket().await;
    let store = store(&db, 100).await;
    let put = |key: String, body: String| {
        let client = bucket.client().clone();
        let name = bucket.name.clone();
        async move {
            client
                .put_object()
                .bucket(name)
                .key(key)
                .body(body.into_bytes().into())
                .send()
                .await
                .unwrap();
        }
    };
    for (version, seed) in [("2026-11-20", 16), ("2026-11-21", 17)] {
        put(
            format!("models/{version}/item_embeddings.csv"),
            items_csv("P", &vectors(100, 4, seed)),
        )
        .await;
        put(
            format!("models/{version}/user_embeddings.csv"),
            users_csv(4, seed),
        )
        .await;
    }
    put("models/LATEST".into(), "2026-11-21\n".into()).await;
    let mut settings = stack.settings.clone();
    settings.set(var::RECO_ARTIFACTS_BUCKET, bucket.name.clone());
    let artifacts = ModelArtifacts::from_settings(bucket.client().clone(), &settings).unwrap();
    let report = store.load_from_s3(&artifacts, None, &quiet).await.unwrap();
    assert_eq!(report.model_version, "2026-11-21");
    let report = store
        .load_from_s3(&artifacts, Some("2026-11-20"), &quiet)
        .await
        .unwrap();
    assert_eq!(report.item_rows, 100);
    assert_eq!(
        store.active_version().await.unwrap().unwrap().model_version,
        "2026-11-20"
    );
    let err = store
        .load_from_s3(&artifacts, Some("missing"), &quiet)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("models/missing/item_embeddings.csv"), "{err}");
}

#[tokio::test]
async fn errors_separate_unreachable_database_from_bad_requests() {
    let db = LocalStack::get().pg_database().await;
    let store = store(&db, 100).await;
    let none = store
        .knn_batch(
            &[KnnRequest::ByVector {
                vector: vec![1.0; DIM],
                exclude: vec![],
            }],
            5,
        )
        .await
        .unwrap_err();
    assert!(matches!(none, StoreError::NoActiveVersion), "{none}");
    store
        .load_version(
            source("m", &items_csv("P", &vectors(50, 2, 18)), &users_csv(2, 19)),
            &quiet,
        )
        .await
        .unwrap();
    let wrong_dim = store
        .knn_batch(
            &[KnnRequest::ByVector {
                vector: vec![1.0; 3],
                exclude: vec![],
            }],
            5,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(wrong_dim, StoreError::BadRequest { .. }) && !wrong_dim.is_retryable(),
        "{wrong_dim:?}"
    );
    assert!(wrong_dim.to_string().contains("dimensions"), "{wrong_dim}");

    let mut options = StoreOptions::for_lambda();
    options.acquire_timeout = std::time::Duration::from_secs(2);
    // Port 1 on localhost: nothing listens there.
    let unreachable = VectorStore::connect("postgres://reco:reco@127.0.0.1:1/reco", options)
        .await
        .unwrap_err();
    assert!(unreachable.is_retryable(), "{unreachable:?}");
}

#[tokio::test]
async fn rds_secret_from_secrets_manager_builds_tls_options() {
    let stack = LocalStack::get();
    let config = stack.sdk_config().await;
    let client = aws_sdk_secretsmanager::Client::new(&config);
    let name = unique_name("reco-t-", '-');
    let arn = client
        .create_secret()
        .name(&name)
        .secret_string(r#"{"username":"reco_admin","password":"s3cret"}"#)
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let mut settings = reco_domain::Settings::default();
    settings.set(var::RECO_PG_SECRET_ARN, arn.clone());
    settings.set(var::RECO_PG_HOST, "db.internal");
    settings.set(var::RECO_PG_DATABASE, "reco");
    let result = reco_vector_store::connect_options(&settings, &config).await;
    client
        .delete_secret()
        .secret_id(&arn)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    let options = result.unwrap();
    assert_eq!(options.get_host(), "db.internal");
    assert_eq!(options.get_port(), 5432);
    assert_eq!(options.get_username(), "reco_admin");
    assert!(matches!(
        options.get_ssl_mode(),
        sqlx::postgres::PgSslMode::Require
    ));
    settings.set(var::RECO_PG_HOST, "");
    let err = reco_vector_store::connect_options(&settings, &config)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("RECO_PG_HOST"), "{err}");
}
