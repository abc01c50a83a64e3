//! Fault injection: PostgreSQL stopped for 30 s and restarted while the local Firehose drains
//! a stream. The transform (pgvector's HNSW path, a server of this test's own) retries inside
//! each invocation with back-off until the database is back, so nothing reaches the error
//! prefix and every event is answered once, although the delivery stream allows Firehose no
//! retry at all (`NumberOfRetries` 0).
#![cfg(feature = "integration")]

use std::collections::BTreeMap;
use std::io::Read as _;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_firehose::types::{
    BufferingHints, CompressionFormat, DeliveryStreamType, ExtendedS3DestinationConfiguration,
    KinesisStreamSourceConfiguration, ProcessingConfiguration, Processor, ProcessorParameter,
    ProcessorParameterName, ProcessorType,
};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::StreamStatus;
use reco_domain::recommendation::RecommendationRecord;
use reco_domain::transform::{KnnAnswer, KnnQuery};
use reco_firehose_local::{DeliveryConfig, LocalFirehose, RunOptions, StartPosition};
use reco_testkit::fakes::InMemoryModels;
use reco_testkit::{LocalStack, PrivatePostgres, unique_name};
use reco_transform_lambda::pg_index::PgVectorIndex;
use reco_transform_lambda::ports::{IndexError, IndexVersion, NeighbourIndex};
use reco_transform_lambda::{TransformOptions, Transformer};
use reco_vector_loader::{EmbeddingFile, EmbeddingSource, Loader};
use reco_vector_store::{StoreOptions, VectorStore};
use tokio::sync::Notify;

// Only the embedder is used here, not the in-memory transformer.
#[allow(dead_code)]
mod support;

/// How long PostgreSQL is down (the figure).
const OUTAGE: Duration = Duration::from_secs(30);
/// Events put on the stream.
const EVENTS: usize = 60;
/// Padding per event, so that the 1 MB processor buffer cuts the stream into several batches
/// (about ten events each) and the outage falls between two of them.
const PADDING_BYTES: usize = 90_000;
const PREFIX: &str = "recommendations/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/";
const ERROR_PREFIX: &str = "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/";

/// pgvector, with a hook: once the first batch is answered, the database is stopped before
/// that answer returns, so the outage starts mid-drain, deterministically. Counts the calls
/// that found the database unreachable.
struct OutageIndex {
    inner: PgVectorIndex,
    first_answer: Notify,
    outage_begun: Notify,
    unreachable: AtomicU32,
    answered: AtomicU32,
}

impl OutageIndex {
    fn count<T>(&self, result: Result<T, IndexError>) -> Result<T, IndexError> {
        if let Err(IndexError::Unavailable { .. }) = &result {
            self.unreachable.fetch_add(1, Ordering::SeqCst);
        }
        result
    }
}

impl NeighbourIndex for OutageIndex {
    async fn active_version(&self) -> Result<Option<IndexVersion>, IndexError> {
        self.count(self.inner.active_version().await)
    }

    async fn knn_batch(
        &self,
        version: &IndexVersion,
        queries: &[KnnQuery],
        k: usize,
    ) -> Result<Vec<KnnAnswer>, IndexError> {
        let result = self.count(self.inner.knn_batch(version, queries, k).await);
        if result.is_ok() && self.answered.fetch_add(1, Ordering::SeqCst) == 0 {
            self.first_answer.notify_one();
            // Wait until the database is down before answering the first batch.
            self.outage_begun.notified().await;
        }
        result
    }
}

fn event(i: usize) -> Vec<u8> {
    let customer = 100 + i % 7;
    serde_json::to_vec(&serde_json::json!({
        "session_id": format!("s-{i}"),
        "customer_number": customer,
        "country": if customer.is_multiple_of(2) { "France" } else { "USA" },
        "browse_history": [{"product_code": format!("S10_{:04}", i % 12), "quantity": 1, "in_shopping_cart": false}],
        "event_id": format!("e-{i}"),
        "padding": "x".repeat(PADDING_BYTES),
    }))
    .unwrap()
}

