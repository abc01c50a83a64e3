//! The loader against the local PostgreSQL + pgvector and the S3 emulator: loads, atomic swap
//! under concurrent readers, bad files, sql/embeddings.sql run by psql, and model versions
//! streamed from the artifacts bucket following LATEST.
#![cfg(feature = "integration")]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bytes::Bytes;
use reco_domain::artifacts::ModelPrefix;
use reco_testkit::{LocalStack, unique_name};
use reco_vector_loader::{LoadError, Loader, ModelArtifacts};
use reco_vector_store::{KnnRequest, StoreOptions, VectorStore};
use sqlx::Connection as _;
use support::{DIM, items_csv, literal, source, store, users_csv, vectors, versioned_tables};

#[tokio::test]
async fn malformed_files_abort_with_the_line_and_leave_the_active_version() {
    let db = LocalStack::get().pg_database().await;
    let store = store(&db, 100).await;
    let items = items_csv("P", &vectors(20, 2, 6));
    let users = users_csv(5, 7);
    let good = Loader::new(&store)
        .load_version(source("good", &items, &users))
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
        let err = Loader::new(&store)
            .load_version(source("bad", &items, &users))
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
    Loader::new(&loader)
        .load_version(source("a", &a, &users))
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
        Loader::new(&loader)
            .load_version(source(model, items, &users))
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
    Loader::new(&store)
        .load_version(source("rust", &items, &users_csv(8, 15)))
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
    let temp_bucket = stack.s3_bucket().await;
    let bucket = stack.bucket(&temp_bucket.name);
    let store = store(&db, 100).await;
    let put = |key: String, body: String| {
        let bucket = bucket.clone();
        async move {
            bucket
                .put(&key, Bytes::from(body), "text/csv")
                .await
                .unwrap();
        }
    };
    for (version, seed) in [("2026-11-20", 16), ("2026-11-21", 17)] {
        put(
            format!("models/{version}/model.json"),
            model_json(version, DIM),
        )
        .await;
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
    let artifacts = ModelArtifacts::new(bucket.clone(), ModelPrefix::new("models"));
    let loader = Loader::new(&store);
    let report = loader.load_from(&artifacts, None).await.unwrap();
    assert_eq!(report.model_version, "2026-11-21");
    let report = loader
        .load_from(&artifacts, Some("2026-11-20"))
        .await
        .unwrap();
    assert_eq!(report.item_rows, 100);
    assert_eq!(
        store.active_version().await.unwrap().unwrap().model_version,
        "2026-11-20"
    );
    let err = loader
        .load_from(&artifacts, Some("missing"))
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "model version missing has no model.json (s3://{}/models/missing/model.json): \
             train it first (`reco train`), or name a trained version with --model",
            temp_bucket.name
        )
    );
}

/// The part of `model.json` the loader reads (the towers are the trainer's business).
fn model_json(version: &str, dim: usize) -> String {
    format!(
        r#"{{"format_version":1,"model_version":"{version}","dim":{dim},"factors":{}}}"#,
        dim - 1
    )
}

/// A version without `model.json`, or whose `model.json` declares another dimension, is
/// refused before the database is touched: the active version and the metadata are unchanged,
/// no versioned table is created.
#[tokio::test]
async fn versions_without_a_matching_model_are_refused_before_the_database() {
    let stack = LocalStack::get();
    let db = stack.pg_database().await;
    let temp_bucket = stack.s3_bucket().await;
    let bucket = stack.bucket(&temp_bucket.name);
    let store = store(&db, 100).await;
    let put = |key: String, body: String| {
        let bucket = bucket.clone();
        async move {
            bucket
                .put(&key, Bytes::from(body), "text/csv")
                .await
                .unwrap();
        }
    };
    for version in ["good", "untrained", "skewed"] {
        put(
            format!("models/{version}/item_embeddings.csv"),
            items_csv("P", &vectors(50, 4, 3)),
        )
        .await;
        put(
            format!("models/{version}/user_embeddings.csv"),
            users_csv(4, 3),
        )
        .await;
    }
    put("models/good/model.json".into(), model_json("good", DIM)).await;
    put(
        "models/skewed/model.json".into(),
        model_json("skewed", DIM + 8),
    )
    .await;
    put(
        "models/nofiles/model.json".into(),
        model_json("nofiles", DIM),
    )
    .await;
    let artifacts = ModelArtifacts::new(bucket.clone(), ModelPrefix::new("models"));
    let loader = Loader::new(&store);
    let good = loader.load_from(&artifacts, Some("good")).await.unwrap();

    let tables = || async {
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let versions: i64 = sqlx::query_scalar("SELECT count(*) FROM reco_embedding_versions")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        (tables, versions)
    };
    let before = tables().await;
    let untrained = loader
        .load_from(&artifacts, Some("untrained"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &untrained,
            LoadError::VersionIncomplete {
                file: "model.json",
                ..
            }
        ),
        "{untrained}"
    );
    assert!(
        untrained
            .to_string()
            .starts_with("model version untrained has no model.json")
    );
    let skewed = loader
        .load_from(&artifacts, Some("skewed"))
        .await
        .unwrap_err();
    assert_eq!(
        skewed.to_string(),
        format!(
            "model version skewed: model.json has dimension {} but s3://{}/models/skewed/item_embeddings.csv \
             has {DIM}: the files do not belong together; train the version again (`reco train`)",
            DIM + 8,
            temp_bucket.name
        )
    );
    let nofiles = loader
        .load_from(&artifacts, Some("nofiles"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &nofiles,
            LoadError::VersionIncomplete {
                file: "item_embeddings.csv",
                ..
            }
        ),
        "{nofiles}"
    );
    assert_eq!(tables().await, before);
    let active = store.active_version().await.unwrap().unwrap();
    assert_eq!(active.model_version, "good");
    assert_eq!(active.embedding_version, good.embedding_version);
}

