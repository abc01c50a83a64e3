//! Shared by the job tests: a classicmodels-shaped snapshot with learnable taste, and the two
//! job scenarios, run against any bucket (in memory for the unit tier, the emulator's S3 for
//! the integration tier).

pub mod gate;

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Decimal128Array, Int8Array, Int16Array, Int32Array, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Field, Schema};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use reco_aws::Bucket;
use reco_domain::artifacts::ModelPrefix;
use reco_domain::model::{CustomerFeatures, ModelArtifact};
use reco_train::TrainError;
use reco_train::config::JobConfig;
use reco_train::towers::TrainConfig;
use reco_train::tuning::TuningConfig;
use reco_train::{job, read};

/// The snapshot date the scenarios write.
pub const SNAPSHOT: &str = "2026-11-22";
const LINES: [&str; 2] = ["Classic Cars", "Ships"];
const COUNTRIES: [&str; 2] = ["France", "USA"];

/// Column vectors of the test snapshot, in schema order.
#[derive(Default)]
struct Columns(
    Vec<i32>,
    Vec<String>,
    Vec<String>,
    Vec<Option<i128>>,
    Vec<String>,
    Vec<String>,
    Vec<i16>,
    Vec<i128>,
    Vec<i8>,
);

/// A classicmodels-shaped snapshot with learnable taste: customers in France rate classic cars
/// (line 0) high and ships (line 1) low, customers in the USA the opposite; every customer rates 12 of 24 products.
pub fn snapshot_rows() -> RecordBatch {
    let mut cols = Columns::default();
    for c in 0..40i32 {
        let country = (c % 2) as usize;
        for k in 0..12i32 {
            let p = (c * 7 + k * 5) % 24;
            let line = (p % 2) as usize;
            let rating = if line == country {
                4 + (c + k) % 2
            } else {
                1 + (c + k) % 2
            };
            cols.0.push(100 + c);
            cols.1.push(format!("City{}", c % 5));
            cols.2.push(COUNTRIES[country].to_owned());
            cols.3
                .push((c % 7 != 0).then_some(i128::from(1_000_000 + c * 50_000)));
            cols.4.push(format!("S{:02}_{:04}", line, 1000 + p));
            cols.5.push(LINES[line].to_owned());
            cols.6.push(1000 + p as i16);
            cols.7.push(i128::from(2_000 + p * 150));
            cols.8.push(rating as i8);
        }
    }
    let money = DataType::Decimal128(10, 2);
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer_number", DataType::Int32, false),
        Field::new("city", DataType::Utf8, false),
        Field::new("country", DataType::Utf8, false),
        Field::new("credit_limit", money.clone(), true),
        Field::new("product_code", DataType::Utf8, false),
        Field::new("product_line", DataType::Utf8, false),
        Field::new("product_scale", DataType::Utf8, false),
        Field::new("quantity_in_stock", DataType::Int16, false),
        Field::new("buy_price", money.clone(), false),
        Field::new("msrp", money.clone(), false),
        Field::new("rating", DataType::Int8, false),
    ]));
    let n = cols.0.len();
    let dec = |v: Vec<Option<i128>>| -> ArrayRef {
        Arc::new(
            Decimal128Array::from(v)
                .with_precision_and_scale(10, 2)
                .unwrap(),
        )
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int32Array::from(cols.0)),
        Arc::new(StringArray::from(cols.1)),
        Arc::new(StringArray::from(cols.2)),
        dec(cols.3),
        Arc::new(StringArray::from(cols.4)),
        Arc::new(StringArray::from(cols.5)),
        Arc::new(StringArray::from(vec!["1:18"; n])),
        Arc::new(Int16Array::from(cols.6)),
        dec(cols.7.iter().map(|&v| Some(v)).collect()),
        dec(cols.7.iter().map(|&v| Some(v * 2)).collect()),
        Arc::new(Int8Array::from(cols.8)),
    ];
    RecordBatch::try_new(schema, columns).unwrap()
}

/// The batch as a Parquet file.
pub fn parquet_bytes(batch: &RecordBatch) -> Bytes {
    let mut buffer = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut buffer, batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
    Bytes::from(buffer)
}

