//! The local Firehose against the emulator: a delivery stream configured like the deployed
//! one (Kinesis source, Lambda processor, time-partitioned prefix, error prefix, objects
//! stored UNCOMPRESSED as `.ndjson.gz` because the transform gzips each record),
//! records on several shards, every record accounted for in S3 and every customer's latest
//! document published; and AWS's active-partition quota enforced when a stream partitions by
//! customer.
#![cfg(feature = "integration")]

use std::io::Read as _;
use std::time::Duration;

use aws_sdk_firehose::types::{
    BufferingHints, CompressionFormat, DeliveryStreamType, DynamicPartitioningConfiguration,
    ExtendedS3DestinationConfiguration, KinesisStreamSourceConfiguration, ProcessingConfiguration,
    Processor, ProcessorParameter, ProcessorParameterName, ProcessorType,
};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::StreamStatus;
use reco_aws::Bucket;
use reco_domain::recommendation::RecommendationRecord;
use reco_firehose_local::{DeliveryConfig, LocalFirehose, RunOptions, StartPosition};
use reco_serving::lambda::Publisher;
use reco_testkit::{LocalStack, TempBucket, unique_name};

// Every transformer here is configured for its stream (`support::transformer_for`).
#[allow(dead_code)]
mod support;

/// The deployed prefix: time partitions only.
const PREFIX: &str = "recommendations/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/";
/// A prefix per customer: breaks past Firehose's 500 active partitions.
const CUSTOMER_PREFIX: &str = "recommendations/customer=!{partitionKeyFromLambda:customer_number}/!{timestamp:yyyy/MM/dd/HH}/";
const ERROR_PREFIX: &str = "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/";

fn event(i: usize) -> Vec<u8> {
    event_of(i, 100 + (i % 4))
}

