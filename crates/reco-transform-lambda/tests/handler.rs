//! The handler called as the Lambda runtime calls it (`LambdaEvent` with
//! `Context::default()`), over fixture events and the in-memory adapters.

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use lambda_runtime::{Context, LambdaEvent};
use reco_aws::emf::Unit;
use reco_aws::experiments::ExperimentStoreError;
use reco_domain::event::{ClickEvent, MAX_EVENT_BYTES};
use reco_domain::experiment::{Experiment, ExperimentState, Variant, assign};
use reco_domain::firehose::{FirehoseEvent, FirehoseRecord, FirehoseResponse, FirehoseResult};
use reco_domain::recommendation::RecommendationRecord;
use reco_domain::transform::{CustomerEmbedder, decode_record_data};
use reco_testkit::fakes::{InMemoryIndex, InMemoryModels};
use reco_transform_lambda::experiments::{ExperimentSource, ExperimentWatch};
use reco_transform_lambda::ports::IndexVersion;
use reco_transform_lambda::{
    HandlerError, RetryPolicy, TransformOptions, Transformer, function_handler, handle_invocation,
};
use std::time::{Duration, Instant};

const DIM: usize = 3;

/// A small user tower: direction by country, tilted by credit limit (deterministic).
struct CountryEmbedder;

impl CustomerEmbedder for CountryEmbedder {
    fn model_version(&self) -> &str {
        "model-v1"
    }
    fn embed_customer(&self, event: &ClickEvent) -> Vec<f32> {
        let france = f32::from(u8::from(event.country.as_deref() == Some("France")));
        let credit = event.credit_limit.unwrap_or(0.0) as f32 / 100_000.0;
        let v = [france, 1.0 - france, credit];
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / norm).collect()
    }
}

fn items() -> Vec<(String, Vec<f32>)> {
    [
        ("S10_1678", [1.0, 0.0, 0.1]),
        ("S12_1099", [0.9, 0.1, 0.2]),
        ("S18_2238", [0.8, 0.2, 0.0]),
        ("S24_1444", [0.7, 0.3, 0.1]),
        ("S32_1374", [0.1, 0.9, 0.6]),
        ("S700_2824", [0.0, 1.0, 0.9]),
        ("S50_1392", [0.2, 0.8, 0.2]),
    ]
    .into_iter()
    .map(|(id, v)| (id.to_owned(), v.to_vec()))
    .collect()
}

type TestTransformer = Transformer<InMemoryIndex, InMemoryModels<CountryEmbedder>>;

/// The index the tests start from: model-v1's embeddings (emb-7) of [`items`].
fn index_v1() -> InMemoryIndex {
    InMemoryIndex::new(
        IndexVersion {
            model_version: "model-v1".into(),
            embedding_version: "emb-7".into(),
            dim: DIM,
        },
        items(),
    )
}

fn transformer(k: usize) -> TestTransformer {
    let models = InMemoryModels::new([(CountryEmbedder, DIM)]);
    Transformer::new(index_v1(), models, &options(k))
}

/// The retry policy scaled down (milliseconds for seconds) and a short invocation.
const FAST: RetryPolicy = RetryPolicy {
    first_ceiling: Duration::from_millis(2),
    max_ceiling: Duration::from_millis(40),
    response_margin: Duration::from_millis(50),
    cached_version_check: Duration::from_millis(100),
};
const INVOCATION: Duration = Duration::from_millis(1_500);

fn options(k: usize) -> TransformOptions {
    TransformOptions {
        knn_k: k,
        exact_knn_max_items: 0,
        model_version_pin: None,
        retry: FAST,
        invocation_timeout: INVOCATION,
        ..TransformOptions::default()
    }
}

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/events")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn record(id: &str, payload: &[u8]) -> FirehoseRecord {
    FirehoseRecord {
        record_id: id.to_owned(),
        approximate_arrival_timestamp: Some(1_763_780_000_000),
        data: BASE64.encode(payload),
        kinesis_record_metadata: None,
    }
}