/// The cold-start flag of every item of the active version, by id.
async fn cold_flags(store: &VectorStore) -> Vec<(String, bool)> {
    let active = store.active_version().await.unwrap().unwrap();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id::text, cold FROM {} ORDER BY id",
        reco_vector_store::schema::item_table(&active.embedding_version)
    )))
    .fetch_all(store.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn the_cold_start_flag_is_stored_and_files_without_it_load_as_not_cold() {
    let stack = LocalStack::get();
    let db = stack.pg_database().await;
    let store = store(&db, 100).await;
    let vs = vectors(6, 2, 21);
    let plain = items_csv("P", &vs);
    // The trainer's layout: a third column, true for products nobody rated.
    let mut flagged = String::from("id,embedding,cold\n");
    for (i, v) in vs.iter().enumerate() {
        flagged.push_str(&format!("P{i:05},\"{}\",{}\n", literal(v), i % 3 == 0));
    }
    let users = users_csv(4, 22);

    Loader::new(&store)
        .load_version(source("flagged", &flagged, &users))
        .await
        .unwrap();
    let expected: Vec<(String, bool)> = (0..6).map(|i| (format!("P{i:05}"), i % 3 == 0)).collect();
    assert_eq!(cold_flags(&store).await, expected);
    // The readers' view keeps its two columns whatever the file held.
    let view_columns: Vec<String> = sqlx::query_scalar(
        "SELECT attname::text FROM pg_attribute WHERE attrelid = 'item_emb'::regclass \
         AND attnum > 0 ORDER BY attnum",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(view_columns, ["id", "embedding"]);

    Loader::new(&store)
        .load_version(source("plain", &plain, &users))
        .await
        .unwrap();
    assert!(cold_flags(&store).await.iter().all(|(_, cold)| !cold));

    let bad_flag = flagged.replacen(",true\n", ",maybe\n", 1);
    let err = Loader::new(&store)
        .load_version(source("bad", &bad_flag, &users))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("item_embeddings.csv:2:") && err.contains("neither true nor false"),
        "{err}"
    );
    let flagged_users = users.replacen("id,embedding", "id,embedding,cold", 1);
    let err = Loader::new(&store)
        .load_version(source("bad", &flagged, &flagged_users))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("user_embeddings.csv") && err.contains("no cold-start flag"),
        "{err}"
    );
    assert_eq!(
        store.active_version().await.unwrap().unwrap().model_version,
        "plain"
    );

    // sql/embeddings.sql reads the flag too, and still loads files without it.
    let dir = std::env::temp_dir()
        .join(unique_name("reco-emb-", '-'))
        .join("v-psql-cold");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("user_embeddings.csv"), &users).unwrap();
    let script = stack.root().join("sql/embeddings.sql");
    for (items, flags) in [
        (&flagged, expected.clone()),
        (
            &plain,
            expected.iter().map(|(id, _)| (id.clone(), false)).collect(),
        ),
    ] {
        std::fs::write(dir.join("item_embeddings.csv"), items).unwrap();
        let out = std::process::Command::new("psql")
            .arg(&db.url)
            .args(["-X", "-v"])
            .arg(format!("dir={}", dir.display()))
            .arg("-f")
            .arg(&script)
            .output()
            .expect("cannot run psql");
        assert!(
            out.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(cold_flags(&store).await, flags);
    }
    std::fs::remove_dir_all(dir.parent().unwrap()).ok();
}