/// The twelve items of `support::transformer` (a quarter circle), as pgvector embeddings.
fn items_csv() -> String {
    let mut out = String::from("id,embedding\n");
    for i in 0..12 {
        let angle = i as f32 / 12.0 * std::f32::consts::FRAC_PI_2;
        out.push_str(&format!(
            "S10_{i:04},\"[{},{}]\"\n",
            angle.cos(),
            angle.sin()
        ));
    }
    out
}

async fn create_streams(
    kinesis: &aws_sdk_kinesis::Client,
    firehose: &aws_sdk_firehose::Client,
    stream: &str,
    delivery: &str,
    bucket: &str,
) {
    kinesis
        .create_stream()
        .stream_name(stream)
        .shard_count(2)
        .send()
        .await
        .unwrap();
    let mut arn = None;
    for _ in 0..100 {
        let summary = kinesis
            .describe_stream_summary()
            .stream_name(stream)
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
    let role = "arn:aws:iam::123456789012:role/reco-t-firehose";
    let parameter = |name: ProcessorParameterName, value: &str| {
        ProcessorParameter::builder()
            .parameter_name(name)
            .parameter_value(value)
            .build()
            .unwrap()
    };
    let processor = Processor::builder()
        .r#type(ProcessorType::Lambda)
        .parameters(parameter(
            ProcessorParameterName::LambdaArn,
            "arn:aws:lambda:us-east-1:123456789012:function:reco-t:$LATEST",
        ))
        .parameters(parameter(ProcessorParameterName::BufferSizeInMb, "1"))
        .parameters(parameter(
            ProcessorParameterName::BufferIntervalInSeconds,
            "60",
        ))
        // No Firehose retry: only the handler's own retries may save the batches.
        .parameters(parameter(
            ProcessorParameterName::LambdaNumberOfRetries,
            "0",
        ))
        .build()
        .unwrap();
    firehose
        .create_delivery_stream()
        .delivery_stream_name(delivery)
        .delivery_stream_type(DeliveryStreamType::KinesisStreamAsSource)
        .kinesis_stream_source_configuration(
            KinesisStreamSourceConfiguration::builder()
                .kinesis_stream_arn(arn.expect("stream never became active"))
                .role_arn(role)
                .build()
                .unwrap(),
        )
        .extended_s3_destination_configuration(
            ExtendedS3DestinationConfiguration::builder()
                .role_arn(role)
                .bucket_arn(format!("arn:aws:s3:::{bucket}"))
                .prefix(PREFIX)
                .error_output_prefix(ERROR_PREFIX)
                // As deployed: the transform gzips each record, the stream stores them.
                .compression_format(CompressionFormat::Uncompressed)
                .file_extension(".ndjson.gz")
                .buffering_hints(
                    BufferingHints::builder()
                        .size_in_mbs(64)
                        .interval_in_seconds(60)
                        .build(),
                )
                .processing_configuration(
                    ProcessingConfiguration::builder()
                        .enabled(true)
                        .processors(processor)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_30_second_database_outage_mid_drain_loses_nothing() {
    let stack = LocalStack::get();
    let pg = PrivatePostgres::start().await;
    let loader = VectorStore::connect(&pg.url(), StoreOptions::for_cli())
        .await
        .unwrap();
    let items = items_csv();
    let users = "id,embedding\n100,\"[1,0]\"\n";
    Loader::new(&loader)
        .load_version(EmbeddingSource {
            model_version: "model-v1".to_owned(),
            items: EmbeddingFile {
                name: "items".to_owned(),
                reader: items.as_bytes(),
            },
            users: EmbeddingFile {
                name: "users".to_owned(),
                reader: users.as_bytes(),
            },
        })
        .await
        .unwrap();
    drop(loader);

    let bucket = stack.s3_bucket().await;
    let sdk = stack.sdk_config().await;
    let kinesis = aws_sdk_kinesis::Client::new(&sdk);
    let firehose = aws_sdk_firehose::Client::new(&sdk);
    let stream = unique_name("reco-t-outage-", '-');
    let delivery = unique_name("reco-t-outage-recs-", '-');
    create_streams(&kinesis, &firehose, &stream, &delivery, &bucket.name).await;

    let result = async {
        let entries: Vec<_> = (0..EVENTS)
            .map(|i| {
                aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
                    .partition_key(format!("k{i}"))
                    .data(Blob::new(event(i)))
                    .build()
                    .unwrap()
            })
            .collect();
        for chunk in entries.chunks(20) {
            let out = kinesis
                .put_records()
                .stream_name(&stream)
                .set_records(Some(chunk.to_vec()))
                .send()
                .await?;
            assert_eq!(out.failed_record_count(), Some(0));
        }

        // The HNSW path (no in-memory copy): every batch needs the database.
        let store = VectorStore::connect(&pg.url(), StoreOptions::for_lambda()).await?;
        let index = OutageIndex {
            inner: PgVectorIndex::new(store, 0),
            first_answer: Notify::new(),
            outage_begun: Notify::new(),
            unreachable: AtomicU32::new(0),
            answered: AtomicU32::new(0),
        };
        let config = DeliveryConfig::describe(&firehose, &delivery).await?;
        assert_eq!(config.processor_retries, 0);
        let options = config.transform_options(TransformOptions {
            knn_k: 4,
            exact_knn_max_items: 0,
            ..TransformOptions::default()
        });
        let models = InMemoryModels::new([(support::CountryEmbedder, 2)]);
        let transformer = Transformer::new(index, models, &options);
        let objects = stack.bucket(&bucket.name);
        let run = LocalFirehose::new(config, kinesis.clone(), objects.clone(), &transformer).run(
            RunOptions {
                until_idle: true,
                start: StartPosition::TrimHorizon,
                checkpoint: None,
                retry_backoff: Duration::from_millis(100),
            },
        );
        let outage = async {
            transformer.index().first_answer.notified().await;
            pg.stop().await;
            let down = Instant::now();
            transformer.index().outage_begun.notify_one();
            tokio::time::sleep(OUTAGE).await;
            pg.start_again().await;
            down.elapsed()
        };
        let (counts, downtime) = tokio::join!(run, outage);
        let counts = counts?;
        assert!(downtime >= OUTAGE, "{downtime:?}");
        let index = transformer.index();
        eprintln!(
            "database down {:.1} s; {} calls found it unreachable; {} batches answered; {} invocations",
            downtime.as_secs_f64(),
            index.unreachable.load(Ordering::SeqCst),
            index.answered.load(Ordering::SeqCst),
            counts.invocations
        );
        assert_eq!(
            counts.invocations,
            u64::from(index.answered.load(Ordering::SeqCst)),
            "every invocation succeeded the first time"
        );
        assert!(
            index.unreachable.load(Ordering::SeqCst) > 0,
            "the outage was never seen by the transform"
        );
        assert!(
            index.answered.load(Ordering::SeqCst) >= 3,
            "the drain was not cut into several batches"
        );

        // Nothing under the error prefix; every event answered exactly once (the
        // recommendation id is a digest of the event's bytes: one per distinct event).
        assert_eq!(counts.read, EVENTS as u64);
        assert_eq!((counts.ok, counts.failed), (EVENTS as u64, 0), "{counts:?}");
        assert_eq!(counts.error_objects, 0);
        let mut answers: BTreeMap<String, usize> = BTreeMap::new();
        for key in objects.list("").await? {
            assert!(!key.starts_with("errors/"), "{key}");
            let mut text = String::new();
            // Every member: one gzip member per record.
            flate2::read::MultiGzDecoder::new(objects.get(&key).await?.as_ref())
                .read_to_string(&mut text)?;
            for line in text.lines() {
                let record: RecommendationRecord = serde_json::from_str(line)?;
                assert_eq!(record.recommended_items.len(), 4);
                *answers.entry(record.recommendation_id).or_default() += 1;
            }
        }
        assert_eq!(answers.len(), EVENTS);
        assert!(answers.values().all(|n| *n == 1), "{answers:?}");
        Ok::<_, Box<dyn std::error::Error>>(())
    }
    .await;
    let _ = firehose
        .delete_delivery_stream()
        .delivery_stream_name(&delivery)
        .send()
        .await;
    let _ = kinesis.delete_stream().stream_name(&stream).send().await;
    result.unwrap();
}
