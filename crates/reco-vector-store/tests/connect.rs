//! How many connections a store opens at start, against the local PostgreSQL (verify-full TLS
//! with the local CA), each test in its own database: the function's store
//! (`connect_target`) opens its whole pool at once (ready with the first connection, the
//! others opening meanwhile), so no query of its warm-up or first batch opens one of its own;
//! a CLI store (`connect_with`) opens one.
#![cfg(feature = "integration")]

use std::str::FromStr;

use reco_config::groups::PgTarget;
use reco_testkit::LocalStack;
use reco_vector_store::{StoreOptions, VectorStore};
use sqlx::postgres::PgConnectOptions;

/// Backends of this test's database other than the asking one.
async fn sessions(store: &VectorStore) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND backend_type = 'client backend'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn the_functions_store_opens_its_whole_pool_at_connect_and_never_more() {
    let stack = LocalStack::get();
    let db = stack.pg_database().await;
    let sdk = stack.sdk_config().await;
    let options = StoreOptions::for_lambda();
    let max = options.max_connections;
    assert!(max >= 2, "the function's pool has {max} connection(s)");
    let store = VectorStore::connect_target(&PgTarget::Url(db.url.clone()), &sdk, options)
        .await
        .unwrap();
    assert_eq!(store.pool().size(), max, "connections open after connect");
    // The store is ready with its first connection; the others finish opening meanwhile.
    let waiting = std::time::Instant::now();
    while sessions(&store).await < i64::from(max) {
        assert!(
            waiting.elapsed() < std::time::Duration::from_secs(10),
            "the pool's other connections did not open within 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // Queries one after the other (as the warm-up's) find a pooled connection each time.
    for _ in 0..5 {
        assert!(store.active_version().await.unwrap().is_none());
    }
    assert_eq!(store.pool().size(), max);
    assert_eq!(sessions(&store).await, i64::from(max));
}

#[tokio::test]
async fn a_cli_store_opens_one_connection_and_a_refused_target_fails_the_connect() {
    let stack = LocalStack::get();
    let db = stack.pg_database().await;
    let options = PgConnectOptions::from_str(&db.url).unwrap();
    let store = VectorStore::connect_with(options.clone(), StoreOptions::for_cli())
        .await
        .unwrap();
    assert_eq!(store.pool().size(), 1);

    // No connection of the function's pool opens: the connect fails with the server's refusal.
    let sdk = stack.sdk_config().await;
    let mut wrong = db.url.clone();
    wrong = wrong.replacen(
        &format!("/{}", options.get_database().unwrap()),
        "/reco_no_such_database_d",
        1,
    );
    let err = VectorStore::connect_target(&PgTarget::Url(wrong), &sdk, StoreOptions::for_lambda())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("reco_no_such_database_d"), "{err}");
}