fn firehose_event(records: Vec<FirehoseRecord>) -> LambdaEvent<FirehoseEvent> {
    LambdaEvent::new(
        FirehoseEvent {
            invocation_id: Some("inv-1".into()),
            delivery_stream_arn: Some(
                "arn:aws:firehose:us-east-1:123456789012:deliverystream/t".into(),
            ),
            source_kinesis_stream_arn: None,
            region: Some("us-east-1".into()),
            records,
        },
        Context::default(),
    )
}

/// The record an `Ok` response record delivers: one gzip member of one NDJSON line (the
/// default, `RECO_RECORD_GZIP`).
fn decode(response: &FirehoseResponse, index: usize) -> RecommendationRecord {
    let member = BASE64.decode(&response.records[index].data).unwrap();
    assert_eq!(&member[..2], &[0x1f, 0x8b], "a gzip member per record");
    let mut data = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::MultiGzDecoder::new(&member[..]),
        &mut data,
    )
    .unwrap();
    assert_eq!(data.last(), Some(&b'\n'), "one NDJSON line per record");
    assert_eq!(
        decode_record_data(&response.records[index].data).unwrap(),
        data
    );
    serde_json::from_slice(&data).unwrap()
}

#[tokio::test]
async fn mixed_batch_answers_every_record_and_never_recommends_browsed_items() {
    let transformer = transformer(3);
    let mut records = vec![
        record("good", &fixture("good.json")),
        record("unknown-customer", &fixture("unknown-customer.json")),
        record("unknown-products", &fixture("unknown-products.json")),
        record("empty-history", &fixture("empty-browse-history.json")),
        record("missing-fields", &fixture("missing-fields.json")),
        record("invalid-code", &fixture("invalid-product-code.json")),
        record("non-json", &fixture("non-json.txt")),
    ];
    let mut malformed = record("malformed-base64", b"");
    malformed.data = String::from_utf8(fixture("malformed-base64.txt")).unwrap();
    records.push(malformed.clone());
    let originals: Vec<String> = records.iter().map(|r| r.data.clone()).collect();

    let response = function_handler(firehose_event(records), &transformer)
        .await
        .unwrap();

    // Same record ids, same order, exact result strings on the wire.
    let wire = serde_json::to_value(&response).unwrap();
    let results: Vec<(&str, &str)> = wire["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["recordId"].as_str().unwrap(),
                r["result"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        results,
        vec![
            ("good", "Ok"),
            ("unknown-customer", "Ok"),
            ("unknown-products", "Ok"),
            ("empty-history", "Ok"),
            ("missing-fields", "ProcessingFailed"),
            ("invalid-code", "ProcessingFailed"),
            ("non-json", "ProcessingFailed"),
            ("malformed-base64", "ProcessingFailed"),
        ]
    );
    // Failed records carry their original data back for the error prefix.
    for (answer, original) in response.records.iter().zip(&originals).skip(4) {
        assert_eq!(&answer.data, original);
        assert!(answer.metadata.is_none());
    }
    assert_eq!(
        transformer.index().knn_calls(),
        1,
        "one k-NN round trip per invocation"
    );

    let good = decode(&response, 0);
    assert_eq!(good.event.customer_number, 103);
    let good_json = serde_json::to_value(&good).unwrap();
    for dropped in ["device", "city", "country", "credit_limit"] {
        assert!(
            good_json.get(dropped).is_none(),
            "{dropped} must not reach the record"
        );
    }
    assert_eq!(good.model_version, "model-v1");
    assert_eq!(good.embedding_version, "emb-7");
    assert_eq!(good.recommended_items.len(), 3);
    assert_eq!(good.similar_items.len(), 3);
    let browsed = ["S10_1678", "S12_1099"];
    for item in good.recommended_items.iter().chain(&good.similar_items) {
        assert!(
            !browsed.contains(&item.id.as_str()),
            "{} was browsed",
            item.id
        );
    }
    // A French customer is closest to the French-leaning items that were not browsed.
    assert_eq!(good.recommended_items[0].id, "S18_2238");
    assert!(
        response.records.iter().all(|r| r.metadata.is_none()),
        "no partition keys unless RECO_PARTITION_KEYS says the stream partitions dynamically"
    );

    let unknown = decode(&response, 1);
    assert_eq!(unknown.event.customer_number, 990_001);
    assert_eq!(
        unknown.recommended_items.len(),
        3,
        "unknown customers get recommendations"
    );

    let unknown_products = decode(&response, 2);
    assert_eq!(unknown_products.recommended_items.len(), 3);
    assert!(
        unknown_products.similar_items.is_empty(),
        "nothing is similar to unknown items"
    );

    let empty = decode(&response, 3);
    assert_eq!(empty.recommended_items.len(), 3);
    assert!(empty.similar_items.is_empty());
}

#[tokio::test]
async fn one_megabyte_record_is_transformed_and_a_larger_one_fails_alone() {
    let transformer = transformer(2);
    let mut event: serde_json::Value = serde_json::from_slice(&fixture("good.json")).unwrap();
    let pad = |event: &mut serde_json::Value, total: usize| {
        event["padding"] = serde_json::Value::String(String::new());
        let base = serde_json::to_vec(event).unwrap().len();
        event["padding"] = serde_json::Value::String("x".repeat(total - base));
        serde_json::to_vec(event).unwrap()
    };
    let at_limit = pad(&mut event, MAX_EVENT_BYTES);
    assert_eq!(at_limit.len(), MAX_EVENT_BYTES);
    let over_limit = pad(&mut event, MAX_EVENT_BYTES + 1);
    let response = function_handler(
        firehose_event(vec![
            record("big", &at_limit),
            record("too-big", &over_limit),
        ]),
        &transformer,
    )
    .await
    .unwrap();
    assert_eq!(response.records[0].result, FirehoseResult::Ok);
    let big = decode(&response, 0);
    assert!(
        serde_json::to_value(&big).unwrap().get("padding").is_none(),
        "unknown fields are not copied into the record"
    );
    assert_eq!(big.recommended_items.len(), 2);
    assert_eq!(response.records[1].result, FirehoseResult::ProcessingFailed);
}

#[tokio::test]
async fn duplicate_event_ids_are_both_answered_with_the_same_recommendation_id() {
    let transformer = transformer(3);
    let good = fixture("good.json");
    let response = function_handler(
        firehose_event(vec![record("first", &good), record("second", &good)]),
        &transformer,
    )
    .await
    .unwrap();
    let (a, b) = (decode(&response, 0), decode(&response, 1));
    assert_eq!(response.records[1].result, FirehoseResult::Ok);
    assert_eq!(a.recommendation_id, b.recommendation_id);
    assert_eq!(
        a.recommended_items, b.recommended_items,
        "deterministic output"
    );
}

#[tokio::test]
async fn an_outage_past_the_deadline_fails_the_invocation_as_retryable_then_it_recovers() {
    let transformer = transformer(3);
    transformer.index().set_unavailable(true);
    let started = Instant::now();
    let err = transformer
        .transform(firehose_event(vec![record("good", &fixture("good.json"))]).payload)
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, HandlerError::Index(_)), "{err}");
    assert!(err.is_retryable());
    // Retried until the deadline was near, not past it.
    assert!(
        elapsed >= INVOCATION - FAST.response_margin - FAST.max_ceiling * 2
            && elapsed <= INVOCATION,
        "{elapsed:?}"
    );
    let runtime_err = function_handler(
        firehose_event(vec![record("good", &fixture("good.json"))]),
        &transformer,
    )
    .await
    .unwrap_err();
    assert!(
        runtime_err.to_string().contains("unreachable"),
        "{runtime_err}"
    );

    transformer.index().set_unavailable(false);
    let response = function_handler(
        firehose_event(vec![record("good", &fixture("good.json"))]),
        &transformer,
    )
    .await
    .unwrap();
    assert_eq!(response.records[0].result, FirehoseResult::Ok);
}

