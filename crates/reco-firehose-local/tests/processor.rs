//! The processor against the in-memory transform (no services): a failing invocation is
//! retried as configured, then every record of the batch goes under the error prefix with
//! the attempts made; a working one turns the handler's answers into deliveries.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::time::Duration;

use reco_domain::firehose::{FirehoseRecord, encode_data};
use reco_domain::recommendation::RecommendationRecord;
use reco_firehose_local::DeliveryConfig;
use reco_firehose_local::processor::{Delivery, PROCESSING_FAILED, Processor};

mod support;

fn config(retries: u32, dynamic_partitioning: bool) -> DeliveryConfig {
    DeliveryConfig {
        name: "recs".into(),
        version_id: "1".into(),
        source_stream: "clicks".into(),
        lambda_arn: "arn:aws:lambda:us-east-1:1:function:t".into(),
        processor_buffer_bytes: 1 << 20,
        processor_interval: Duration::from_secs(60),
        processor_retries: retries,
        bucket: "b".into(),
        prefix: "recommendations/".into(),
        error_prefix: "errors/!{firehose:error-output-type}/".into(),
        buffer_bytes: 64 << 20,
        buffer_interval: Duration::from_secs(60),
        gzip: false,
        dynamic_partitioning,
        file_extension: String::new(),
    }
}

fn record(id: &str, data: &[u8]) -> FirehoseRecord {
    FirehoseRecord {
        record_id: id.into(),
        approximate_arrival_timestamp: Some(1_709_251_199_000),
        data: encode_data(data),
        kinesis_record_metadata: None,
    }
}

fn batch() -> Vec<FirehoseRecord> {
    let good = serde_json::to_vec(&serde_json::json!({
        "session_id": "s-1",
        "customer_number": 100,
        "country": "France",
        "city": "Nantes",
        "credit_limit": 1000.0,
        "browse_history": [{"product_code": "S10_0001", "quantity": 1, "in_shopping_cart": false}],
        "event_id": "e-1",
    }))
    .unwrap();
    vec![record("good", &good), record("bad", b"not json")]
}

#[tokio::test]
async fn a_failing_invocation_is_retried_then_its_records_go_under_the_error_prefix() {
    let transformer = support::transformer(3);
    transformer.index().set_unavailable(true);
    let config = config(2, false);
    let processor = Processor::new(&transformer, &config, Duration::from_millis(1));
    let records = batch();
    let processed = processor.process(records.clone()).await;
    assert_eq!(processed.invocations, 3, "the first attempt and 2 retries");
    assert_eq!(processed.oversized_responses, 0);
    assert_eq!(processed.deliveries.len(), 2);
    for (delivery, original) in processed.deliveries.iter().zip(&records) {
        let Delivery::Failed(failed) = delivery else {
            panic!("{delivery:?}");
        };
        assert_eq!(failed.error_output_type, PROCESSING_FAILED);
        assert_eq!(failed.code, "Lambda.FunctionError");
        assert_eq!(failed.attempts, 3);
        assert_eq!(failed.raw_data, original.data);
        assert_eq!(failed.arrival_ms, 1_709_251_199_000);
        assert!(failed.message.contains("unavailable"), "{}", failed.message);
    }

    // Without retries configured: one attempt.
    let config = self::config(0, false);
    let processor = Processor::new(&transformer, &config, Duration::from_millis(1));
    assert_eq!(processor.process(batch()).await.invocations, 1);
}

#[tokio::test]
async fn answers_become_deliveries_with_partition_keys_when_partitioning() {
    for dynamic_partitioning in [false, true] {
        let config = config(3, dynamic_partitioning);
        let transformer = support::transformer_for(3, &config);
        let processor = Processor::new(&transformer, &config, Duration::from_millis(1));
        let processed = processor.process(batch()).await;
        assert_eq!(processed.invocations, 1);
        let [good, bad] = processed.deliveries.as_slice() else {
            panic!("{:?}", processed.deliveries);
        };
        let Delivery::Ok {
            keys,
            data,
            arrival_ms,
        } = good
        else {
            panic!("{good:?}");
        };
        assert_eq!(*arrival_ms, 1_709_251_199_000);
        let expected_keys = if dynamic_partitioning {
            BTreeMap::from([("customer_number".to_owned(), "100".to_owned())])
        } else {
            BTreeMap::new()
        };
        assert_eq!(keys, &expected_keys);
        // One gzip member of one NDJSON line (the transform's default).
        assert_eq!(&data[..2], &[0x1f, 0x8b], "a gzip member");
        let mut line = Vec::new();
        flate2::read::MultiGzDecoder::new(&data[..])
            .read_to_end(&mut line)
            .unwrap();
        assert!(line.ends_with(b"\n"), "one NDJSON line");
        let recommendation: RecommendationRecord = serde_json::from_slice(&line).unwrap();
        assert_eq!(recommendation.event.customer_number, 100);
        assert_eq!(recommendation.recommended_items.len(), 3);
        let Delivery::Failed(failed) = bad else {
            panic!("{bad:?}");
        };
        assert_eq!(failed.code, "Lambda.ProcessingFailed");
        assert_eq!(failed.attempts, 1);
    }
}

#[tokio::test]
async fn a_partitioning_stream_fails_ok_records_without_partition_keys() {
    // A transform not told that the stream partitions dynamically sends no keys: Firehose
    // fails such records (MetadataExtractionFailed), and so does the local one.
    let config = config(0, true);
    let transformer = support::transformer(3);
    let processor = Processor::new(&transformer, &config, Duration::from_millis(1));
    let processed = processor.process(batch()).await;
    let Delivery::Failed(failed) = &processed.deliveries[0] else {
        panic!("{:?}", processed.deliveries[0]);
    };
    assert_eq!(failed.code, "DynamicPartitioning.MetadataExtractionFailed");
    assert_eq!(failed.raw_data, batch()[0].data, "the original record");
}
