//! A/B experiments in the transform against the local PostgreSQL + pgvector and the S3
//! emulator: two model versions loaded (the control active, the treatment `--inactive`) and
//! `experiments/current.json` in the artifacts bucket. Each record is answered and stamped by
//! its customer's variant (the same across batches, the share respected), with that
//! version's exact k-NN; a treatment that cannot serve leaves its customers to the control;
//! no state object leaves the records without experiment fields.

#![cfg(feature = "integration")]

mod support;

use std::collections::HashMap;
use std::time::Duration;

use lambda_runtime::LambdaEvent;
use reco_aws::experiments::ExperimentStore;
use reco_domain::artifacts::ModelPrefix;
use reco_domain::event::ClickEvent;
use reco_domain::experiment::{ExperimentState, StartRequest, Variant, assign, current_key};
use reco_domain::firehose::{FirehoseEvent, FirehoseResult};
use reco_domain::recommendation::RecommendationRecord;
use reco_domain::transform::{CustomerEmbedder, KnnQuery, decode_record_data};
use reco_testkit::LocalStack;
use reco_testkit::fakes::InMemoryModels;
use reco_transform_lambda::experiments::ExperimentWatch;
use reco_transform_lambda::pg_index::PgVectorIndex;
use reco_transform_lambda::{TransformOptions, Transformed, Transformer, handle_invocation};
use support::SeededTower;

const DIM: usize = 8;
const K: usize = 5;
const ITEMS: usize = 300;
const CONTROL: &str = "m-control";
const TREATMENT: &str = "m-treatment";

/// A user tower per model version: a fixed direction per customer, different per version.
fn tower(version: &str) -> SeededTower {
    let (model_version, salt) = match version {
        CONTROL => (CONTROL, 0),
        TREATMENT => (TREATMENT, 0x5eed),
        other => panic!("no tower {other}"),
    };
    SeededTower {
        model_version,
        salt,
        dim: DIM,
    }
}

/// `ITEMS` item embeddings named `<prefix>0000`, ... (each version its own ids).
fn catalogue_csv(prefix: &str, seed: u64) -> String {
    support::catalogue_csv(prefix, ITEMS, DIM, seed)
}

/// Writes `current.json` with experiment `name` (treatment `treatment`, `share`).
async fn start(store: &ExperimentStore, name: &str, treatment: &str, share: f64) {
    store
        .apply(|state: &ExperimentState| {
            state.start(
                StartRequest {
                    name: name.to_owned(),
                    treatment_model_version: treatment.to_owned(),
                    control_model_version: None,
                    treatment_share: share,
                },
                "2026-12-03T10:00:00Z",
                "experiments test",
            )
        })
        .await
        .unwrap();
}

async fn transformer_over<'m>(
    url: &str,
    models: &'m InMemoryModels<SeededTower>,
    watch: ExperimentWatch,
    exact_max_items: usize,
) -> Transformer<PgVectorIndex, &'m InMemoryModels<SeededTower>> {
    let options = TransformOptions {
        knn_k: K,
        exact_knn_max_items: exact_max_items,
        ..TransformOptions::default()
    };
    support::pg_transformer(url, models, &options)
        .await
        .with_experiments(watch)
}

fn event(customer: i64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "session_id": format!("s-{customer}"),
        "customer_number": customer,
        "browse_history": [{"product_code": "C0001", "quantity": 1, "in_shopping_cart": false}],
    }))
    .unwrap()
}

/// An invocation with one event per customer, in order.
fn invocation(customers: &[i64]) -> LambdaEvent<FirehoseEvent> {
    let payloads: Vec<Vec<u8>> = customers.iter().map(|&c| event(c)).collect();
    support::invocation(&payloads)
}