#[tokio::test]
async fn a_short_outage_is_ridden_out_inside_the_invocation() {
    let transformer = transformer(3);
    transformer.warm_up().await.unwrap();
    transformer.index().set_unavailable(true);
    let heal = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        transformer.index().set_unavailable(false);
    };
    let invocation = handle_invocation(
        firehose_event(vec![
            record("good", &fixture("good.json")),
            record("non-json", &fixture("non-json.txt")),
        ]),
        &transformer,
    );
    let (transformed, ()) = tokio::join!(invocation, heal);
    let transformed = transformed.unwrap();
    assert_eq!(transformed.counts.ok, 1);
    assert_eq!(transformed.counts.failed, 1, "only the bad record");
    assert!(
        transformed.database.retries.retries >= 1,
        "{:?}",
        transformed.database
    );
    assert_eq!(
        transformer.index().knn_calls(),
        1,
        "one answered k-NN round trip"
    );
    let metrics = transformed.metrics();
    assert!(metrics.values("IndexRetries").unwrap()[0] >= 1.0);
}

#[tokio::test]
async fn a_version_check_that_cannot_reach_the_database_keeps_serving_the_cached_version() {
    let index = index_v1();
    let options = TransformOptions {
        // Every invocation re-checks the version.
        version_recheck_interval: Duration::ZERO,
        ..options(3)
    };
    let models = InMemoryModels::new([(CountryEmbedder, DIM)]);
    let transformer = Transformer::new(index, &models, &options);
    let first = transformer
        .transform(firehose_event(vec![record("a", &fixture("good.json"))]).payload)
        .await
        .unwrap();
    assert!(!first.database.stale_version_served);
    // The database goes away for longer than the version check may take; it is back
    // before the k-NN's retries run out.
    transformer.index().set_unavailable(true);
    let heal = async {
        tokio::time::sleep(Duration::from_millis(600)).await;
        transformer.index().set_unavailable(false);
    };
    let invocation =
        transformer.transform(firehose_event(vec![record("b", &fixture("good.json"))]).payload);
    let (second, ()) = tokio::join!(invocation, heal);
    let second = second.unwrap();
    assert!(
        second.database.stale_version_served,
        "{:?}",
        second.database
    );
    assert_eq!(second.counts.ok, 1);
    assert_eq!(decode(&second.response, 0).embedding_version, "emb-7");
    assert_eq!(
        second.metrics().values("StaleVersionServed"),
        Some(&[1.0][..])
    );
    assert_eq!(models.loads(), 1, "the cached model was kept");
}