fn event_of(i: usize, customer: usize) -> Vec<u8> {
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

/// Every gzip member of a delivered object (one per record): `GzDecoder` would stop after the
/// first.
fn gunzip(bytes: &[u8]) -> String {
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_string(&mut text)
        .unwrap();
    text
}

/// A Kinesis stream with `shards` shards and a delivery stream reading it into `bucket` with
/// `prefix` (dynamic partitioning when the prefix takes keys from the Lambda); deleted on drop
/// of the returned guard's `cleanup`.
struct Streams {
    kinesis: aws_sdk_kinesis::Client,
    firehose: aws_sdk_firehose::Client,
    stream: String,
    delivery: String,
}

impl Streams {
    async fn create(bucket: &TempBucket, prefix: &str, shards: i32) -> Self {
        let sdk = LocalStack::get().sdk_config().await;
        let kinesis = aws_sdk_kinesis::Client::new(&sdk);
        let firehose = aws_sdk_firehose::Client::new(&sdk);
        let stream = unique_name("reco-t-clicks-", '-');
        let delivery = unique_name("reco-t-recs-", '-');
        kinesis
            .create_stream()
            .stream_name(&stream)
            .shard_count(shards)
            .send()
            .await
            .unwrap();
        let mut arn = None;
        for _ in 0..100 {
            let summary = kinesis
                .describe_stream_summary()
                .stream_name(&stream)
                .send()
                .await
                .unwrap()
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
                    .build()
                    .unwrap(),
            )
            .extended_s3_destination_configuration(
                ExtendedS3DestinationConfiguration::builder()
                    .role_arn(role)
                    .bucket_arn(format!("arn:aws:s3:::{}", bucket.name))
                    .prefix(prefix)
                    .error_output_prefix(ERROR_PREFIX)
                    // As deployed: the transform gzips each record, the stream stores them.
                    .compression_format(CompressionFormat::Uncompressed)
                    .file_extension(".ndjson.gz")
                    .buffering_hints(BufferingHints::builder().size_in_mbs(64).interval_in_seconds(60).build())
                    .dynamic_partitioning_configuration(
                        DynamicPartitioningConfiguration::builder()
                            .enabled(prefix.contains("partitionKeyFromLambda"))
                            .build(),
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
                                    .build()
                                    .unwrap(),
                            )
                            .build(),
                    )
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        Self {
            kinesis,
            firehose,
            stream,
            delivery,
        }
    }

    async fn put(&self, entries: &[(String, Vec<u8>)]) {
        for chunk in entries.chunks(500) {
            let records = chunk
                .iter()
                .map(|(key, data)| {
                    aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
                        .partition_key(key)
                        .data(Blob::new(data.clone()))
                        .build()
                        .unwrap()
                })
                .collect();
            let out = self
                .kinesis
                .put_records()
                .stream_name(&self.stream)
                .set_records(Some(records))
                .send()
                .await
                .unwrap();
            assert_eq!(out.failed_record_count(), Some(0));
        }
    }

    async fn cleanup(self) {
        let _ = self
            .firehose
            .delete_delivery_stream()
            .delivery_stream_name(&self.delivery)
            .send()
            .await;
        let _ = self
            .kinesis
            .delete_stream()
            .stream_name(&self.stream)
            .send()
            .await;
    }
}

fn publisher(bucket: &TempBucket, lake: &TempBucket) -> Publisher {
    let stack = LocalStack::get();
    Publisher::new(stack.bucket(&bucket.name), stack.bucket(&lake.name))
}

/// The destination bucket as the runner writes it.
fn destination(bucket: &TempBucket) -> Bucket {
    LocalStack::get().bucket(&bucket.name)
}

async fn keys(bucket: &TempBucket) -> Vec<String> {
    destination(bucket).list("").await.unwrap()
}

#[tokio::test]
async fn every_record_lands_in_the_time_partition_or_the_error_prefix_and_is_published() {
    let stack = LocalStack::get();
    let bucket = stack.s3_bucket().await;
    let lake = stack.s3_bucket().await;
    let streams = Streams::create(&bucket, PREFIX, 3).await;
    let objects = destination(&bucket);
    let (kinesis, firehose, stream, delivery) = (
        streams.kinesis.clone(),
        streams.firehose.clone(),
        streams.stream.clone(),
        streams.delivery.clone(),
    );
    let checkpoint = std::env::temp_dir().join(format!("{delivery}.checkpoint.json"));
    let result = async {
        let config = DeliveryConfig::describe(&firehose, &delivery).await?;
        assert_eq!(config.source_stream, stream);
        assert_eq!(config.bucket, bucket.name);
        assert_eq!(config.prefix, PREFIX);
        assert_eq!(config.error_prefix, ERROR_PREFIX);
        assert!(!config.gzip);
        assert_eq!(config.processor_buffer_bytes, 1024 * 1024);
        assert!(!config.dynamic_partitioning);

        // 40 good events for 4 customers, 2 bad ones, spread over the shards.
        let mut entries = Vec::new();
        for i in 0..40 {
            entries.push((format!("k{i}"), event(i)));
        }
        entries.push(("bad1".into(), b"not json".to_vec()));
        entries.push(("bad2".into(), br#"{"customer_number": 100}"#.to_vec()));
        streams.put(&entries).await;

        let transformer = support::transformer_for(4, &config);
        let publisher = publisher(&bucket, &lake);
        let options = RunOptions {
            until_idle: true,
            start: StartPosition::TrimHorizon,
            checkpoint: Some(checkpoint.clone()),
            retry_backoff: Duration::from_millis(10),
        };
        let counts = LocalFirehose::new(
            config.clone(),
            kinesis.clone(),
            objects.clone(),
            &transformer,
        )
        .with_publisher(&publisher)
        .run(options.clone())
        .await?;
        assert_eq!(counts.read, 42);
        assert_eq!((counts.ok, counts.failed, counts.dropped), (40, 2, 0));
        assert_eq!(counts.objects, 1, "one time partition, one buffer");
        assert_eq!(counts.error_objects, 1);
        assert_eq!(counts.published.records, 40);
        assert_eq!(
            (counts.published.customers, counts.published.written),
            (4, 4)
        );

        let mut ok_lines = 0;
        let mut error_lines = Vec::new();
        for key in objects.list("").await? {
            if key.starts_with("latest/") {
                continue; // the published documents, checked below
            }
            assert!(key.ends_with(".ndjson.gz"), "{key}");
            let body = objects.get(&key).await?;
            if key.starts_with("errors/processing-failed/") {
                // Error records are Firehose's JSON lines, stored as the stream stores objects
                // (UNCOMPRESSED).
                let text = String::from_utf8(body.to_vec())?;
                error_lines.extend(
                    text.lines()
                        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()),
                );
                continue;
            }
            let text = gunzip(&body);
            // One gzip member per record: a single-member reader sees only the first line.
            let mut first = String::new();
            flate2::read::GzDecoder::new(&body[..]).read_to_string(&mut first)?;
            assert_eq!(
                first.lines().count(),
                1,
                "{key}: one gzip member per record"
            );
            assert!(text.lines().count() > 1, "{key}");
            // recommendations/dt=YYYY-MM-DD/hour=HH/<name>
            let parts: Vec<&str> = key.split('/').collect();
            assert_eq!(parts.len(), 4, "{key}");
            assert!(parts[1].starts_with("dt=") && parts[1].len() == 13, "{key}");
            assert!(
                parts[2].starts_with("hour=") && parts[2].len() == 7,
                "{key}"
            );
            for line in text.lines() {
                let record: RecommendationRecord = serde_json::from_str(line).unwrap();
                assert!((100..104).contains(&record.event.customer_number));
                let browsed = &record.event.browsed_items[0];
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

        // Each customer's latest document holds its newest record's recommendations.
        for customer in 100..104 {
            let doc = publisher
                .documents
                .get(&reco_domain::serving::customer_document_key(customer))
                .await?
                .unwrap_or_else(|| panic!("customer {customer} has no latest document"));
            assert_eq!(doc.customer_number, Some(customer));
            assert_eq!(doc.source, reco_domain::serving::DocumentSource::Stream);
            assert_eq!(doc.recommended.len(), 4);
        }
        assert!(
            publisher
                .documents
                .get("latest/customers/1.json")
                .await?
                .is_none()
        );

        // A second run resumes after the checkpoint: only the 3 records put since are read.
        let saved: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&checkpoint)?)?;
        assert_eq!(saved["stream"], stream.as_str());
        assert!(!saved["shards"].as_object().unwrap().is_empty(), "{saved}");
        streams
            .put(
                &(40..43)
                    .map(|i| (format!("k{i}"), event(i)))
                    .collect::<Vec<_>>(),
            )
            .await;
        let again = LocalFirehose::new(
            config.clone(),
            kinesis.clone(),
            objects.clone(),
            &transformer,
        )
        .run(options.clone())
        .await?;
        assert_eq!((again.read, again.ok, again.failed), (3, 3, 0));
        let idle = LocalFirehose::new(
            config.clone(),
            kinesis.clone(),
            objects.clone(),
            &transformer,
        )
        .run(options.clone())
        .await?;
        assert_eq!(idle.read, 0, "nothing new after the checkpoint");
        // Without a checkpoint the stream is read from the oldest record again.
        let all = LocalFirehose::new(config, kinesis.clone(), objects.clone(), &transformer)
            .run(RunOptions {
                checkpoint: None,
                ..options
            })
            .await?;
        assert_eq!(all.read, 45);
        Ok::<_, Box<dyn std::error::Error>>(())
    }
    .await;
    streams.cleanup().await;
    let _ = std::fs::remove_file(&checkpoint);
    result.unwrap();
}

#[tokio::test]
async fn partitions_per_customer_hit_the_active_partition_quota_and_time_partitions_do_not() {
    let stack = LocalStack::get();
    // 600 distinct customers in one buffer window (buffering 64 MB / 60 s).
    let entries: Vec<(String, Vec<u8>)> = (0..600)
        .map(|i| (format!("k{i}"), event_of(i, 1000 + i)))
        .collect();
    let options = RunOptions {
        until_idle: true,
        start: StartPosition::TrimHorizon,
        checkpoint: None,
        retry_backoff: Duration::from_millis(10),
    };

    let per_customer = stack.s3_bucket().await;
    let streams = Streams::create(&per_customer, CUSTOMER_PREFIX, 1).await;
    streams.put(&entries).await;
    let config = DeliveryConfig::describe(&streams.firehose, &streams.delivery)
        .await
        .unwrap();
    assert!(config.dynamic_partitioning);
    // The transform sends partition keys, as a Lambda deployed for this stream would.
    let transformer = support::transformer_for(4, &config);
    let counts = LocalFirehose::new(
        config,
        streams.kinesis.clone(),
        destination(&per_customer),
        &transformer,
    )
    .run(options.clone())
    .await;
    streams.cleanup().await;
    let counts = counts.unwrap();
    assert_eq!(counts.read, 600);
    assert_eq!((counts.ok, counts.partition_limit_failed), (500, 100));
    let keys_written = keys(&per_customer).await;
    let refused = keys_written
        .iter()
        .filter(|k| k.starts_with("errors/activePartitionExceeded/"))
        .count();
    assert_eq!(refused, 1, "one error object: {keys_written:?}");
    assert_eq!(keys_written.len(), 501);

    let per_hour = stack.s3_bucket().await;
    let streams = Streams::create(&per_hour, PREFIX, 1).await;
    streams.put(&entries).await;
    let config = DeliveryConfig::describe(&streams.firehose, &streams.delivery)
        .await
        .unwrap();
    let transformer = support::transformer_for(4, &config);
    let counts = LocalFirehose::new(
        config,
        streams.kinesis.clone(),
        destination(&per_hour),
        &transformer,
    )
    .run(options)
    .await;
    streams.cleanup().await;
    let counts = counts.unwrap();
    assert_eq!((counts.read, counts.ok, counts.failed), (600, 600, 0));
    let keys_written = keys(&per_hour).await;
    assert!(
        keys_written
            .iter()
            .all(|k| k.starts_with("recommendations/dt=")),
        "{keys_written:?}"
    );
}

/// Raw events in the data lake: every valid event of the stream (every type, old events as
/// views) as Parquet under `events/dt=<arrival day>/` with the contract's schema and no
/// personal field, the Glue table `click_events` created and the day's partition registered;
/// invalid events only under the error prefix; impressions dropped by the transform but kept
/// in the lake.
#[tokio::test]
async fn raw_events_land_in_the_lake_as_parquet_with_their_glue_partition() {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use reco_domain::lake_events::{EVENTS_TABLE, events_schema, from_record_batch};
    use reco_firehose_local::{EventLake, LakeOptions};

    let stack = LocalStack::get();
    let bucket = stack.s3_bucket().await;
    let lake = stack.s3_bucket().await;
    let streams = Streams::create(&bucket, PREFIX, 2).await;
    let glue = aws_sdk_glue::Client::new(&stack.sdk_config().await);
    let database = unique_name("reco_t_", '_');
    let result = async {
        let typed = |i: usize, kind: &str, extra: serde_json::Value| {
            let mut v = serde_json::json!({
                "session_id": format!("s-{i}"), "customer_number": 100 + i,
                "city": "Nantes", "country": "France", "credit_limit": 1000.0,
                "event_type": kind, "item": "S10_0003", "event_id": format!("e-{i}"),
                "event_time": "2026-12-03T10:00:00Z",
            });
            for (k, x) in extra.as_object().unwrap() {
                v[k] = x.clone();
            }
            serde_json::to_vec(&v).unwrap()
        };
        let mut entries: Vec<(String, Vec<u8>)> =
            (0..3).map(|i| (format!("k{i}"), event(i))).collect();
        entries.push((
            "k3".into(),
            typed(
                3,
                "add_to_cart",
                serde_json::json!({"browse_history": [
                {"product_code": "S10_0001", "quantity": 1, "in_shopping_cart": true}]}),
            ),
        ));
        entries.push((
            "k4".into(),
            typed(
                4,
                "rec_impression",
                serde_json::json!({"recommendation_id": "r-4"}),
            ),
        ));
        entries.push((
            "k5".into(),
            typed(
                5,
                "rec_click",
                serde_json::json!({
                "recommendation_id": "r-4", "experiment": "towers", "variant": "treatment"}),
            ),
        ));
        entries.push(("bad".into(), typed(6, "wishlist", serde_json::json!({}))));
        streams.put(&entries).await;

        let config = DeliveryConfig::describe(&streams.firehose, &streams.delivery).await?;
        let transformer = support::transformer_for(4, &config);
        let events = EventLake::new(
            stack.bucket(&lake.name),
            Some((glue.clone(), database.clone())),
            config.name.clone(),
            LakeOptions::default(),
        );
        let counts = LocalFirehose::new(
            config,
            streams.kinesis.clone(),
            destination(&bucket),
            &transformer,
        )
        .with_lake(events)
        .run(RunOptions {
            until_idle: true,
            start: StartPosition::TrimHorizon,
            checkpoint: None,
            retry_backoff: Duration::from_millis(10),
        })
        .await?;
        assert_eq!(counts.read, 7);
        assert_eq!((counts.ok, counts.failed, counts.dropped), (5, 1, 1));
        assert_eq!((counts.lake.events, counts.lake.invalid), (6, 1));
        assert_eq!((counts.lake.files, counts.lake.partitions), (1, 1));

        let files = stack.bucket(&lake.name).list("events/").await?;
        assert_eq!(files.len(), 1, "{files:?}");
        let dt = files[0]
            .strip_prefix("events/dt=")
            .and_then(|rest| rest.split('/').next())
            .unwrap()
            .to_owned();
        assert_eq!(dt, chrono::Utc::now().format("%Y-%m-%d").to_string());
        assert!(files[0].ends_with(".parquet"), "{files:?}");
        let body = stack.bucket(&lake.name).get(&files[0]).await?;
        let batches: Vec<_> = ParquetRecordBatchReaderBuilder::try_new(body)?
            .build()?
            .collect::<Result<_, _>>()?;
        let mut rows = Vec::new();
        for batch in &batches {
            assert_eq!(batch.schema(), events_schema());
            assert!(batch.column_by_name("city").is_none());
            rows.extend(from_record_batch(batch)?);
        }
        rows.sort_by_key(|r| r.customer_number);
        let types: Vec<&str> = rows.iter().map(|r| r.event_type.as_str()).collect();
        assert_eq!(
            types,
            [
                "view",
                "view",
                "view",
                "add_to_cart",
                "rec_impression",
                "rec_click"
            ]
        );
        assert_eq!(rows[0].browsed_items, ["S10_0000"]);
        assert_eq!(rows[3].cart_items, ["S10_0001"]);
        assert_eq!(rows[5].recommendation_id.as_deref(), Some("r-4"));
        assert_eq!(rows[5].variant.as_deref(), Some("treatment"));
        assert!(rows[5].event_time.is_some());
        assert!(
            rows.iter()
                .all(|r| r.arrival_time.format("%Y-%m-%d").to_string() == dt)
        );

        let table = glue
            .get_table()
            .database_name(&database)
            .name(EVENTS_TABLE)
            .send()
            .await?
            .table
            .unwrap();
        let keys: Vec<&str> = table.partition_keys().iter().map(|k| k.name()).collect();
        assert_eq!(keys, ["dt"]);
        let columns = table.storage_descriptor().unwrap().columns().len();
        assert_eq!(columns, events_schema().fields().len());
        let partition = glue
            .get_partition()
            .database_name(&database)
            .table_name(EVENTS_TABLE)
            .partition_values(&dt)
            .send()
            .await?
            .partition
            .unwrap();
        assert_eq!(
            partition.storage_descriptor().unwrap().location(),
            Some(format!("s3://{}/events/dt={dt}/", lake.name).as_str())
        );
        Ok::<(), Box<dyn std::error::Error>>(())
    }
    .await;
    streams.cleanup().await;
    let _ = glue.delete_database().name(&database).send().await;
    result.unwrap();
}