/// The `Ok` records, in response order (every record is `Ok` here).
fn records(transformed: &Transformed) -> Vec<RecommendationRecord> {
    assert!(
        transformed
            .response
            .records
            .iter()
            .all(|r| r.result == FirehoseResult::Ok),
        "{:?}",
        transformed.failures
    );
    transformed
        .response
        .records
        .iter()
        .map(|r| serde_json::from_slice(&decode_record_data(&r.data).unwrap()).unwrap())
        .collect()
}

fn ids(items: &[reco_domain::recommendation::ScoredItem]) -> Vec<&str> {
    items.iter().map(|i| i.id.as_str()).collect()
}

/// Checks `record` (customer `customer`) against the exact k-NN of `model`'s embeddings
/// `version` (`catalogue`): both lists, ids in order.
fn check_exact(
    record: &RecommendationRecord,
    customer: i64,
    model: &str,
    catalogue: &reco_vector_store::ExactIndex,
) {
    let event: ClickEvent = serde_json::from_slice(&event(customer)).unwrap();
    let browsed = vec!["C0001".to_owned()];
    let expected = catalogue
        .knn_batch(
            &[
                KnnQuery::ByVector {
                    vector: tower(model).embed_customer(&event),
                    exclude: browsed.clone(),
                },
                KnnQuery::SimilarTo {
                    item_ids: browsed.clone(),
                    exclude: browsed,
                },
            ],
            K,
        )
        .unwrap();
    assert_eq!(
        ids(&record.recommended_items),
        ids(&expected[0]),
        "customer {customer} ({model})"
    );
    assert_eq!(
        ids(&record.similar_items),
        ids(&expected[1]),
        "customer {customer} ({model})"
    );
}