#[tokio::test]
async fn model_is_loaded_once_and_reused_across_invocations() {
    let index = index_v1();
    let models = InMemoryModels::new([(CountryEmbedder, DIM)]);
    let transformer = Transformer::new(index, &models, &options(2));
    for _ in 0..3 {
        function_handler(
            firehose_event(vec![record("g", &fixture("good.json"))]),
            &transformer,
        )
        .await
        .unwrap();
    }
    assert_eq!(models.loads(), 1);
}

#[tokio::test]
async fn pinned_model_that_is_not_the_loaded_one_fails_with_a_clear_error() {
    let index = index_v1();
    let config = TransformOptions {
        model_version_pin: Some("model-v0".into()),
        ..options(2)
    };
    let transformer = Transformer::new(
        index,
        InMemoryModels::new([(CountryEmbedder, DIM)]),
        &config,
    );
    let err = transformer.warm_up().await.unwrap_err().to_string();
    assert!(
        err.contains("RECO_MODEL_VERSION=model-v0") && err.contains("model-v1"),
        "{err}"
    );
}

#[tokio::test]
async fn the_invocation_metrics_count_what_firehose_is_told() {
    let transformer = transformer(3);
    let records = vec![
        record("good", &fixture("good.json")),
        record("unknown-customer", &fixture("unknown-customer.json")),
        record("missing-fields", &fixture("missing-fields.json")),
        record("non-json", &fixture("non-json.txt")),
        record("empty-history", &fixture("empty-browse-history.json")),
    ];
    let transformed = handle_invocation(firehose_event(records), &transformer)
        .await
        .unwrap();
    let metrics = transformed.metrics();
    assert_eq!(metrics.service(), "transform");
    let one = |name: &str| {
        let values = metrics
            .values(name)
            .unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(values.len(), 1, "{name}: one value per invocation");
        values[0]
    };
    assert_eq!(one("BatchRecords"), 5.0);
    assert_eq!(one("RecordsOk"), 3.0);
    assert_eq!(one("RecordsFailed"), 2.0);
    assert_eq!(one("RecordsDropped"), 0.0);
    assert_eq!(one("ResponseFull"), 0.0);
    for name in [
        "BatchRecords",
        "RecordsOk",
        "RecordsFailed",
        "RecordsDropped",
        "ResponseFull",
    ] {
        assert_eq!(metrics.unit(name), Some(Unit::Count), "{name}");
    }
    assert_eq!(metrics.unit("KnnMilliseconds"), Some(Unit::Milliseconds));
    assert!(one("KnnMilliseconds") >= 0.0);
    // The counts agree with the response itself.
    let ok = transformed
        .response
        .records
        .iter()
        .filter(|r| r.result == FirehoseResult::Ok)
        .count();
    assert_eq!(ok, 3);
    // The EMF line carries the same numbers.
    let line: serde_json::Value = serde_json::from_str(&metrics.to_line(0)).unwrap();
    assert_eq!(line["RecordsOk"], 3);
    assert_eq!(line["Service"], "transform");
    assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], "reco");
}