/// The job's default settings with `seed`, versions under `models/`.
pub fn config(seed: u64) -> JobConfig {
    let mut train = TrainConfig::default();
    train.als.seed = seed;
    JobConfig {
        train,
        tuning: TuningConfig::default(),
        model_prefix: ModelPrefix::new("models/"),
        min_ndcg: 0.0,
        max_ndcg_drop: Some(0.10),
        promote: true,
    }
}

/// `(id, embedding)` rows of an embeddings CSV (users `id,embedding`, items
/// `id,embedding,cold` whose flag is checked to be `false`: every test product is rated),
/// checking the quoting byte for byte.
pub fn parse_csv(body: &[u8]) -> Vec<(String, Vec<f32>)> {
    let text = std::str::from_utf8(body).unwrap();
    let mut lines = text.lines();
    let flagged = match lines.next() {
        Some("id,embedding") => false,
        Some("id,embedding,cold") => true,
        other => panic!("unexpected embeddings header {other:?}"),
    };
    lines
        .map(|l| {
            let l = if flagged {
                l.strip_suffix(",false").unwrap()
            } else {
                l
            };
            let (id, vector) = l.split_once(',').unwrap();
            let inner = vector
                .strip_prefix("\"[")
                .unwrap()
                .strip_suffix("]\"")
                .unwrap();
            (
                id.to_owned(),
                inner.split(',').map(|v| v.parse().unwrap()).collect(),
            )
        })
        .collect()
}

/// A snapshot in `store` trains, publishes a version and moves `LATEST` last; a refused model
/// leaves `LATEST` alone.
pub async fn snapshot_trains_publishes_a_version_and_moves_latest_last(store: &Bucket) {
    let batch = snapshot_rows();
    store
        .put(
            &format!("training_ratings/snapshot={SNAPSHOT}/part-00000.parquet"),
            parquet_bytes(&batch),
            "application/vnd.apache.parquet",
        )
        .await
        .unwrap();

    assert_eq!(read::newest_snapshot(store).await.unwrap(), SNAPSHOT);
    let (rows, source) = read::read_snapshot(store, SNAPSHOT).await.unwrap();
    assert_eq!(rows.len(), 480);
    assert_eq!(rows[0].credit_limit, None);
    // Decimal128(10, 2) 2750 -> 27.50 (customer 100, product 5).
    assert_eq!(rows[1].buy_price, Some(27.5));

    let report = job::run(
        rows.clone(),
        source.clone(),
        store,
        &config(7),
        1_795_400_100,
    )
    .await
    .unwrap();
    let version = report.model_version.clone();
    assert_eq!(version, "20261123T021500Z-s7");
    let names: Vec<&str> = report
        .keys
        .iter()
        .map(|k| k.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "item_embeddings.csv",
            "user_embeddings.csv",
            "item_embeddings.parquet",
            "user_embeddings.parquet",
            "model.bin",
            "model.json",
            "metrics.json",
            "LATEST.model.bin",
            "LATEST"
        ]
    );
    assert_eq!(
        store.get("models/LATEST").await.unwrap(),
        version.as_bytes()
    );
    // The live copy next to LATEST is the version's model.bin.
    assert_eq!(
        store.get("models/LATEST.model.bin").await.unwrap(),
        store
            .get(&format!("models/{version}/model.bin"))
            .await
            .unwrap()
    );

    // The artifact loads as the Lambda loads it, and user CSV rows are exactly embed_customer.
    let model_json = store
        .get(&format!("models/{version}/model.json"))
        .await
        .unwrap();
    let model = ModelArtifact::from_json_slice(&model_json).unwrap();
    assert_eq!(model.dim(), 32);
    let users = parse_csv(
        &store
            .get(&format!("models/{version}/user_embeddings.csv"))
            .await
            .unwrap(),
    );
    let items = parse_csv(
        &store
            .get(&format!("models/{version}/item_embeddings.csv"))
            .await
            .unwrap(),
    );
    assert_eq!(users.len(), 40);
    assert_eq!(items.len(), 24);
    for (id, embedding) in &users {
        let number: i64 = id.parse().unwrap();
        let row = rows.iter().find(|r| r.customer_number == number).unwrap();
        let expected = model.embed_customer(&CustomerFeatures {
            customer_number: Some(number),
            city: row.city.clone(),
            country: row.country.clone(),
            credit_limit: row.credit_limit,
        });
        assert_eq!(embedding, &expected, "customer {id}");
        assert_eq!(embedding.len(), 32);
    }
    for (_, embedding) in &items {
        let norm: f32 = embedding.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "item norm {norm}");
    }

    // The taste is learned: an unseen French customer prefers cars, an unseen American ships.
    let score = |country: &str, line: usize| -> f32 {
        let user = model.embed_customer(&CustomerFeatures {
            customer_number: Some(999_999),
            city: Some("Nowhere".into()),
            country: Some(country.into()),
            credit_limit: Some(5_000.0),
        });
        let prefix = format!("S{line:02}_");
        let scores: Vec<f32> = items
            .iter()
            .filter(|(id, _)| id.starts_with(&prefix))
            .map(|(_, e)| e.iter().zip(&user).map(|(a, b)| a * b).sum())
            .collect();
        scores.iter().sum::<f32>() / scores.len() as f32
    };
    assert!(score("France", 0) > score("France", 1));
    assert!(score("USA", 1) > score("USA", 0));

    let metrics: serde_json::Value = serde_json::from_slice(
        &store
            .get(&format!("models/{version}/metrics.json"))
            .await
            .unwrap(),
    )
    .unwrap();
    let model_ndcg = metrics["evaluation"]["model"]["ndcg_at_10"]
        .as_f64()
        .unwrap();
    let popular_ndcg = metrics["evaluation"]["most_popular"]["ndcg_at_10"]
        .as_f64()
        .unwrap();
    assert_eq!(metrics["evaluation"]["model"]["users"], 40);
    assert!(
        model_ndcg > popular_ndcg,
        "model {model_ndcg} vs popular {popular_ndcg}"
    );
    assert_eq!(metrics["gate"]["passed"], true);

    // Same seed, same embeddings (a later version); a refused model leaves LATEST alone.
    let again = job::run(
        rows.clone(),
        source.clone(),
        store,
        &config(7),
        1_795_400_200,
    )
    .await
    .unwrap();
    let users_again = store
        .get(&format!(
            "models/{}/user_embeddings.csv",
            again.model_version
        ))
        .await
        .unwrap();
    assert_eq!(parse_csv(&users_again), users);
    assert_eq!(
        store.get("models/LATEST").await.unwrap(),
        again.model_version.as_bytes()
    );
    let mut strict = config(7);
    strict.min_ndcg = 1.5;
    let refused = job::run(rows.clone(), source.clone(), store, &strict, 1_795_400_300)
        .await
        .unwrap();
    assert!(!refused.metrics.gate.passed);
    assert!(
        refused.metrics.gate.reason.contains("below the minimum"),
        "{}",
        refused.metrics.gate.reason
    );
    assert!(!refused.keys.iter().any(|k| k.ends_with("LATEST")));
    assert_eq!(
        store.get("models/LATEST").await.unwrap(),
        again.model_version.as_bytes()
    );
}

