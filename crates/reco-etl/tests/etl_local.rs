//! The ETL against the local stack: real MariaDB, S3 and Glue on moto.
#![cfg(feature = "integration")]

mod support;

use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Decimal128Type, Int8Type, Int16Type, Int32Type};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use reco_aws::Bucket;
use reco_domain::training::{SnapshotDate, snapshot_prefix, training_schema};
use reco_etl::catalog::{PARQUET_SERDE, TrainingCatalog};
use reco_etl::classicmodels::load_classicmodels;
use reco_etl::generate::{GenerateSpec, generate};
use reco_etl::pipeline::{RejectReason, read_manifest};
use reco_etl::source_check::SchemaProblem;
use reco_etl::sql_script::decode_script;
use reco_etl::{EtlConfig, EtlError, run_etl, source_db};
use reco_testkit::{LocalStack, TempBucket, TempDatabase, unique_name};
use sqlx::MySqlPool;
use sqlx::mysql::MySqlConnectOptions;
use support::FailingStore;

struct Fixture {
    db: TempDatabase,
    bucket: TempBucket,
    lake: Bucket,
    catalog: TrainingCatalog,
    glue: aws_sdk_glue::Client,
    glue_database: String,
}

impl Fixture {
    async fn new() -> Self {
        let stack = LocalStack::get();
        let db = stack.mysql_database().await;
        let bucket = stack.s3_bucket().await;
        let sdk = stack.sdk_config().await;
        let glue = aws_sdk_glue::Client::new(&sdk);
        let glue_database = unique_name("reco_t_", '_');
        let catalog = TrainingCatalog::new(glue.clone(), &glue_database, "training_ratings");
        let lake = stack.bucket(&bucket.name);
        Self {
            db,
            bucket,
            lake,
            catalog,
            glue,
            glue_database,
        }
    }

    fn options(&self) -> MySqlConnectOptions {
        self.db.url.parse().unwrap()
    }

    async fn pool(&self) -> MySqlPool {
        source_db::connect(self.options()).await.unwrap()
    }

    async fn cleanup(self) {
        let _ = self
            .glue
            .delete_database()
            .name(&self.glue_database)
            .send()
            .await;
        drop(self.bucket);
        drop(self.db);
    }
}

async fn read_parts(lake: &Bucket, keys: &[String]) -> Vec<RecordBatch> {
    let mut batches = Vec::new();
    for key in keys {
        let body = lake.get(key).await.unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(body)
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            assert_eq!(batch.schema(), training_schema(), "file schema of {key}");
            batches.push(batch);
        }
    }
    batches
}

/// The source join of one rating, as text where the Parquet side is decimal.
type SourceJoinRow = (
    i64,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
    String,
    String,
    i64,
    String,
    String,
    i64,
);

fn snapshot(s: &str) -> SnapshotDate {
    s.parse().unwrap()
}

