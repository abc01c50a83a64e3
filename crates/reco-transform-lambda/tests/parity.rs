//! Offline-online parity: for a sample of customers, the top-N the transform Lambda's handler
//! (the real `Transformer` with `PgVectorIndex` over a small catalogue, so the exact path, and
//! the model read from S3) returns for an event with no browse history is the top-N `reco
//! eval`'s scorer computes from the same model version (`reco_train::offline::rank_all`'s
//! embeddings and dot products): same items in the same order, scores within 1e-5 before the
//! record's 4-decimal rounding and equal to it after.
//!
//! The Lambda knows nothing of a customer's past ratings while the scorer leaves the customer's
//! training items out; so the comparison is made both ways: the scorer's ranking with no
//! exclusion against the Lambda's list, and `rank_all` itself against a longer Lambda list
//! with the customer's training items taken out.
#![cfg(feature = "integration")]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use reco_domain::artifacts::{MODEL_BIN_FILE, MODEL_FILE, ModelPrefix};
use reco_domain::firehose::{FirehoseEvent, FirehoseRecord, FirehoseResult};
use reco_domain::model::ModelArtifact;
use reco_domain::recommendation::{RecommendationRecord, SCORE_DECIMALS, ScoredItem, round_score};
use reco_domain::transform::{decode_record_data, prepare_batch};
use reco_testkit::LocalStack;
use reco_train::config::JobConfig;
use reco_train::evaluation::{TOP_K, top_k};
use reco_train::snapshot::{SnapshotRow, training_data};
use reco_train::towers::TrainingData;
use reco_train::{job, offline, towers};
use reco_transform_lambda::pg_index::PgVectorIndex;
use reco_transform_lambda::ports::NeighbourIndex;
use reco_transform_lambda::s3_models::S3ModelStore;
use reco_transform_lambda::{TransformOptions, Transformer};
use reco_vector_loader::{Loader, ModelArtifacts};
use reco_vector_store::{StoreOptions, VectorStore};

const CUSTOMERS: i64 = 240;
const PRODUCTS: i64 = 72;
const LINES: [&str; 4] = ["Classic Cars", "Motorcycles", "Planes", "Ships"];
const RATED_PER_CUSTOMER: i64 = 14;
/// Every sampled customer: one in this many.
const SAMPLE_EVERY: i64 = 8;
/// Largest score difference before the record's rounding.
const TOLERANCE: f32 = 1e-5;

/// Customer `c` prefers line `c % 4` (ratings 4-5) and rates the rest 1-3; features follow the
/// taste (country by line, city and credit limit spread), so the towers have signal.
fn snapshot() -> Vec<SnapshotRow> {
    let mut rows = Vec::new();
    for c in 0..CUSTOMERS {
        let taste = (c % 4) as usize;
        for j in 0..RATED_PER_CUSTOMER {
            let p = (c * 13 + j * 5) % PRODUCTS;
            let line = (p % 4) as usize;
            let rating = if line == taste {
                4 + (c + j) % 2
            } else {
                1 + (c * 3 + j) % 3
            };
            rows.push(SnapshotRow {
                customer_number: 1000 + c,
                city: Some(format!("City{}", c % 9)),
                country: Some(["France", "USA", "Japan", "Norway"][taste].to_owned()),
                credit_limit: Some(5_000.0 + 750.0 * (c % 11) as f64),
                product_code: format!("S{line}_{p:04}"),
                product_line: Some(LINES[line].to_owned()),
                product_scale: Some(["1:10", "1:18", "1:24"][(p % 3) as usize].to_owned()),
                quantity_in_stock: Some(100.0 + 37.0 * p as f64),
                buy_price: Some(20.0 + p as f64),
                msrp: Some(35.0 + 1.7 * p as f64),
                rating: rating as f64,
            });
        }
    }
    rows
}

/// The click event of `row`'s customer with no browse history, as a Firehose record.
fn record(row: &SnapshotRow) -> FirehoseRecord {
    let event = serde_json::json!({
        "session_id": format!("sess-{}", row.customer_number),
        "customer_number": row.customer_number,
        "city": row.city,
        "country": row.country,
        "credit_limit": row.credit_limit,
        "browse_history": [],
    });
    FirehoseRecord {
        record_id: row.customer_number.to_string(),
        approximate_arrival_timestamp: Some(1_763_780_000_000),
        data: BASE64.encode(serde_json::to_vec(&event).unwrap()),
        kinesis_record_metadata: None,
    }
}

