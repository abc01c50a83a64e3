//! The transform Lambda's model store on the S3 emulator, through the same client the function
//! builds (`Bucket::s3`): a version with a compact `model.bin` (as `reco train` publishes now)
//! is read from it, a version published before the binary copy (only `model.json`) still
//! loads, a truncated or corrupted `model.bin` falls back to `model.json`, and the binary copy
//! gives the same embeddings as the JSON artifact; the live copy next to `LATEST` is read
//! first by the cold start's prefetch and checked like any other.
#![cfg(feature = "integration")]

use bytes::Bytes;
use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use reco_aws::Bucket;
use reco_domain::artifacts::{MODEL_BIN_FILE, MODEL_FILE, ModelPrefix};
use reco_domain::model::{
    CategoricalFeature, CustomerFeatures, FEATURE_COUNTRY, FEATURE_CREDIT_LIMIT,
    FEATURE_PRODUCT_LINE, MODEL_FORMAT_VERSION, ModelArtifact, NumericFeature, NumericTransform,
    ProductFeatures, Tower, TrainingMetadata,
};
use reco_testkit::LocalStack;
use reco_train::publish::VersionFile;
use reco_transform_lambda::ports::ModelStore as _;
use reco_transform_lambda::s3_models::{PrefetchVersion, S3ModelStore};

const FACTORS: usize = 31;
const CUSTOMERS: usize = 3_000;
const PRODUCTS: usize = 400;

/// A model of the bench's shape (dimension 32, 3,000 known customers, 400 products), random
/// weights, with a country, a credit limit and a product line feature.
fn model(version: &str, seed: u64) -> ModelArtifact {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut values =
        |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-0.5..0.5)).collect() };
    let country = CategoricalFeature {
        name: FEATURE_COUNTRY.into(),
        vocabulary: vec!["France".into(), "Japan".into(), "USA".into()],
    };
    let credit = NumericFeature {
        name: FEATURE_CREDIT_LIMIT.into(),
        transform: NumericTransform::SignedLog,
        mean: 9.5,
        std: 1.25,
    };
    // Inputs: constant, 3 countries, credit (value, missing).
    let user_weights = values(6 * FACTORS);
    let customers: Vec<String> = (0..CUSTOMERS).map(|c| (1000 + c).to_string()).collect();
    let customer_parts = (0..CUSTOMERS).map(|_| values(FACTORS)).collect();
    let line = CategoricalFeature {
        name: FEATURE_PRODUCT_LINE.into(),
        vocabulary: vec!["Classic Cars".into(), "Ships".into()],
    };
    let item_weights = values(3 * FACTORS);
    let products: Vec<String> = (0..PRODUCTS)
        .map(|p| format!("S{}_{p:04}", p % 7))
        .collect();
    let product_parts = (0..PRODUCTS).map(|_| values(FACTORS)).collect();
    let artifact = ModelArtifact {
        format_version: MODEL_FORMAT_VERSION,
        model_version: version.into(),
        dim: FACTORS + 1,
        factors: FACTORS,
        user_tower: Tower::new(
            vec![country],
            vec![credit],
            user_weights,
            customers,
            customer_parts,
        ),
        item_tower: Tower::new(vec![line], vec![], item_weights, products, product_parts),
        item_max_norm: 4.0,
        training: TrainingMetadata {
            method: "s3_models test".into(),
            seed,
            iterations: 1,
            regularization: 0.1,
            alpha: 1.0,
            feature_regularization: 0.1,
            source: "crates/reco-transform-lambda/tests/s3_models.rs".into(),
            rows: 0,
            users: CUSTOMERS as u64,
            items: PRODUCTS as u64,
            trained_at: "2026-12-03T00:00:00Z".into(),
            final_loss: 0.0,
        },
    };
    artifact.validate().unwrap();
    artifact
}