/// Missing, empty and malformed snapshots in `store` are refused with the reason.
pub async fn empty_or_malformed_snapshots_are_refused_with_the_reason(store: &Bucket) {
    let err = read::newest_snapshot(store).await.unwrap_err();
    assert!(err.to_string().contains("no snapshot"), "{err}");

    let batch = snapshot_rows();
    let empty = batch.slice(0, 0);
    store
        .put(
            "training_ratings/snapshot=2026-01-01/part-00000.parquet",
            parquet_bytes(&empty),
            "x",
        )
        .await
        .unwrap();
    let (rows, source) = read::read_snapshot(store, "2026-01-01").await.unwrap();
    let err = job::run(rows.clone(), source.clone(), store, &config(1), 0)
        .await
        .unwrap_err();
    assert!(matches!(err, TrainError::Empty { .. }), "{err}");
    assert!(err.to_string().contains("no training rows"), "{err}");

    let without_rating = batch.project(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]).unwrap();
    store
        .put(
            "training_ratings/snapshot=2026-01-02/part-00000.parquet",
            parquet_bytes(&without_rating),
            "x",
        )
        .await
        .unwrap();
    let err = read::read_snapshot(store, "2026-01-02")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("missing column \"rating\"") && err.contains("snapshot=2026-01-02"),
        "{err}"
    );

    store
        .put(
            "training_ratings/snapshot=2026-01-03/part-00000.parquet",
            Bytes::from_static(b"not parquet"),
            "x",
        )
        .await
        .unwrap();
    let err = read::read_snapshot(store, "2026-01-03")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a readable Parquet file"), "{err}");
}