#[tokio::test]
async fn each_customer_is_served_and_stamped_by_its_variant() {
    let stack = LocalStack::get();
    let (db, loader) = support::database_with_loader().await;
    let bucket = stack.s3_bucket().await;
    // The same product codes in both versions (the browsed item exists in each), different
    // vectors: only the version's own answers match its exact k-NN.
    let control = support::load(&loader, CONTROL, &catalogue_csv("C", 1), DIM).await;
    let treatment = support::load_inactive(&loader, TREATMENT, &catalogue_csv("C", 2), DIM).await;
    let exact_control = loader.item_catalogue(&control).await.unwrap();
    let exact_treatment = loader.item_catalogue(&treatment).await.unwrap();

    let experiments = ExperimentStore::new(stack.bucket(&bucket.name), ModelPrefix::new("models/"));
    start(&experiments, "towers-b", TREATMENT, 0.3).await;
    let watch = ExperimentWatch::start(experiments, Duration::from_secs(30)).await;
    assert_eq!(watch.current().unwrap().name, "towers-b");
    let models = InMemoryModels::new([(tower(CONTROL), DIM), (tower(TREATMENT), DIM)]);
    let transformer = transformer_over(&db.url, &models, watch.clone(), 0).await;
    // The warm-up loads both variants' models; batches load none again.
    transformer.warm_up().await.unwrap();
    assert_eq!(models.loads(), 2);
    // Another container whose control catalogue is searched in memory.
    let in_memory = transformer_over(&db.url, &models, watch, 1_000).await;

    // 3,000 customers in batches of 500, then the first batch again in the other container.
    let customers: Vec<i64> = (0..3_000).map(|c| 10_000 + c).collect();
    let mut batches: Vec<&[i64]> = customers.chunks(500).collect();
    batches.push(&customers[..500]);
    let mut seen: HashMap<i64, Variant> = HashMap::new();
    let (mut treated, mut differs) = (0usize, 0usize);
    for (b, batch) in batches.iter().enumerate() {
        let serving = if b < 6 { &transformer } else { &in_memory };
        let transformed = handle_invocation(invocation(batch), serving).await.unwrap();
        assert_eq!(serving.index().exact_catalogue().is_some(), b == 6);
        let counts = transformed.experiment.expect("an experiment runs");
        assert_eq!(counts.treatment_fallback, 0);
        assert_eq!(counts.control + counts.treatment, batch.len());
        let records = records(&transformed);
        assert_eq!(records.len(), batch.len());
        for (record, &customer) in records.iter().zip(batch.iter()) {
            // One response in the records' order.
            assert_eq!(record.event.customer_number, customer);
            assert_eq!(record.experiment.as_deref(), Some("towers-b"));
            let variant = record.variant.expect("a variant");
            assert_eq!(variant, assign("towers-b", customer, 0.3));
            if let Some(before) = seen.insert(customer, variant) {
                assert_eq!(before, variant, "customer {customer} changed variant");
            }
            let (model, version, catalogue) = match variant {
                Variant::Control => (CONTROL, &control, &exact_control),
                Variant::Treatment => (TREATMENT, &treatment, &exact_treatment),
            };
            assert_eq!(
                (
                    record.model_version.as_str(),
                    record.embedding_version.as_str()
                ),
                (model, version.as_str()),
                "customer {customer}"
            );
            check_exact(record, customer, model, catalogue);
            if b < 6 && variant == Variant::Treatment {
                treated += 1;
                // The control's answer would differ: the variants are told apart.
                let event: ClickEvent = serde_json::from_slice(&event(customer)).unwrap();
                let control_answer = exact_control
                    .knn_batch(
                        &[KnnQuery::ByVector {
                            vector: tower(CONTROL).embed_customer(&event),
                            exclude: vec!["C0001".to_owned()],
                        }],
                        K,
                    )
                    .unwrap();
                let control_ids = ids(&control_answer[0]);
                if control_ids != ids(&record.recommended_items) {
                    differs += 1;
                }
            }
        }
        assert_eq!(
            counts.treatment,
            records
                .iter()
                .filter(|r| r.variant == Some(Variant::Treatment))
                .count()
        );
        let metrics = transformed.metrics();
        assert_eq!(
            metrics.values("ExperimentTreatmentRecords"),
            Some(&[counts.treatment as f64][..])
        );
    }
    assert_eq!(seen.len(), customers.len());
    // Two per container: the second loaded both on its first batch.
    assert_eq!(models.loads(), 4);
    // Share 0.3 of 3,000: standard deviation 0.0084; 4 of them.
    let share = treated as f64 / customers.len() as f64;
    assert!(
        (share - 0.3).abs() < 4.0 * 0.0084,
        "treatment share {share}"
    );
    assert!(differs * 10 > treated * 9, "{differs} of {treated} differ");
}