#[tokio::test]
async fn classicmodels_end_to_end_registers_glue_and_reruns_idempotently() {
    let f = Fixture::new().await;
    let dump = decode_script(
        &std::fs::read(
            LocalStack::get()
                .root()
                .join("../shared/data/classicmodels.sql"),
        )
        .unwrap(),
    );
    let loaded = load_classicmodels(&f.options(), "classicmodels.sql", &dump)
        .await
        .unwrap();
    assert_eq!(
        (
            loaded.ratings,
            loaded.rated_customers,
            loaded.rated_products
        ),
        (2532, 98, 109)
    );
    let pool = f.pool().await;
    // The dump's `USE classicmodels` was not followed: the tables are in the test database.
    let (products,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM products")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(products, 110);

    let day = snapshot("2025-06-30");
    let report = run_etl(&pool, &f.lake, &f.catalog, &EtlConfig::new(day))
        .await
        .unwrap();
    assert_eq!(
        (report.rows_read, report.rows_joined, report.rows_written),
        (2532, 2532, 2532)
    );
    assert_eq!(report.rejected_total(), 0);
    let manifest = read_manifest(&f.lake, day)
        .await
        .unwrap()
        .expect("manifest published");
    assert_eq!(manifest, report.manifest);
    // The storefront's catalogue: every product with its name, line and MSRP.
    let catalogue = reco_domain::serving::ProductCatalogue::from_json_slice(
        &f.lake
            .get(reco_domain::serving::CATALOGUE_KEY)
            .await
            .expect("catalogue written"),
    )
    .unwrap();
    assert_eq!(catalogue.len(), 110);
    let harley = catalogue
        .get("S10_1678")
        .expect("S10_1678 in the catalogue");
    assert_eq!(
        (
            harley.name.as_str(),
            harley.product_line.as_str(),
            harley.msrp_cents
        ),
        ("1969 Harley Davidson Ultimate Chopper", "Motorcycles", 9570)
    );
    let keys: Vec<String> = manifest.files.iter().map(|p| p.key.clone()).collect();
    let batches = read_parts(&f.lake, &keys).await;
    assert_eq!(
        batches.iter().map(RecordBatch::num_rows).sum::<usize>(),
        2532
    );

    // Spot check: customer 144 (Luleå, null state) and product S18_1749, against the source join.
    let expected: SourceJoinRow = sqlx::query_as(
        "SELECT CAST(c.customerNumber AS SIGNED), c.city, c.state, c.postalCode, c.country, CAST(c.creditLimit AS CHAR), \
         p.productLine, p.productScale, CAST(p.quantityInStock AS SIGNED), CAST(p.buyPrice AS CHAR), CAST(p.MSRP AS CHAR), \
         CAST(r.productRating AS SIGNED) FROM ratings r JOIN customers c USING (customerNumber) \
         JOIN products p USING (productCode) WHERE r.customerNumber = 144 ORDER BY r.productCode LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let (code,): (String,) = sqlx::query_as(
        "SELECT productCode FROM ratings WHERE customerNumber = 144 ORDER BY productCode LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let mut found = 0;
    for batch in &batches {
        let customer = batch.column(0).as_primitive::<Int32Type>();
        let product = batch.column(6).as_string::<i32>();
        for i in 0..batch.num_rows() {
            if customer.value(i) != 144 || product.value(i) != code {
                continue;
            }
            found += 1;
            let money = |col: usize| {
                let a = batch.column(col).as_primitive::<Decimal128Type>();
                a.value_as_string(i)
            };
            assert_eq!(i64::from(customer.value(i)), expected.0);
            assert_eq!(batch.column(1).as_string::<i32>().value(i), expected.1);
            assert!(
                batch.column(2).is_null(i) && expected.2.is_none(),
                "state is null as in the source"
            );
            assert_eq!(
                Some(batch.column(3).as_string::<i32>().value(i).to_owned()),
                expected.3
            );
            assert_eq!(batch.column(4).as_string::<i32>().value(i), expected.4);
            assert_eq!(money(5), expected.5);
            assert_eq!(batch.column(7).as_string::<i32>().value(i), expected.6);
            assert_eq!(batch.column(8).as_string::<i32>().value(i), expected.7);
            assert_eq!(
                i64::from(batch.column(9).as_primitive::<Int16Type>().value(i)),
                expected.8
            );
            assert_eq!(money(10), expected.9);
            assert_eq!(money(11), expected.10);
            assert_eq!(
                i64::from(batch.column(12).as_primitive::<Int8Type>().value(i)),
                expected.11
            );
        }
    }
    assert_eq!(found, 1, "exactly one row for (144, {code})");

    // Glue: table with columns, types, partition key, Parquet SerDe; partition at the run.
    let table = f
        .glue
        .get_table()
        .database_name(&f.glue_database)
        .name("training_ratings")
        .send()
        .await
        .unwrap();
    let table = table.table().unwrap();
    let sd = table.storage_descriptor().unwrap();
    let columns: Vec<String> = sd
        .columns()
        .iter()
        .map(|c| format!("{}:{}", c.name(), c.r#type().unwrap_or("")))
        .collect();
    assert_eq!(columns[0], "customer_number:int");
    assert_eq!(columns[5], "credit_limit:decimal(10,2)");
    assert_eq!(columns[12], "rating:tinyint");
    assert_eq!(columns[13], "source:string");
    assert_eq!(columns[14], "event_weight:double");
    assert_eq!(columns.len(), 15);
    assert_eq!(table.partition_keys()[0].name(), "snapshot");
    assert_eq!(
        sd.serde_info().unwrap().serialization_library(),
        Some(PARQUET_SERDE)
    );
    assert_eq!(
        sd.location(),
        Some(format!("s3://{}/training_ratings/", f.bucket.name).as_str())
    );
    assert_eq!(
        f.catalog.partition_location(day).await.unwrap(),
        Some(manifest.location.clone())
    );

    // Re-run: replaces the snapshot (new run, old run's files gone, no duplicates).
    let again = run_etl(&pool, &f.lake, &f.catalog, &EtlConfig::new(day))
        .await
        .unwrap();
    assert_ne!(again.manifest.run_id, manifest.run_id);
    assert_eq!(again.rows_written, 2532);
    assert_eq!(again.old_objects_deleted, 1);
    let listed = f.lake.list(&snapshot_prefix(day)).await.unwrap();
    let mut expected_keys: Vec<String> =
        again.manifest.files.iter().map(|p| p.key.clone()).collect();
    expected_keys.push(format!("{}_manifest.json", snapshot_prefix(day)));
    expected_keys.sort();
    assert_eq!(listed, expected_keys);
    assert_eq!(
        f.catalog.partition_location(day).await.unwrap(),
        Some(again.manifest.location.clone())
    );
    let partitions = f
        .glue
        .get_partitions()
        .database_name(&f.glue_database)
        .table_name("training_ratings")
        .send()
        .await
        .unwrap();
    assert_eq!(partitions.partitions().len(), 1);
    f.cleanup().await;
}

#[tokio::test]
async fn synthetic_round_trip_counts_orphans_and_keeps_nulls() {
    let f = Fixture::new().await;
    let spec = GenerateSpec {
        customers: 60,
        products: 40,
        ratings: 900,
        seed: 7,
    };
    let checksum = "SELECT CAST(COUNT(*) AS SIGNED), CAST(SUM(CRC32(CONCAT_WS('|', customerNumber, productCode, productRating))) AS SIGNED) FROM ratings";
    let report = generate(&f.options(), spec).await.unwrap();
    assert_eq!(report.ratings, 900);
    let pool = f.pool().await;
    let first: (i64, i64) = sqlx::query_as(checksum).fetch_one(&pool).await.unwrap();
    generate(&f.options(), spec).await.unwrap();
    let second: (i64, i64) = sqlx::query_as(checksum).fetch_one(&pool).await.unwrap();
    assert_eq!(first, second, "same seed, same ratings");
    let (distinct_ratings, null_states): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(DISTINCT productRating) FROM ratings), \
         (SELECT COUNT(*) FROM ratings r JOIN customers c USING (customerNumber) WHERE c.state IS NULL)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(distinct_ratings >= 4, "ratings spread over the scale");
    assert!(null_states > 0, "generated data has null states");

    // Orphans: a rating of an unknown customer, of an unknown product, of neither.
    let (known,): (String,) = sqlx::query_as("SELECT MIN(productCode) FROM products")
        .fetch_one(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO ratings VALUES (999999, ?, 3), (100, 'NO_SUCH', 4), (888888, 'NOPE', 5)",
    )
    .bind(&known)
    .execute(&pool)
    .await
    .unwrap();
    let day = snapshot("2025-07-01");
    let config = EtlConfig {
        part_rows: 400,
        row_group_rows: 128,
        ..EtlConfig::new(day)
    };
    let etl = run_etl(&pool, &f.lake, &f.catalog, &config).await.unwrap();
    assert_eq!(
        (etl.rows_read, etl.rows_joined, etl.rows_written),
        (903, 900, 900)
    );
    assert_eq!(etl.rejected.get(&RejectReason::UnknownCustomer), Some(&1));
    assert_eq!(etl.rejected.get(&RejectReason::UnknownProduct), Some(&1));
    assert_eq!(
        etl.rejected.get(&RejectReason::UnknownCustomerAndProduct),
        Some(&1)
    );
    let mut examples: Vec<(i64, String)> = etl
        .rejected_examples
        .iter()
        .map(|r| (r.customer_number, r.product_code.clone()))
        .collect();
    examples.sort();
    assert_eq!(
        examples,
        [
            (100, "NO_SUCH".into()),
            (888888, "NOPE".into()),
            (999999, known.clone())
        ]
    );
    // Parts rotate on batch boundaries: the first batch of 128 rows that reaches 400 closes a part.
    let rows_per_file: Vec<u64> = etl.manifest.files.iter().map(|p| p.rows).collect();
    assert_eq!(rows_per_file, [512, 388]);
    let keys: Vec<String> = etl.manifest.files.iter().map(|p| p.key.clone()).collect();
    let batches = read_parts(&f.lake, &keys).await;
    assert_eq!(
        batches.iter().map(RecordBatch::num_rows).sum::<usize>(),
        900
    );
    let nulls: usize = batches.iter().map(|b| b.column(2).null_count()).sum();
    assert_eq!(nulls as i64, null_states, "state nulls preserved");
    f.cleanup().await;
}

#[tokio::test]
async fn schema_mismatch_and_missing_table_are_named() {
    let f = Fixture::new().await;
    generate(
        &f.options(),
        GenerateSpec {
            customers: 5,
            products: 5,
            ratings: 10,
            seed: 1,
        },
    )
    .await
    .unwrap();
    let pool = f.pool().await;
    sqlx::raw_sql("SET FOREIGN_KEY_CHECKS = 0; ALTER TABLE ratings DROP CONSTRAINT ratings_rating_range; ALTER TABLE ratings MODIFY productRating varchar(5) NOT NULL; DROP TABLE products")
        .execute(&pool)
        .await
        .unwrap();
    let err = run_etl(
        &pool,
        &f.lake,
        &f.catalog,
        &EtlConfig::new(snapshot("2025-01-02")),
    )
    .await
    .unwrap_err();
    let message = err.to_string();
    let EtlError::SourceSchema { problems } = err else {
        panic!("unexpected error {message}")
    };
    assert!(
        problems.contains(&SchemaProblem::MissingTable {
            table: "products".into()
        }),
        "{message}"
    );
    assert!(
        problems.iter().any(|p| matches!(p, SchemaProblem::WrongType { table, column, .. } if table == "ratings" && column == "productRating")),
        "{message}"
    );
    assert!(
        message.contains("`ratings`.`productRating` has type varchar(5)"),
        "{message}"
    );
    assert!(
        f.lake.list("").await.unwrap().is_empty(),
        "nothing written on bad input"
    );
    f.cleanup().await;
}

#[tokio::test]
async fn failed_write_leaves_the_previous_snapshot_intact() {
    let f = Fixture::new().await;
    generate(
        &f.options(),
        GenerateSpec {
            customers: 30,
            products: 30,
            ratings: 500,
            seed: 3,
        },
    )
    .await
    .unwrap();
    let pool = f.pool().await;
    let day = snapshot("2025-08-15");
    let config = EtlConfig {
        part_rows: 100,
        row_group_rows: 50,
        ..EtlConfig::new(day)
    };
    let good = run_etl(&pool, &f.lake, &f.catalog, &config).await.unwrap();
    let before = f.lake.list(&snapshot_prefix(day)).await.unwrap();
    // The same bucket, through a store whose third Parquet put fails.
    let failing = Bucket::new(
        Arc::new(FailingStore::new(Arc::clone(f.lake.store()), 2)),
        format!("s3://{}", f.bucket.name),
        &f.bucket.name,
    );
    let err = run_etl(&pool, &failing, &f.catalog, &config)
        .await
        .unwrap_err();
    assert!(matches!(err, EtlError::Store(_)), "{err}");
    assert!(err.to_string().contains("injected failure"), "{err}");
    let after = f.lake.list(&snapshot_prefix(day)).await.unwrap();
    assert_eq!(
        after, before,
        "previous run intact, failed run's parts removed"
    );
    assert_eq!(
        read_manifest(&f.lake, day).await.unwrap(),
        Some(good.manifest.clone())
    );
    assert_eq!(
        f.catalog.partition_location(day).await.unwrap(),
        Some(good.manifest.location.clone())
    );
    let keys: Vec<String> = good.manifest.files.iter().map(|p| p.key.clone()).collect();
    assert_eq!(
        read_parts(&f.lake, &keys)
            .await
            .iter()
            .map(RecordBatch::num_rows)
            .sum::<usize>(),
        500
    );
    f.cleanup().await;
}
