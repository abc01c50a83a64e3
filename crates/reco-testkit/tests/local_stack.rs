//! Proves the local stack is real: MariaDB, PostgreSQL + pgvector with an HNSW index, and
//! S3 + Kinesis on the emulator through the Rust AWS SDK, using the settings in `.local/env`.
#![cfg(feature = "integration")]

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{ShardIteratorType, StreamStatus};
use reco_testkit::{LocalStack, unique_name};
use sqlx::{Connection, Row};

#[tokio::test]
async fn mariadb_stores_and_returns_rows() {
    let db = LocalStack::get().mysql_database().await;
    let mut conn = sqlx::MySqlConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE ratings (customerNumber INT NOT NULL, productCode VARCHAR(15) NOT NULL, \
         productRating TINYINT NOT NULL, PRIMARY KEY (customerNumber, productCode));
         INSERT INTO ratings VALUES (103, 'S10_1678', 4), (103, 'S10_1949', 2), (112, 'S10_1678', 5);",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, CAST(SUM(productRating) AS SIGNED) AS total FROM ratings WHERE productCode = ?",
    )
    .bind("S10_1678")
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(row.get::<i64, _>("n"), 2);
    assert_eq!(row.get::<i64, _>("total"), 9);
    let version: String = sqlx::query_scalar("SELECT VERSION()")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(version.contains("MariaDB"), "{version}");
}

#[tokio::test]
async fn pgvector_hnsw_index_finds_the_nearest_neighbour() {
    let db = LocalStack::get().pg_database().await;
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let version: String =
        sqlx::query_scalar("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    let parts: Vec<u32> = version.split('.').map(|p| p.parse().unwrap()).collect();
    assert!(parts[0] > 0 || parts[1] >= 8, "pgvector {version} < 0.8");
    sqlx::raw_sql(
        "CREATE TABLE item_emb (id varchar PRIMARY KEY, embedding vector(3) NOT NULL);
         INSERT INTO item_emb VALUES ('a', '[1,0,0]'), ('b', '[0,1,0]'), ('c', '[0,0,1]'), ('d', '[0.7,0.7,0]');
         CREATE INDEX item_emb_hnsw ON item_emb USING hnsw (embedding vector_cosine_ops);",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    // Tiny tables would be sequentially scanned; forbid that so the index answers.
    sqlx::raw_sql("SET enable_seqscan = off")
        .execute(&mut conn)
        .await
        .unwrap();
    let nearest = "SELECT id FROM item_emb ORDER BY embedding <=> '[0.1,0.9,0.05]' LIMIT 1";
    let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("EXPLAIN {nearest}")))
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert!(
        plan.iter().any(|l| l.contains("item_emb_hnsw")),
        "plan does not use the HNSW index: {plan:?}"
    );
    let id: String = sqlx::query_scalar(nearest)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(id, "b");
}

#[tokio::test]
async fn s3_object_round_trips_on_the_emulator() {
    let stack = LocalStack::get();
    assert!(
        stack
            .setting("AWS_ENDPOINT_URL")
            .starts_with("http://127.0.0.1:")
    );
    let bucket = stack.s3_bucket().await;
    let body = "id,embedding\nS10_1678,\"[1,2,3]\"\n";
    bucket
        .client()
        .put_object()
        .bucket(&bucket.name)
        .key("models/v1/item_embeddings.csv")
        .body(body.as_bytes().to_vec().into())
        .send()
        .await
        .unwrap();
    let got = bucket
        .client()
        .get_object()
        .bucket(&bucket.name)
        .key("models/v1/item_embeddings.csv")
        .send()
        .await
        .unwrap();
    let bytes = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(std::str::from_utf8(&bytes).unwrap(), body);
}

#[tokio::test]
async fn kinesis_record_round_trips_on_the_emulator() {
    let stack = LocalStack::get();
    let kinesis = aws_sdk_kinesis::Client::new(&stack.sdk_config().await);
    let stream = unique_name("reco-t-", '-');
    kinesis
        .create_stream()
        .stream_name(&stream)
        .shard_count(1)
        .send()
        .await
        .unwrap();
    let result = async {
        for _ in 0..100 {
            let status = kinesis
                .describe_stream_summary()
                .stream_name(&stream)
                .send()
                .await?
                .stream_description_summary
                .map(|s| s.stream_status);
            if status == Some(StreamStatus::Active) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let event = br#"{"session_id":"s1","customer_number":103}"#;
        let put = kinesis
            .put_record()
            .stream_name(&stream)
            .partition_key("103")
            .data(Blob::new(event.to_vec()))
            .send()
            .await?;
        let iterator = kinesis
            .get_shard_iterator()
            .stream_name(&stream)
            .shard_id(put.shard_id())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await?
            .shard_iterator
            .expect("shard iterator");
        let records = kinesis
            .get_records()
            .shard_iterator(iterator)
            .send()
            .await?
            .records;
        Ok::<_, Box<dyn std::error::Error>>((records, event.to_vec()))
    }
    .await;
    kinesis
        .delete_stream()
        .stream_name(&stream)
        .send()
        .await
        .unwrap();
    let (records, event) = result.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].data.as_ref(), event.as_slice());
}
