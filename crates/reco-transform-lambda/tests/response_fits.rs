//! A full 3 MB Firehose processor batch of valid events comes back with every record `Ok`
//! inside Lambda's 6 MB response (issue 18, "Done when"), through the handler with its
//! default options (per-record gzip on, no partition keys) over the in-memory index.
//!
//! The batch has the benchmark's event shape (`examples/bench_handler.rs`: session id,
//! customer number, city, country, credit limit, 0-6 browsed items of 8-character product
//! codes, event id and time; 400 products) and Firehose's real 56-digit record ids; events are
//! added until their decoded bytes reach 3 MiB, the largest processor buffer Firehose allows.

use std::io::Read as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use reco_domain::event::ClickEvent;
use reco_domain::firehose::{
    FirehoseEvent, FirehoseRecord, FirehoseResult, MAX_RESPONSE_BYTES, decode_data,
};
use reco_domain::recommendation::{Provenance, RecommendationRecord};
use reco_domain::transform::{CustomerEmbedder, OutputOptions, finish_batch, prepare_batch};
use reco_testkit::fakes::{InMemoryIndex, InMemoryModels};
use reco_transform_lambda::ports::{IndexVersion, NeighbourIndex as _};
use reco_transform_lambda::{TransformOptions, Transformer};

const DIM: usize = 16;
const PRODUCTS: usize = 400;
const CUSTOMERS: i64 = 2_000;
const COUNTRIES: [&str; 6] = ["France", "USA", "Germany", "Japan", "Spain", "Australia"];
/// Firehose's processor buffer at its maximum (`BufferSizeInMBs` = 3).
const BATCH_BYTES: usize = 3 * 1024 * 1024;
const K: usize = 10;

/// The benchmark's product codes: 8 characters (`S10_0123`).
fn product(p: usize) -> String {
    format!("S{}_{:04}", 10 + p % 8, p)
}

/// A deterministic user tower: a direction per customer, tilted by country and credit.
struct HashEmbedder;

impl CustomerEmbedder for HashEmbedder {
    fn model_version(&self) -> &str {
        "model-v1"
    }
    fn embed_customer(&self, event: &ClickEvent) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(event.customer_number as u64);
        let country = COUNTRIES
            .iter()
            .position(|c| Some(*c) == event.country.as_deref())
            .unwrap_or(0);
        let mut v: Vec<f32> = (0..DIM).map(|_| rng.random_range(-1.0..1.0)).collect();
        v[country] += 1.5;
        v[DIM - 1] += event.credit_limit.unwrap_or(0.0) as f32 / 100_000.0;
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / norm).collect()
    }
}

fn version() -> IndexVersion {
    IndexVersion {
        model_version: "model-v1".into(),
        embedding_version: "emb-2026-12-03T03:00:00Z".into(),
        dim: DIM,
    }
}

fn index() -> InMemoryIndex {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let items = (0..PRODUCTS)
        .map(|p| {
            let v: Vec<f32> = (0..DIM).map(|_| rng.random_range(-1.0..1.0)).collect();
            (product(p), v)
        })
        .collect();
    InMemoryIndex::new(version(), items)
}

