//! The local Firehose against the emulator: a delivery stream configured like the deployed
//! one (Kinesis source, Lambda processor, dynamic partitioning by customer, error prefix,
//! GZIP), records on several shards, every record accounted for in S3.

use std::io::Read as _;
use std::time::Duration;

use aws_sdk_firehose::types::{
    BufferingHints, CompressionFormat, DeliveryStreamType, DynamicPartitioningConfiguration,
    ExtendedS3DestinationConfiguration, KinesisStreamSourceConfiguration, ProcessingConfiguration,
    Processor, ProcessorParameter, ProcessorParameterName, ProcessorType,
};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::StreamStatus;
use reco_domain::event::ClickEvent;
use reco_domain::recommendation::RecommendationRecord;
use reco_domain::transform::CustomerEmbedder;
use reco_firehose_local::reader::latest_recommendation;
use reco_firehose_local::{DeliveryConfig, LocalFirehose, RunOptions, StartPosition};
use reco_testkit::{LocalStack, unique_name};
use reco_transform_lambda::memory::{InMemoryIndex, InMemoryModels};
use reco_transform_lambda::ports::IndexVersion;
use reco_transform_lambda::{TransformConfig, Transformer};

const PREFIX: &str = "recommendations/customer=!{partitionKeyFromLambda:customer_number}/!{timestamp:yyyy/MM/dd/HH}/";
const ERROR_PREFIX: &str = "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/";

struct CountryEmbedder;

impl CustomerEmbedder for CountryEmbedder {
    fn model_version(&self) -> &str {
        "model-v1"
    }
    fn embed_customer(&self, event: &ClickEvent) -> Vec<f32> {
        let france = f32::from(u8::from(event.country.as_deref() == Some("France")));
        vec![france, 1.0 - france]
    }
}

fn transformer() -> Transformer<InMemoryIndex, InMemoryModels<CountryEmbedder>> {
    let items = (0..12)
        .map(|i| {
            let angle = i as f32 / 12.0 * std::f32::consts::FRAC_PI_2;
            (format!("S10_{i:04}"), vec![angle.cos(), angle.sin()])
        })
        .collect();
    let index = InMemoryIndex::new(
        IndexVersion {
            model_version: "model-v1".into(),
            embedding_version: "emb-1".into(),
            dim: 2,
        },
        items,
    );
    let config = TransformConfig {
        knn_k: 4,
        exact_knn_max_items: 0,
        model_version_pin: None,
        artifacts_bucket: "unused".into(),
        model_prefix: "models/".into(),
    };
    Transformer::new(index, InMemoryModels::new([(CountryEmbedder, 2)]), &config)
}

fn event(i: usize) -> Vec<u8> {
    let customer = 100 + (i % 4);
    serde_json::to_vec(&serde_json::json!({
        "session_id": format!("s-{i}"),
        "customer_number": customer,
        "country": if customer.is_multiple_of(2) { "France" } else { "USA" },
        "city": "x",
        "credit_limit": 1000.0,
        "browse_history": [{"product_code": format!("S10_{:04}", i % 12), "quantity": 1, "in_shopping_cart": false}],
        "event_id": format!("e-{i}"),
    }))
    .unwrap()
}

fn gunzip(bytes: &[u8]) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .unwrap();
    text
}