/// Writes `version`'s files as `reco train` publishes them: `model.bin` (when given), then
/// `model.json`.
async fn publish(
    bucket: &Bucket,
    prefix: &ModelPrefix,
    version: &str,
    bin: Option<Vec<u8>>,
    json: Vec<u8>,
) {
    if let Some(bin) = bin {
        let key = prefix.key(version, MODEL_BIN_FILE);
        bucket
            .put(&key, Bytes::from(bin), "application/octet-stream")
            .await
            .unwrap();
    }
    let key = prefix.key(version, MODEL_FILE);
    bucket
        .put(&key, Bytes::from(json), "application/json")
        .await
        .unwrap();
}

/// Known customers, a stranger with features only, and one with nothing.
fn customers() -> Vec<CustomerFeatures> {
    let mut out: Vec<CustomerFeatures> = (0..CUSTOMERS as i64)
        .step_by(97)
        .map(|c| CustomerFeatures {
            customer_number: Some(1000 + c),
            country: Some(["France", "Japan", "USA", "Peru"][(c % 4) as usize].into()),
            credit_limit: (c % 3 != 0).then_some(1_000.0 + c as f64 * 10.0),
            ..Default::default()
        })
        .collect();
    out.push(CustomerFeatures {
        customer_number: Some(7),
        country: Some("USA".into()),
        credit_limit: Some(12_000.0),
        ..Default::default()
    });
    out.push(CustomerFeatures::default());
    out
}

#[tokio::test]
async fn model_bin_is_read_first_and_model_json_remains_the_fallback() {
    let stack = LocalStack::get();
    let temp = stack.s3_bucket().await;
    let bucket = Bucket::s3(&stack.aws(), &temp.name).unwrap();
    let prefix = ModelPrefix::new("models");

    // "new": published now (model.bin and model.json), with a model.json that cannot be
    // parsed, so only model.bin can answer; LATEST names it.
    let new = model("new", 1);
    let new_json = new.to_json_vec().unwrap();
    let new_bin = new.to_bin_vec().unwrap();
    assert!(
        new_bin.len() * 2 < new_json.len(),
        "{} vs {}",
        new_bin.len(),
        new_json.len()
    );
    publish(&bucket, &prefix, "new", Some(new_bin), b"{".to_vec()).await;
    bucket
        .put(
            &prefix.latest_key(),
            Bytes::from_static(b"new"),
            "text/plain",
        )
        .await
        .unwrap();
    // "old": published before the binary copy existed (model.json only).
    let old = model("old", 2);
    publish(&bucket, &prefix, "old", None, old.to_json_vec().unwrap()).await;
    // "torn": a model.bin cut short (refused by its length check) next to a good model.json;
    // "flipped": one corrupted byte (refused by its checksum).
    let torn = model("torn", 3);
    let bin = torn.to_bin_vec().unwrap();
    let half = bin[..bin.len() / 2].to_vec();
    publish(
        &bucket,
        &prefix,
        "torn",
        Some(half),
        torn.to_json_vec().unwrap(),
    )
    .await;
    let flipped = model("flipped", 4);
    let mut bin = flipped.to_bin_vec().unwrap();
    let at = bin.len() / 3;
    bin[at] ^= 1;
    publish(
        &bucket,
        &prefix,
        "flipped",
        Some(bin),
        flipped.to_json_vec().unwrap(),
    )
    .await;

    let store = S3ModelStore::new(bucket.clone(), prefix.clone());
    // The prefetch (LATEST names "new") is served by model.bin too.
    store.prefetch(PrefetchVersion::Latest);
    let from_bin = store.load("new").await.unwrap();
    assert_eq!(
        from_bin, new,
        "model.bin did not give the published artifact"
    );
    assert_eq!(store.load("new").await.unwrap(), new);
    assert_eq!(store.load("old").await.unwrap(), old);
    assert_eq!(store.load("torn").await.unwrap(), torn);
    assert_eq!(store.load("flipped").await.unwrap(), flipped);

    // Same embeddings (so the same scores) as from model.json, bit for bit.
    let json = ModelArtifact::from_json_slice(&new_json).unwrap();
    for customer in customers() {
        assert_eq!(
            from_bin.embed_customer(&customer),
            json.embed_customer(&customer)
        );
    }
    for p in [0, 17, PRODUCTS - 1] {
        let product = ProductFeatures {
            product_code: Some(format!("S{}_{p:04}", p % 7)),
            product_line: Some("Ships".into()),
            ..Default::default()
        };
        assert_eq!(
            from_bin.embed_product(&product),
            json.embed_product(&product)
        );
    }
    assert_eq!(S3ModelStore::dim(&from_bin), 32);

    // Neither file there: the error names model.json, as before the binary copy.
    let err = store.load("missing").await.unwrap_err().to_string();
    assert!(err.contains("models/missing/model.json"), "{err}");
}