#[tokio::test]
async fn a_batch_without_a_valid_event_makes_no_knn_request_and_reports_no_knn_time() {
    let transformer = transformer(3);
    let transformed = handle_invocation(
        firehose_event(vec![record("non-json", &fixture("non-json.txt"))]),
        &transformer,
    )
    .await
    .unwrap();
    assert_eq!(transformer.index().knn_calls(), 0);
    let metrics = transformed.metrics();
    assert_eq!(metrics.values("RecordsFailed"), Some(&[1.0][..]));
    assert_eq!(metrics.values("BatchRecords"), Some(&[1.0][..]));
    assert_eq!(metrics.values("KnnMilliseconds"), None);
}

#[tokio::test]
async fn partition_keys_and_plain_lines_when_the_options_say_so() {
    // A delivery stream with dynamic partitioning (RECO_PARTITION_KEYS=true) and records
    // written as plain NDJSON lines (RECO_RECORD_GZIP=false).
    let options = TransformOptions {
        partition_keys: true,
        record_gzip: false,
        ..options(3)
    };
    let transformer = Transformer::new(
        index_v1(),
        InMemoryModels::new([(CountryEmbedder, DIM)]),
        &options,
    );
    let response = function_handler(
        firehose_event(vec![record("good", &fixture("good.json"))]),
        &transformer,
    )
    .await
    .unwrap();
    let out = &response.records[0];
    assert_eq!(out.result, FirehoseResult::Ok);
    let keys = &out.metadata.as_ref().unwrap().partition_keys;
    assert_eq!(keys["customer_number"], "103");
    let line = BASE64.decode(&out.data).unwrap();
    assert_eq!(line.first(), Some(&b'{'), "a plain NDJSON line");
    assert_eq!(line.last(), Some(&b'\n'));
    let record: RecommendationRecord = serde_json::from_slice(&line).unwrap();
    assert_eq!(record.event.customer_number, 103);
    assert_eq!(record.event.browsed_items, ["S10_1678", "S12_1099"]);
}

/// An experiment state read that takes `delay` (a slow S3 GET at a cold start), then answers
/// experiment `name` (treatment `model-v1`, half the customers) or none.
struct SlowState {
    delay: Duration,
    name: Option<&'static str>,
}