#[tokio::test]
async fn a_treatment_that_cannot_serve_leaves_its_customers_to_the_control() {
    let stack = LocalStack::get();
    let (db, loader) = support::database_with_loader().await;
    let bucket = stack.s3_bucket().await;
    let control = support::load(&loader, CONTROL, &catalogue_csv("C", 1), DIM).await;
    let exact_control = loader.item_catalogue(&control).await.unwrap();
    let models = InMemoryModels::new([(tower(CONTROL), DIM), (tower(TREATMENT), DIM)]);
    let customers: Vec<i64> = (0..200).map(|c| 50_000 + c).collect();

    // No current.json: no experiment, no fields, the plain path.
    let prefix = ModelPrefix::new("models/");
    let experiments = ExperimentStore::new(stack.bucket(&bucket.name), prefix.clone());
    let watch = ExperimentWatch::start(experiments.clone(), Duration::from_secs(30)).await;
    assert!(watch.current().is_none());
    let plain = transformer_over(&db.url, &models, watch, 0).await;
    let transformed = handle_invocation(invocation(&customers), &plain)
        .await
        .unwrap();
    assert!(transformed.experiment.is_none());
    assert!(
        transformed
            .metrics()
            .values("ExperimentTreatmentRecords")
            .is_none()
    );
    for (record, &customer) in records(&transformed).iter().zip(&customers) {
        assert_eq!((record.experiment.as_ref(), record.variant), (None, None));
        assert_eq!(record.embedding_version, control);
        check_exact(record, customer, CONTROL, &exact_control);
    }

    // The treatment's embeddings are not loaded: control answers, stamped control.
    start(&experiments, "not-loaded", TREATMENT, 0.5).await;
    let watch = ExperimentWatch::start(experiments, Duration::from_secs(30)).await;
    let transformer = transformer_over(&db.url, &models, watch, 0).await;
    let transformed = handle_invocation(invocation(&customers), &transformer)
        .await
        .unwrap();
    let counts = transformed.experiment.expect("an experiment runs");
    let in_treatment = customers
        .iter()
        .filter(|&&c| assign("not-loaded", c, 0.5) == Variant::Treatment)
        .count();
    assert!(in_treatment > 50, "{in_treatment}");
    assert_eq!(
        (counts.control, counts.treatment, counts.treatment_fallback),
        (customers.len(), 0, in_treatment)
    );
    assert_eq!(
        transformed.metrics().values("ExperimentTreatmentFallbacks"),
        Some(&[in_treatment as f64][..])
    );
    for (record, &customer) in records(&transformed).iter().zip(&customers) {
        assert_eq!(record.experiment.as_deref(), Some("not-loaded"));
        assert_eq!(record.variant, Some(Variant::Control));
        assert_eq!(
            (
                record.model_version.as_str(),
                record.embedding_version.as_str()
            ),
            (CONTROL, control.as_str())
        );
        check_exact(record, customer, CONTROL, &exact_control);
    }

    // Loaded but its model cannot be fetched: the same.
    support::load_inactive(&loader, TREATMENT, &catalogue_csv("C", 2), DIM).await;
    let control_only = InMemoryModels::new([(tower(CONTROL), DIM)]);
    let bucket2 = stack.s3_bucket().await;
    let experiments = ExperimentStore::new(stack.bucket(&bucket2.name), prefix);
    start(&experiments, "no-model", TREATMENT, 0.5).await;
    let watch = ExperimentWatch::start(experiments, Duration::from_secs(30)).await;
    let transformer = transformer_over(&db.url, &control_only, watch, 0).await;
    let transformed = handle_invocation(invocation(&customers), &transformer)
        .await
        .unwrap();
    let counts = transformed.experiment.expect("an experiment runs");
    assert_eq!(counts.treatment, 0);
    assert!(counts.treatment_fallback > 50, "{counts:?}");
    for record in records(&transformed) {
        assert_eq!(record.variant, Some(Variant::Control));
        assert_eq!(record.embedding_version, control);
    }
}

/// Polls `done` every 50 ms for at most 10 s.
async fn wait_until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn the_state_is_refreshed_in_the_background_and_a_failed_read_keeps_the_last_one() {
    let stack = LocalStack::get();
    let bucket = stack.s3_bucket().await;
    let prefix = ModelPrefix::new("models/");
    let experiments = ExperimentStore::new(stack.bucket(&bucket.name), prefix.clone());
    let watch = ExperimentWatch::start(experiments.clone(), Duration::from_millis(100)).await;
    assert!(watch.current().is_none(), "no current.json: no experiment");

    start(&experiments, "refreshed", TREATMENT, 0.2).await;
    wait_until("the started experiment", || {
        watch.current().is_some_and(|e| e.name == "refreshed")
    })
    .await;

    // An unreadable current.json: the last known state stays.
    let put = |body: Vec<u8>| {
        bucket
            .client()
            .put_object()
            .bucket(&bucket.name)
            .key(current_key(&prefix))
            .body(body.into())
            .send()
    };
    put(b"{not json".to_vec()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(watch.current().unwrap().name, "refreshed");

    // Stopped (a state without experiment): none.
    put(ExperimentState::none().to_json_vec()).await.unwrap();
    wait_until("the stop", || watch.current().is_none()).await;
}