/// Events of the benchmark's shape until their decoded bytes reach [`BATCH_BYTES`], with
/// 56-digit record ids as Firehose assigns them.
fn batch() -> (FirehoseEvent, usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let (mut records, mut bytes) = (Vec::new(), 0usize);
    while bytes < BATCH_BYTES {
        let i = records.len();
        let c = rng.random_range(0..CUSTOMERS);
        let unknown = rng.random_bool(0.1);
        let items: Vec<serde_json::Value> = (0..rng.random_range(0..=6))
            .map(|_| {
                serde_json::json!({"product_code": product(rng.random_range(0..PRODUCTS)),
                    "quantity": rng.random_range(1..=5), "in_shopping_cart": rng.random_bool(0.3)})
            })
            .collect();
        let event = serde_json::json!({
            "session_id": format!("bench-{i}"),
            "customer_number": if unknown { 9_000_000 + c } else { 100 + c },
            "city": format!("{}-city-{}", COUNTRIES[c as usize % 6], c % 7),
            "country": COUNTRIES[c as usize % 6],
            "credit_limit": 10_000.0 + (c % 50) as f64 * 2_000.0,
            "browse_history": items,
            "event_id": format!("evt-{i}"),
            "event_time": "2026-11-22T03:00:00Z",
        });
        let data = serde_json::to_vec(&event).unwrap();
        bytes += data.len();
        // A real Firehose record id: 56 digits.
        let record_id = format!("495469866831355442865074579363216256757001924711{i:08}");
        assert_eq!(record_id.len(), 56);
        records.push(FirehoseRecord {
            record_id,
            approximate_arrival_timestamp: Some(1_763_780_000_000),
            data: BASE64.encode(data),
            kinesis_record_metadata: None,
        });
    }
    let event = FirehoseEvent {
        invocation_id: Some("3 MB".into()),
        delivery_stream_arn: Some(
            "arn:aws:firehose:us-east-1:123456789012:deliverystream/reco-recommendations".into(),
        ),
        source_kinesis_stream_arn: None,
        region: Some("us-east-1".into()),
        records,
    };
    (event, bytes)
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn transformer(
    options: &TransformOptions,
) -> Transformer<InMemoryIndex, InMemoryModels<HashEmbedder>> {
    Transformer::new(index(), InMemoryModels::new([(HashEmbedder, DIM)]), options)
}

#[tokio::test]
async fn a_full_3_mb_batch_fits_the_response_with_every_record_ok() {
    let (event, event_bytes) = batch();
    let records = event.records.len();
    let request_bytes = serde_json::to_vec(&event).unwrap().len();
    let options = TransformOptions {
        knn_k: K,
        ..TransformOptions::default()
    };
    assert!(
        options.record_gzip && !options.partition_keys,
        "the deployed defaults: per-record gzip, no partition keys"
    );
    let transformed = transformer(&options)
        .transform(event.clone())
        .await
        .unwrap();
    let response_bytes = serde_json::to_vec(&transformed.response).unwrap().len();
    let figures = format!(
        "{records} events of {event_bytes} decoded bytes (request {request_bytes} bytes): \
         response {response_bytes} bytes = {:.1}% of the {MAX_RESPONSE_BYTES}-byte limit, \
         {:.0} bytes per record",
        100.0 * response_bytes as f64 / MAX_RESPONSE_BYTES as f64,
        response_bytes as f64 / records as f64
    );
    eprintln!("3 MB batch: {figures}");
    let c = transformed.counts;
    assert_eq!(
        (c.records, c.ok, c.failed, c.response_full),
        (records, records, 0, 0),
        "every record Ok: {figures}"
    );
    assert!(
        response_bytes <= MAX_RESPONSE_BYTES,
        "response over Lambda's limit: {figures}"
    );
    assert!(event_bytes >= BATCH_BYTES && records > 7_000, "{figures}");

    // Every record is one gzip member of one NDJSON line without partition keys; the
    // members one after the other (the delivered object) read back as every record.
    let mut object = Vec::new();
    for (out, input) in transformed.response.records.iter().zip(&event.records) {
        assert_eq!(out.record_id, input.record_id);
        assert_eq!(out.result, FirehoseResult::Ok);
        assert_eq!(out.metadata, None);
        object.extend_from_slice(&decode_data(&out.data).unwrap());
    }
    let text = gunzip(&object);
    let lines: Vec<&[u8]> = text
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.len(), records);

    // A decoded record is the record the handler built, lists included: the same record
    // written without gzip, from the same answers of the index.
    let index = index();
    for pick in [0, records / 2, records - 1] {
        let decoded: RecommendationRecord = serde_json::from_slice(&gunzip(
            &decode_data(&transformed.response.records[pick].data).unwrap(),
        ))
        .unwrap();
        assert_eq!(
            decoded,
            serde_json::from_slice::<RecommendationRecord>(lines[pick]).unwrap()
        );
        let input = &event.records[pick];
        let payload = decode_data(&input.data).unwrap();
        let click = ClickEvent::from_json_slice(&payload).unwrap();
        let single = prepare_batch(vec![input.clone()], &HashEmbedder);
        let answers = index
            .knn_batch(&version(), &single.queries, K)
            .await
            .unwrap();
        let plain = OutputOptions {
            k: K,
            record_gzip: false,
            partition_keys: false,
        };
        let provenance = Provenance {
            model_version: decoded.model_version.clone(),
            embedding_version: decoded.embedding_version.clone(),
            generated_at: decoded.generated_at.clone(),
        };
        let expected = finish_batch(single, answers, &provenance, &plain).unwrap();
        let expected: RecommendationRecord =
            serde_json::from_slice(&decode_data(&expected.response.records[0].data).unwrap())
                .unwrap();
        assert_eq!(decoded, expected, "record {pick}");
        assert_eq!(decoded.event.session_id, click.session_id);
        assert_eq!(decoded.event.browsed_items, click.browsed_product_codes());
        assert_eq!(decoded.recommended_items.len(), K);
        let similar = if click.browse_history.is_empty() {
            0
        } else {
            K
        };
        assert_eq!(decoded.similar_items.len(), similar, "record {pick}");
        assert_eq!(decoded.embedding_version, version().embedding_version);
    }
}

/// Why per-record gzip is on by default: the same batch written as plain NDJSON lines does
/// not fit, and the records that do not fit come back `ProcessingFailed` (to the error
/// prefix with their original data), never lost.
#[tokio::test]
async fn the_same_batch_without_record_gzip_fails_the_records_that_cannot_fit() {
    let (event, _) = batch();
    let records = event.records.len();
    let options = TransformOptions {
        knn_k: K,
        record_gzip: false,
        ..TransformOptions::default()
    };
    let transformed = transformer(&options)
        .transform(event.clone())
        .await
        .unwrap();
    let response_bytes = serde_json::to_vec(&transformed.response).unwrap().len();
    let c = transformed.counts;
    let figures = format!(
        "{records} records: {} Ok, {} response-full; response {response_bytes} bytes",
        c.ok, c.response_full
    );
    eprintln!("3 MB batch, plain lines: {figures}");
    assert!(response_bytes <= MAX_RESPONSE_BYTES, "{figures}");
    assert!(c.response_full > 0 && c.ok > 0, "{figures}");
    assert_eq!(c.ok + c.failed, records, "{figures}");
    assert_eq!(c.failed, c.response_full, "{figures}");
    for (out, input) in transformed.response.records.iter().zip(&event.records) {
        assert_eq!(out.record_id, input.record_id);
        if out.result == FirehoseResult::ProcessingFailed {
            assert_eq!(
                out.data, input.data,
                "a failed record keeps its original data"
            );
        }
    }
}