fn firehose_event(records: Vec<FirehoseRecord>) -> FirehoseEvent {
    FirehoseEvent {
        invocation_id: Some("parity".into()),
        delivery_stream_arn: Some(
            "arn:aws:firehose:us-east-1:123456789012:deliverystream/t".into(),
        ),
        source_kinesis_stream_arn: None,
        region: Some("us-east-1".into()),
        records,
    }
}

/// The scorer of `reco eval` (`offline::rank_all`): every item of the version's catalogue
/// scored by the dot product of the customer's and the item's embeddings, best `k` first
/// after leaving out `exclude` (sorted item indices).
fn offline_top(
    artifact: &ModelArtifact,
    data: &TrainingData,
    user: usize,
    exclude: &[u32],
    k: usize,
) -> Vec<ScoredItem> {
    let u = towers::user_embedding(artifact, data, user);
    let scores: Vec<f32> = (0..data.interactions.items.len())
        .map(|i| {
            towers::item_embedding(artifact, data, i)
                .iter()
                .zip(&u)
                .map(|(a, b)| a * b)
                .sum()
        })
        .collect();
    top_k(&scores, exclude, k)
        .into_iter()
        .map(|i| ScoredItem {
            id: data.interactions.items[i as usize].clone(),
            score: scores[i as usize],
        })
        .collect()
}

