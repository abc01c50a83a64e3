//! Item cold start through the real path: a product added to the source catalogue with no
//! rating -> `reco etl` (snapshot + product catalogue in the lake) -> training (the catalogue's
//! unrated products embedded by the item tower, flagged cold) -> embeddings files -> the
//! loader -> pgvector -> similar-items k-NN queries, where the new product shows up for items
//! of its product line.
#![cfg(feature = "integration")]

use std::collections::BTreeMap;
use std::str::FromStr;

use reco_domain::artifacts::ModelPrefix;
use reco_etl::catalog::TrainingCatalog;
use reco_etl::generate::{GenerateSpec, generate};
use reco_etl::{EtlConfig, run_etl};
use reco_testkit::{LocalStack, unique_name};
use reco_train::config::JobConfig;
use reco_train::{job, publish, read};
use reco_vector_loader::{Loader, ModelArtifacts};
use reco_vector_store::{KnnRequest, StoreOptions, VectorStore, schema};
use sqlx::mysql::MySqlConnectOptions;

/// The product added after the data was generated: nobody rated it.
const NEW_PRODUCT: &str = "S18_99999";
/// Neighbours asked per similar-items query.
const K: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_unrated_product_is_recommended_next_to_its_product_line_after_training() {
    let stack = LocalStack::get();
    let mysql = stack.mysql_database().await;
    let lake_bucket = stack.s3_bucket().await;
    let artifacts_bucket = stack.s3_bucket().await;
    let pg = stack.pg_database().await;
    let glue_db = unique_name("reco_t_cold_", '_');
    let glue = aws_sdk_glue::Client::new(&stack.sdk_config().await);
    glue.create_database()
        .database_input(
            aws_sdk_glue::types::DatabaseInput::builder()
                .name(&glue_db)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let result = async {
        // A generated classicmodels-shaped source (taste follows product lines), then a new
        // product of the best-stocked line, unrated.
        let options = MySqlConnectOptions::from_str(&mysql.url).unwrap();
        generate(
            &options,
            GenerateSpec {
                customers: 400,
                products: 60,
                ratings: 8_000,
                seed: 11,
            },
        )
        .await
        .unwrap();
        let pool = sqlx::MySqlPool::connect(&mysql.url).await.unwrap();
        let (line, scale): (String, String) = sqlx::query_as(
            "SELECT productLine, MIN(productScale) FROM products GROUP BY productLine \
             ORDER BY COUNT(*) DESC, productLine LIMIT 1",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO products (productCode, productName, productLine, productScale, \
             productVendor, productDescription, quantityInStock, buyPrice, MSRP) \
             VALUES (?, 'Cold Start Special', ?, ?, 'New Vendor', 'Just added', 500, 40.00, 80.00)",
        )
        .bind(NEW_PRODUCT)
        .bind(&line)
        .bind(&scale)
        .execute(&pool)
        .await
        .unwrap();
        let lines: BTreeMap<String, String> =
            sqlx::query_as("SELECT productCode, productLine FROM products")
                .fetch_all(&pool)
                .await
                .unwrap()
                .into_iter()
                .collect();

        // The next ETL run and training.
        let lake = stack.bucket(&lake_bucket.name);
        let catalog = TrainingCatalog::new(glue.clone(), &glue_db, "training_ratings");
        run_etl(
            &pool,
            &lake,
            &catalog,
            &EtlConfig::new("2026-12-01".parse().unwrap()),
        )
        .await
        .unwrap();
        let (rows, source) = read::read_snapshot(&lake, "2026-12-01").await.unwrap();
        assert!(rows.iter().all(|r| r.product_code != NEW_PRODUCT));
        let catalogue = publish::read_catalogue(&lake).await.unwrap();
        assert_eq!(catalogue.len(), lines.len());
        let artifacts = stack.bucket(&artifacts_bucket.name);
        let config = JobConfig {
            min_ndcg: 0.0,
            max_ndcg_drop: None,
            ..JobConfig::default()
        };
        let report =
            job::run_with_catalogue(rows, catalogue, source, &artifacts, &config, 1_796_000_000)
                .await
                .unwrap();
        assert!(report.metrics.gate.passed, "{}", report.metrics.gate.reason);

        // Embeddings files -> loader -> pgvector.
        let store = VectorStore::connect(&pg.url, StoreOptions::for_cli())
            .await
            .unwrap();
        let loaded = Loader::new(&store)
            .load_from(
                &ModelArtifacts::new(artifacts, ModelPrefix::default()),
                None,
            )
            .await
            .unwrap();
        assert_eq!(loaded.model_version, report.model_version);
        assert_eq!(
            loaded.item_rows as usize,
            lines.len(),
            "every catalogue product"
        );
        let cold: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT id::text FROM {} WHERE {} ORDER BY id",
            schema::item_table(&loaded.embedding_version),
            schema::COLD_COLUMN
        )))
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert!(cold.contains(&NEW_PRODUCT.to_owned()), "{cold:?}");

        // Similar items of every other product: how often the new one is among the top K,
        // per product line.
        let others: Vec<&String> = lines.keys().filter(|c| *c != NEW_PRODUCT).collect();
        let requests: Vec<KnnRequest> = others
            .iter()
            .map(|c| KnnRequest::SimilarTo {
                item_ids: vec![(*c).clone()],
                exclude: vec![],
            })
            .collect();
        let answers = store.knn_batch(&requests, K).await.unwrap();
        let mut shown: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for (code, answer) in others.iter().zip(&answers) {
            let entry = shown.entry(lines[*code].as_str()).or_default();
            entry.1 += 1;
            if answer.iter().any(|s| s.id == NEW_PRODUCT) {
                entry.0 += 1;
            }
        }
        let own = *shown.get(line.as_str()).unwrap();
        eprintln!("new product of {line:?} among the top {K} similar items, per line: {shown:?}");
        // And the new product's own neighbours.
        let own_neighbours = store
            .knn_batch(
                &[KnnRequest::SimilarTo {
                    item_ids: vec![NEW_PRODUCT.to_owned()],
                    exclude: vec![],
                }],
                K,
            )
            .await
            .unwrap();
        let same_line = own_neighbours[0]
            .iter()
            .filter(|s| lines[&s.id] == line)
            .count();
        eprintln!("neighbours of the new product in its line: {same_line} of {K}");
        // Shown for most items of its line, for no other line more often, and near its line.
        assert!(
            2 * own.0 >= own.1,
            "similar to few items of its line: {shown:?}"
        );
        for (other, (hits, total)) in &shown {
            assert!(
                *hits as f64 / *total as f64 <= own.0 as f64 / own.1 as f64,
                "shown more often for {other:?} than for its own line: {shown:?}"
            );
        }
        assert!(
            2 * same_line > K,
            "{same_line} of its {K} neighbours in its line"
        );
    }
    .await;
    glue.delete_database().name(&glue_db).send().await.ok();
    result
}
