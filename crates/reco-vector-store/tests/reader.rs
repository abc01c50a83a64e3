//! The reader against the local PostgreSQL + pgvector (and Secrets Manager on the emulator):
//! batched k-NN equal to an exact search, exclusions returning k, index plans, the in-memory
//! catalogue, error classes, and connect options from an RDS secret. Versions are loaded with
//! `reco-vector-loader`.
#![cfg(feature = "integration")]

#[path = "../../reco-vector-loader/tests/support/mod.rs"]
mod support;

use reco_config::groups::PgTarget;
use reco_testkit::{LocalStack, unique_name};
use reco_vector_loader::Loader;
use reco_vector_store::{KnnRequest, StoreError, StoreOptions, VectorStore};
use support::{DIM, items_csv, source, store, users_csv, vectors};

#[tokio::test]
async fn batched_knn_equals_exact_search_and_every_subquery_uses_the_index() {
    let db = LocalStack::get().pg_database().await;
    let store = store(&db, 200).await;
    assert_eq!(store.active_version().await.unwrap(), None);
    let item_vectors = vectors(3000, 30, 1);
    let items = items_csv("P", &item_vectors);
    let users = users_csv(50, 2);
    let report = Loader::new(&store)
        .load_version(source("m1", &items, &users))
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
    let report = Loader::new(&store)
        .load_version(source(
            "m1",
            &items_csv("P", &vectors(20_000, 50, 20)),
            &users_csv(5, 21),
        ))
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
    Loader::new(&loader)
        .load_version(source("m1", &items, &users_csv(5, 5)))
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
    Loader::new(&store)
        .load_version(source(
            "m",
            &items_csv("P", &vectors(50, 2, 18)),
            &users_csv(2, 19),
        ))
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
    let target = PgTarget::Secret {
        arn: arn.clone(),
        host: "db.internal".to_owned(),
        port: reco_config::groups::DEFAULT_PG_PORT,
        database: "reco".to_owned(),
        ca: reco_config::DbCa::Rds,
    };
    let result = reco_vector_store::connect_options(&target, &config).await;
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
    // TLS verified: the chain against the RDS CA bundle and the host name.
    assert!(matches!(
        options.get_ssl_mode(),
        sqlx::postgres::PgSslMode::VerifyFull
    ));
    // A secret that is gone: the error names it and the variable that points at it.
    let err = reco_vector_store::connect_options(&target, &config)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&arn) && err.contains("RECO_PG_SECRET_ARN"),
        "{err}"
    );
    // The secret without a host never gets this far: the configuration names what is missing.
    let args = reco_config::PgArgs {
        secret_arn: Some(arn),
        database: Some("reco".to_owned()),
        ..reco_config::PgArgs::default()
    };
    let err = args.target().unwrap_err().to_string();
    assert!(err.contains("RECO_PG_HOST"), "{err}");
}

#[tokio::test]
async fn a_version_batch_reads_that_version_and_a_nul_id_is_a_bad_request() {
    let db = LocalStack::get().pg_database().await;
    let store = store(&db, 100).await;
    let first = Loader::new(&store)
        .load_version(source(
            "m1",
            &items_csv("A", &vectors(40, 2, 21)),
            &users_csv(2, 22),
        ))
        .await
        .unwrap()
        .embedding_version;
    let request = |exclude: &str| KnnRequest::ByVector {
        vector: vec![0.5; DIM],
        exclude: vec![exclude.to_owned()],
    };
    let answers = store
        .knn_batch_in_version(&first, &[request("A00000")], 5)
        .await
        .unwrap();
    assert_eq!(answers[0].len(), 5);
    assert!(
        answers[0]
            .iter()
            .all(|i| i.id.starts_with('A') && i.id != "A00000")
    );

    // PostgreSQL cannot take a NUL byte in text (SQLSTATE 22021): the whole statement is
    // refused as a bad request, not as an unreachable database, whichever request holds it.
    let nul = store
        .knn_batch_in_version(&first, &[request("A00001"), request("A\0")], 5)
        .await
        .unwrap_err();
    assert!(
        matches!(nul, StoreError::BadRequest { .. }) && !nul.is_retryable(),
        "{nul:?}"
    );
    assert!(nul.to_string().contains("0x00"), "{nul}");

    // A newer load re-points the view and drops the first version's table: a batch asking
    // for the first version fails as such instead of reading the second one's items.
    let second = Loader::new(&store)
        .load_version(source(
            "m2",
            &items_csv("B", &vectors(40, 2, 23)),
            &users_csv(2, 24),
        ))
        .await
        .unwrap()
        .embedding_version;
    let gone = store
        .knn_batch_in_version(&first, &[request("A00000")], 5)
        .await
        .unwrap_err();
    assert!(matches!(gone, StoreError::NoActiveVersion), "{gone:?}");
    let answers = store
        .knn_batch_in_version(&second, &[request("B00000")], 5)
        .await
        .unwrap();
    assert!(
        answers[0].iter().all(|i| i.id.starts_with('B')),
        "{answers:?}"
    );
    let refused = store
        .knn_batch_in_version("item_emb; --", &[request("B00000")], 5)
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("not an embedding version"),
        "{refused}"
    );
}