fn ids(items: &[ScoredItem]) -> Vec<&str> {
    items.iter().map(|i| i.id.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lambda_returns_the_offline_scorers_top_n_for_events_without_history() {
    let stack = LocalStack::get();
    let pg = stack.pg_database().await;
    let temp = stack.s3_bucket().await;
    let bucket = stack.bucket(&temp.name);
    let prefix = ModelPrefix::default();

    // One model version: trained and published by the training job, loaded by the loader.
    let rows = snapshot();
    let config = JobConfig {
        min_ndcg: 0.0,
        max_ndcg_drop: None,
        ..JobConfig::default()
    };
    let report = job::run(
        rows.clone(),
        "parity-test".into(),
        &bucket,
        &config,
        1_796_000_000,
    )
    .await
    .unwrap();
    let version = report.model_version;
    let store = VectorStore::connect(&pg.url, StoreOptions::for_cli())
        .await
        .unwrap();
    let loaded = Loader::new(&store)
        .load_from(&ModelArtifacts::new(bucket.clone(), prefix.clone()), None)
        .await
        .unwrap();
    assert_eq!(loaded.model_version, version);

    // The offline side reads the same version's model.json; its catalogue is the loaded one.
    let artifact = ModelArtifact::from_json_slice(
        &bucket.get(&prefix.key(&version, MODEL_FILE)).await.unwrap(),
    )
    .unwrap();
    let data = training_data(&rows, "parity-test").unwrap();
    assert_eq!(
        loaded.item_rows as usize,
        data.interactions.items.len(),
        "every loaded item is one the scorer ranks (no cold item in this catalogue)"
    );

    let sample: Vec<&SnapshotRow> = rows
        .iter()
        .filter(|r| (r.customer_number - 1000) % SAMPLE_EVERY == 0)
        .fold(Vec::new(), |mut firsts: Vec<&SnapshotRow>, r| {
            if firsts
                .last()
                .is_none_or(|l| l.customer_number != r.customer_number)
            {
                firsts.push(r);
            }
            firsts
        });
    assert_eq!(sample.len() as i64, CUSTOMERS / SAMPLE_EVERY);
    let user_index = |number: i64| {
        data.interactions
            .users
            .iter()
            .position(|u| *u == number.to_string())
            .unwrap()
    };

    // The handler, as the Lambda builds it: small catalogue -> exact path.
    let transformer = |k: usize| {
        let options = TransformOptions {
            knn_k: k,
            exact_knn_max_items: 1_000,
            ..TransformOptions::default()
        };
        Transformer::new(
            PgVectorIndex::new(store.clone(), options.exact_knn_max_items),
            S3ModelStore::new(bucket.clone(), prefix.clone()),
            &options,
        )
    };
    let lambda_lists =
        |transformed: reco_transform_lambda::Transformed| -> Vec<RecommendationRecord> {
            transformed
                .response
                .records
                .iter()
                .map(|r| {
                    assert_eq!(r.result, FirehoseResult::Ok, "{}", r.record_id);
                    serde_json::from_slice(&decode_record_data(&r.data).unwrap()).unwrap()
                })
                .collect()
        };
    let records: Vec<FirehoseRecord> = sample.iter().map(|r| record(r)).collect();
    let lambda = transformer(TOP_K);
    let delivered = lambda_lists(
        lambda
            .transform(firehose_event(records.clone()))
            .await
            .unwrap(),
    );

    // The function's model holds the towers only: every sampled (known) customer was served
    // the vector the training stored in the version's user table.
    let function_model = ModelArtifact::from_bin_slice(
        &bucket
            .get(&prefix.key(&version, MODEL_BIN_FILE))
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(function_model.user_tower.ids.is_empty());
    let (served, _) = lambda.index().customer_vector_stats();
    assert_eq!(served.stored as usize, sample.len(), "{served:?}");

    // The same handler's k-NN answers before the records round the scores.
    let active = lambda.index().active_version().await.unwrap().unwrap();
    let queries = prepare_batch(records.clone(), &artifact).queries;
    let raw = lambda
        .index()
        .knn_batch(&active, &queries, TOP_K)
        .await
        .unwrap();

    for ((row, record), raw) in sample.iter().zip(&delivered).zip(&raw) {
        let customer = row.customer_number;
        assert_eq!(record.event.customer_number, customer);
        assert_eq!(record.model_version, version);
        assert!(record.similar_items.is_empty());
        let offline = offline_top(&artifact, &data, user_index(customer), &[], TOP_K);
        assert_eq!(
            ids(&record.recommended_items),
            ids(&offline),
            "customer {customer}"
        );
        let raw = raw.as_ref().unwrap();
        assert_eq!(ids(raw), ids(&offline), "customer {customer}, raw answer");
        let half_unit = 0.5 * 10f32.powi(-SCORE_DECIMALS);
        for ((online, raw), offline) in record.recommended_items.iter().zip(raw).zip(&offline) {
            assert!(
                (raw.score - offline.score).abs() <= TOLERANCE,
                "customer {customer} item {}: online {} offline {}",
                offline.id,
                raw.score,
                offline.score
            );
            // The record carries the score rounded to 4 decimals: the offline score's rounding
            // (or, within the tolerance of a rounding boundary, its neighbour).
            assert!(
                online.score == round_score(offline.score)
                    || (online.score - offline.score).abs() <= half_unit + TOLERANCE,
                "customer {customer} item {}: delivered {} offline {}",
                offline.id,
                online.score,
                offline.score
            );
        }
    }

    // `rank_all` itself: the customer's training items left out of a longer Lambda list.
    let ranked = offline::rank_all(&artifact, &data);
    let longer = lambda_lists(
        transformer(TOP_K + RATED_PER_CUSTOMER as usize)
            .transform(firehose_event(records))
            .await
            .unwrap(),
    );
    for (row, record) in sample.iter().zip(&longer) {
        let user = user_index(row.customer_number);
        let seen = data.interactions.by_user.row(user).0;
        let online: Vec<&str> = record
            .recommended_items
            .iter()
            .filter(|i| {
                let index = data
                    .interactions
                    .items
                    .iter()
                    .position(|x| *x == i.id)
                    .unwrap();
                !seen.contains(&(index as u32))
            })
            .take(TOP_K)
            .map(|i| i.id.as_str())
            .collect();
        let offline: Vec<&str> = ranked[user]
            .iter()
            .map(|&i| data.interactions.items[i as usize].as_str())
            .collect();
        assert_eq!(online, offline, "customer {}", row.customer_number);
        assert_eq!(
            ids(&offline_top(&artifact, &data, user, seen, TOP_K)),
            offline,
            "the scorer's building blocks are rank_all's"
        );
    }
}