#[tokio::test]
async fn every_record_lands_under_its_customer_prefix_or_the_error_prefix() {
    let stack = LocalStack::get();
    let sdk = stack.sdk_config().await;
    let kinesis = aws_sdk_kinesis::Client::new(&sdk);
    let firehose = aws_sdk_firehose::Client::new(&sdk);
    let bucket = stack.s3_bucket().await;
    let stream = unique_name("reco-t-clicks-", '-');
    let delivery = unique_name("reco-t-recs-", '-');
    let checkpoint = std::env::temp_dir().join(format!("{delivery}.checkpoint.json"));
    kinesis
        .create_stream()
        .stream_name(&stream)
        .shard_count(3)
        .send()
        .await
        .unwrap();

    let result = async {
        let mut arn = None;
        for _ in 0..100 {
            let summary = kinesis
                .describe_stream_summary()
                .stream_name(&stream)
                .send()
                .await?
                .stream_description_summary
                .unwrap();
            if summary.stream_status == StreamStatus::Active {
                arn = Some(summary.stream_arn);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let stream_arn = arn.expect("stream never became active");
        let role = "arn:aws:iam::123456789012:role/reco-t-firehose";
        let parameter = |name: ProcessorParameterName, value: &str| {
            ProcessorParameter::builder()
                .parameter_name(name)
                .parameter_value(value)
                .build()
                .unwrap()
        };
        firehose
            .create_delivery_stream()
            .delivery_stream_name(&delivery)
            .delivery_stream_type(DeliveryStreamType::KinesisStreamAsSource)
            .kinesis_stream_source_configuration(
                KinesisStreamSourceConfiguration::builder()
                    .kinesis_stream_arn(&stream_arn)
                    .role_arn(role)
                    .build()?,
            )
            .extended_s3_destination_configuration(
                ExtendedS3DestinationConfiguration::builder()
                    .role_arn(role)
                    .bucket_arn(format!("arn:aws:s3:::{}", bucket.name))
                    .prefix(PREFIX)
                    .error_output_prefix(ERROR_PREFIX)
                    .compression_format(CompressionFormat::Gzip)
                    .file_extension(".ndjson.gz")
                    .buffering_hints(BufferingHints::builder().size_in_mbs(64).interval_in_seconds(60).build())
                    .dynamic_partitioning_configuration(
                        DynamicPartitioningConfiguration::builder().enabled(true).build(),
                    )
                    .processing_configuration(
                        ProcessingConfiguration::builder()
                            .enabled(true)
                            .processors(
                                Processor::builder()
                                    .r#type(ProcessorType::Lambda)
                                    .parameters(parameter(
                                        ProcessorParameterName::LambdaArn,
                                        "arn:aws:lambda:us-east-1:123456789012:function:reco-t:$LATEST",
                                    ))
                                    .parameters(parameter(ProcessorParameterName::BufferSizeInMb, "1"))
                                    .parameters(parameter(ProcessorParameterName::BufferIntervalInSeconds, "60"))
                                    .parameters(parameter(ProcessorParameterName::LambdaNumberOfRetries, "1"))
                                    .build()?,
                            )
                            .build(),
                    )
                    .build()?,
            )
            .send()
            .await?;

        let config = DeliveryConfig::describe(&firehose, &delivery).await?;
        assert_eq!(config.source_stream, stream);
        assert_eq!(config.bucket, bucket.name);
        assert_eq!(config.prefix, PREFIX);
        assert_eq!(config.error_prefix, ERROR_PREFIX);
        assert!(config.gzip);
        assert_eq!(config.processor_buffer_bytes, 1024 * 1024);

        // 40 good events for 4 customers, 2 bad ones, spread over the shards.
        let mut entries = Vec::new();
        for i in 0..40 {
            entries.push((format!("k{i}"), event(i)));
        }
        entries.push(("bad1".into(), b"not json".to_vec()));
        entries.push(("bad2".into(), br#"{"customer_number": 100}"#.to_vec()));
        for (key, data) in &entries {
            kinesis
                .put_record()
                .stream_name(&stream)
                .partition_key(key)
                .data(Blob::new(data.clone()))
                .send()
                .await?;
        }

        let transformer = transformer();
        let options = RunOptions {
            until_idle: true,
            start: StartPosition::TrimHorizon,
            checkpoint: Some(checkpoint.clone()),
            retry_backoff: Duration::from_millis(10),
        };
        let counts = LocalFirehose::new(config.clone(), kinesis.clone(), bucket.client().clone(), &transformer)
            .run(options.clone())
            .await?;
        assert_eq!(counts.read, 42);
        assert_eq!((counts.ok, counts.failed, counts.dropped), (40, 2, 0));
        assert_eq!(counts.objects, 4, "one object per customer partition");
        assert_eq!(counts.error_objects, 1);

        let listed = bucket.client().list_objects_v2().bucket(&bucket.name).send().await?;
        let mut ok_lines = 0;
        let mut error_lines = Vec::new();
        for object in listed.contents() {
            let key = object.key().unwrap().to_owned();
            assert!(key.ends_with(".ndjson.gz"), "{key}");
            let body = bucket.client().get_object().bucket(&bucket.name).key(&key).send().await?;
            let text = gunzip(&body.body.collect().await?.into_bytes());
            if key.starts_with("errors/processing-failed/") {
                error_lines.extend(text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()));
                continue;
            }
            let customer: &str = key
                .strip_prefix("recommendations/customer=")
                .and_then(|k| k.split('/').next())
                .unwrap_or_else(|| panic!("unexpected key {key}"));
            // customer=N/yyyy/MM/dd/HH/<name>
            assert_eq!(key.split('/').count(), 7, "{key}");
            for line in text.lines() {
                let record: RecommendationRecord = serde_json::from_str(line).unwrap();
                assert_eq!(record.event.customer_number.to_string(), customer);
                let browsed = &record.event.browse_history[0].product_code;
                assert!(record.recommended_items.iter().all(|i| &i.id != browsed));
                assert!(record.similar_items.iter().all(|i| &i.id != browsed));
                assert_eq!(record.recommended_items.len(), 4);
                ok_lines += 1;
            }
        }
        assert_eq!(ok_lines, 40);
        assert_eq!(error_lines.len(), 2);
        for line in &error_lines {
            assert_eq!(line["errorCode"], "Lambda.ProcessingFailed");
            assert!(!line["errorMessage"].as_str().unwrap().is_empty());
            assert!(line["rawData"].is_string());
        }

        let latest = latest_recommendation(bucket.client(), &bucket.name, "recommendations/", 101)
            .await?
            .expect("customer 101 has recommendations");
        assert_eq!(latest.record.event.customer_number, 101);
        assert!(latest.key.starts_with("recommendations/customer=101/"));
        assert!(
            latest_recommendation(bucket.client(), &bucket.name, "recommendations/", 1)
                .await?
                .is_none()
        );

        // A second run resumes after the checkpoint: only the 3 records put since are read.
        let saved: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&checkpoint)?)?;
        assert_eq!(saved["stream"], stream.as_str());
        assert!(!saved["shards"].as_object().unwrap().is_empty(), "{saved}");
        for i in 40..43 {
            kinesis
                .put_record()
                .stream_name(&stream)
                .partition_key(format!("k{i}"))
                .data(Blob::new(event(i)))
                .send()
                .await?;
        }
        let again = LocalFirehose::new(config.clone(), kinesis.clone(), bucket.client().clone(), &transformer)
            .run(options.clone())
            .await?;
        assert_eq!((again.read, again.ok, again.failed), (3, 3, 0));
        let idle = LocalFirehose::new(config.clone(), kinesis.clone(), bucket.client().clone(), &transformer)
            .run(options.clone())
            .await?;
        assert_eq!(idle.read, 0, "nothing new after the checkpoint");
        // Without a checkpoint the stream is read from the oldest record again.
        let all = LocalFirehose::new(config, kinesis.clone(), bucket.client().clone(), &transformer)
            .run(RunOptions { checkpoint: None, ..options })
            .await?;
        assert_eq!(all.read, 45);
        Ok::<_, Box<dyn std::error::Error>>(())
    }
    .await;
    let _ = firehose
        .delete_delivery_stream()
        .delivery_stream_name(&delivery)
        .send()
        .await;
    kinesis
        .delete_stream()
        .stream_name(&stream)
        .send()
        .await
        .unwrap();
    let _ = std::fs::remove_file(&checkpoint);
    result.unwrap();
}