impl ExperimentSource for SlowState {
    async fn read(&self) -> Result<ExperimentState, ExperimentStoreError> {
        tokio::time::sleep(self.delay).await;
        let mut state = ExperimentState::none();
        state.experiment = self.name.map(|name| Experiment {
            name: name.to_owned(),
            control_model_version: None,
            treatment_model_version: "model-v1".to_owned(),
            treatment_share: 0.5,
            started_at: "2026-12-03T10:00:00Z".to_owned(),
            updated_at: "2026-12-03T10:00:00Z".to_owned(),
            started_by: "handler test".to_owned(),
        });
        Ok(state)
    }

    fn location(&self) -> String {
        "memory://artifacts/models/experiments/current.json".to_owned()
    }
}

/// One event per customer.
fn customers_event(customers: impl Iterator<Item = i64>) -> LambdaEvent<FirehoseEvent> {
    let records = customers
        .map(|c| {
            let event = serde_json::json!({
                "session_id": format!("s-{c}"),
                "customer_number": c,
                "country": "France",
                "browse_history": [],
            });
            record(&format!("r{c}"), event.to_string().as_bytes())
        })
        .collect();
    firehose_event(records)
}

#[tokio::test]
async fn a_batch_waits_for_a_slow_first_read_of_the_experiment_state() {
    let delay = Duration::from_millis(300);
    let started = Instant::now();
    let watch = ExperimentWatch::spawn(
        SlowState {
            delay,
            name: Some("ab-slow"),
        },
        Duration::from_secs(30),
    );
    let transformer = transformer(2).with_experiments(watch);
    // The first batch arrives before the state is known: it waits, then every customer gets
    // their variant (none is answered as control for want of the state).
    let response = handle_invocation(customers_event(1..=20), &transformer)
        .await
        .unwrap();
    assert!(started.elapsed() >= delay, "{:?}", started.elapsed());
    let mut variants = Vec::new();
    for (i, customer) in (1..=20).enumerate() {
        let record = decode(&response.response, i);
        assert_eq!(record.experiment.as_deref(), Some("ab-slow"));
        let expected = assign("ab-slow", customer, 0.5);
        assert_eq!(record.variant, Some(expected), "customer {customer}");
        variants.push(expected);
    }
    assert!(variants.contains(&Variant::Treatment) && variants.contains(&Variant::Control));
    let counts = response.experiment.unwrap();
    assert_eq!(counts.control + counts.treatment, 20);
}

#[tokio::test]
async fn the_warm_up_serves_the_active_version_while_the_experiment_state_is_read() {
    let index = index_v1();
    let models = InMemoryModels::new([(CountryEmbedder, DIM)]);
    let watch = ExperimentWatch::spawn(
        SlowState {
            delay: Duration::from_millis(300),
            name: Some("ab-slow"),
        },
        Duration::from_secs(30),
    );
    let transformer = Transformer::new(index, &models, &options(2)).with_experiments(watch.clone());
    let (warmed, loaded_meanwhile) = tokio::join!(transformer.warm_up(), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        (models.loads(), watch.is_ready())
    });
    warmed.unwrap();
    assert_eq!(
        loaded_meanwhile,
        (1, false),
        "the model waited for the experiment state"
    );
    assert!(watch.is_ready(), "the warm-up ends with the state known");
}

#[tokio::test]
async fn without_an_experiment_the_first_batch_waits_for_nothing() {
    let watch = ExperimentWatch::spawn(
        SlowState {
            delay: Duration::ZERO,
            name: None,
        },
        Duration::from_secs(30),
    );
    let transformer = transformer(2).with_experiments(watch.clone());
    transformer.warm_up().await.unwrap();
    assert!(
        watch.is_ready(),
        "the warm-up ended before the state was known"
    );
    let started = Instant::now();
    let response = handle_invocation(customers_event(1..=5), &transformer)
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
    assert!(response.experiment.is_none());
    for i in 0..5 {
        let record = decode(&response.response, i);
        assert_eq!((record.experiment, record.variant), (None, None));
    }
}