/// The live copy next to `LATEST` (written by `reco train`'s publish): a cold start's prefetch
/// reads it in one GET, even with `LATEST` gone; a corrupted copy falls back to `LATEST` and
/// the version's files; a copy of another version is not served for the active one.
#[tokio::test]
async fn the_live_copy_next_to_latest_is_read_first_and_checked() {
    let stack = LocalStack::get();
    let temp = stack.s3_bucket().await;
    let bucket = Bucket::s3(&stack.aws(), &temp.name).unwrap();
    let prefix = ModelPrefix::new("models");
    let files = |model: &ModelArtifact| {
        vec![
            VersionFile {
                name: MODEL_BIN_FILE,
                body: Bytes::from(model.to_bin_vec().unwrap()),
                content_type: "application/octet-stream",
            },
            VersionFile {
                name: MODEL_FILE,
                body: Bytes::from(model.to_json_vec().unwrap()),
                content_type: "application/json",
            },
        ]
    };
    let live = model("live", 5);
    reco_train::publish::publish(&bucket, &prefix, "live", files(&live), true)
        .await
        .unwrap();
    let copy_key = prefix.latest_model_bin_key();
    assert_eq!(
        bucket.get(&copy_key).await.unwrap(),
        bucket
            .get(&prefix.key("live", MODEL_BIN_FILE))
            .await
            .unwrap()
    );

    // Only the copy left: LATEST and the version's files deleted.
    let version_files = [
        prefix.latest_key(),
        prefix.key("live", MODEL_BIN_FILE),
        prefix.key("live", MODEL_FILE),
    ];
    bucket.delete(&version_files).await.unwrap();
    let store = S3ModelStore::new(bucket.clone(), prefix.clone());
    store.prefetch(PrefetchVersion::Latest);
    assert_eq!(store.load("live").await.unwrap(), live);

    // A corrupted copy: refused, LATEST and the version's model.bin answer.
    reco_train::publish::publish(&bucket, &prefix, "live", files(&live), true)
        .await
        .unwrap();
    let mut flipped = bucket.get(&copy_key).await.unwrap().to_vec();
    let at = flipped.len() / 2;
    flipped[at] ^= 1;
    bucket
        .put(&copy_key, Bytes::from(flipped), "application/octet-stream")
        .await
        .unwrap();
    store.prefetch(PrefetchVersion::Latest);
    assert_eq!(store.load("live").await.unwrap(), live);

    // The embeddings of another version are active (loaded from a version LATEST does not
    // name): the copy is not served for them.
    let other = model("other", 6);
    reco_train::publish::publish(&bucket, &prefix, "live", files(&live), true)
        .await
        .unwrap();
    reco_train::publish::publish(&bucket, &prefix, "other", files(&other), false)
        .await
        .unwrap();
    store.prefetch(PrefetchVersion::Latest);
    assert_eq!(store.load("other").await.unwrap(), other);
    assert_eq!(store.load("live").await.unwrap(), live);
}
