//! The sink: per-partition object buffers flushed to S3 by the delivery stream's buffering
//! hints, error objects per error type, Firehose's object names and active-partition quota,
//! and the publisher run on every delivered object.
//!
//! An object is the concatenation of its records' bytes, as Firehose writes it: with the
//! transform's per-record gzip (and the stream UNCOMPRESSED, as deployed) a delivered
//! `.ndjson.gz` object is a series of gzip members, one per record, which a multi-member
//! reader (`flate2::read::MultiGzDecoder`, `gzip -d`, Athena) reads whole. A stream that
//! compresses (GZIP) gzips each object once more.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use reco_aws::Bucket;
use reco_serving::lambda::Publisher;
use reco_serving::publisher::PublishReport;

use crate::delivery::DeliveryConfig;
use crate::prefix::{PrefixValues, expand, format_time};
use crate::processor::{Delivery, FailedRecord};
use crate::retry::{Retryable as _, backoff};
use crate::runner::RunError;

/// `!{firehose:error-output-type}` of records refused because too many partitions were open.
pub const ACTIVE_PARTITION_EXCEEDED: &str = "activePartitionExceeded";
/// Active (buffered, not yet delivered) dynamic partitions per delivery stream (Firehose
/// quota, default 500, raisable to 5,000: "Buffer data for dynamic partitioning"). Records of
/// a new partition beyond it go under the error prefix, as on AWS.
pub const MAX_ACTIVE_PARTITIONS: usize = 500;
/// Deliveries of one object to the publisher before the run stops (the SQS queue's
/// `maxReceiveCount` on AWS, after which a message goes to the dead-letter queue).
pub const PUBLISH_ATTEMPTS: u32 = 5;
/// Pause before the second delivery of an object to the publisher (doubled after each
/// failure, with jitter; SQS's visibility timeout on AWS).
pub const PUBLISH_FIRST_DELAY: Duration = Duration::from_millis(200);
/// Content type of delivered and error objects (Firehose writes its objects as binary).
pub const OBJECT_CONTENT_TYPE: &str = "application/octet-stream";

/// What the sink did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkCounts {
    /// Records buffered for the destination prefix.
    pub ok: u64,
    /// Records buffered for the error prefix.
    pub failed: u64,
    /// Records refused because [`MAX_ACTIVE_PARTITIONS`] partitions were open.
    pub partition_limit_failed: u64,
    /// Destination objects written.
    pub objects: u64,
    /// Error objects written.
    pub error_objects: u64,
    /// What the publisher did with the delivered objects (when one is attached).
    pub published: PublishReport,
}

#[derive(Default)]
struct ObjectBuffer {
    body: Vec<u8>,
    records: u64,
    oldest_arrival_ms: i64,
    opened: Option<Instant>,
}

impl ObjectBuffer {
    fn push(&mut self, line: &[u8], arrival_ms: i64) {
        if self.records == 0 {
            self.oldest_arrival_ms = arrival_ms;
            self.opened = Some(Instant::now());
        }
        self.oldest_arrival_ms = self.oldest_arrival_ms.min(arrival_ms);
        self.body.extend_from_slice(line);
        self.records += 1;
    }

    fn due(&self, bytes: usize, interval: Duration) -> bool {
        self.records > 0
            && (self.body.len() >= bytes || self.opened.is_some_and(|o| o.elapsed() >= interval))
    }
}

/// The S3 destination of one delivery stream.
pub struct S3Sink<'a> {
    config: DeliveryConfig,
    bucket: Bucket,
    partitions: BTreeMap<BTreeMap<String, String>, ObjectBuffer>,
    errors: BTreeMap<&'static str, ObjectBuffer>,
    publisher: Option<&'a Publisher>,
    counts: SinkCounts,
}

impl<'a> S3Sink<'a> {
    /// The destination of `config`, written to `bucket` (the configuration's bucket, opened
    /// through the object-store seam).
    pub fn new(config: DeliveryConfig, bucket: Bucket) -> Self {
        Self {
            config,
            bucket,
            partitions: BTreeMap::new(),
            errors: BTreeMap::new(),
            publisher: None,
            counts: SinkCounts::default(),
        }
    }

    /// Publishes every delivered object with `publisher` right after writing it.
    pub fn with_publisher(mut self, publisher: &'a Publisher) -> Self {
        self.publisher = Some(publisher);
        self
    }

    /// What the sink did so far.
    pub fn counts(&self) -> SinkCounts {
        self.counts
    }

    /// Whether nothing is buffered (everything accepted is in S3).
    pub fn is_empty(&self) -> bool {
        self.errors.values().all(|b| b.records == 0)
            && self.partitions.values().all(|b| b.records == 0)
    }

    /// Buffers a processed batch.
    pub fn accept(&mut self, deliveries: Vec<Delivery>) {
        for delivery in deliveries {
            match delivery {
                Delivery::Ok {
                    keys,
                    data,
                    arrival_ms,
                } => {
                    if !self.partitions.contains_key(&keys)
                        && self.partitions.len() >= MAX_ACTIVE_PARTITIONS
                    {
                        self.counts.partition_limit_failed += 1;
                        self.push_error(FailedRecord {
                            error_output_type: ACTIVE_PARTITION_EXCEEDED,
                            code: "DynamicPartitioning.ActivePartitionsLimitExceeded",
                            message: format!(
                                "{MAX_ACTIVE_PARTITIONS} active partitions already buffered (Firehose quota per delivery stream)"
                            ),
                            raw_data: reco_domain::firehose::encode_data(&data),
                            arrival_ms,
                            attempts: 1,
                        });
                        continue;
                    }
                    self.partitions
                        .entry(keys)
                        .or_default()
                        .push(&data, arrival_ms);
                    self.counts.ok += 1;
                }
                Delivery::Failed(record) => self.push_error(record),
                Delivery::Dropped => {}
            }
        }
    }

    fn push_error(&mut self, record: FailedRecord) {
        let line = serde_json::json!({
            "attemptsMade": record.attempts,
            "arrivalTimestamp": record.arrival_ms,
            "errorCode": record.code,
            "errorMessage": record.message,
            "attemptEndingTimestamp": Utc::now().timestamp_millis(),
            "rawData": record.raw_data,
            "lambdaArn": self.config.lambda_arn,
        });
        let mut bytes = serde_json::to_vec(&line).unwrap_or_default();
        bytes.push(b'\n');
        self.errors
            .entry(record.error_output_type)
            .or_default()
            .push(&bytes, record.arrival_ms);
        self.counts.failed += 1;
    }

    /// Writes the buffers that are due (all of them with `all`).
    pub async fn flush(&mut self, all: bool) -> Result<(), RunError> {
        let (bytes, interval) = (self.config.buffer_bytes, self.config.buffer_interval);
        let due: Vec<BTreeMap<String, String>> = self
            .partitions
            .iter()
            .filter(|(_, b)| b.records > 0 && (all || b.due(bytes, interval)))
            .map(|(k, _)| k.clone())
            .collect();
        for keys in due {
            let buffer = self.partitions.remove(&keys).unwrap_or_default();
            let key =
                self.object_key(&self.config.prefix, &keys, None, buffer.oldest_arrival_ms)?;
            self.put(&key, buffer.body).await?;
            self.counts.objects += 1;
            self.publish(&key).await?;
        }
        let due: Vec<&'static str> = self
            .errors
            .iter()
            .filter(|(_, b)| b.records > 0 && (all || b.due(bytes, interval)))
            .map(|(t, _)| *t)
            .collect();
        for error_output_type in due {
            let buffer = self.errors.remove(error_output_type).unwrap_or_default();
            let key = self.object_key(
                &self.config.error_prefix,
                &BTreeMap::new(),
                Some(error_output_type),
                buffer.oldest_arrival_ms,
            )?;
            self.put(&key, buffer.body).await?;
            self.counts.error_objects += 1;
        }
        Ok(())
    }

    /// Runs the publisher on a delivered object, retried as SQS redelivers a failed message.
    async fn publish(&mut self, key: &str) -> Result<(), RunError> {
        let Some(publisher) = self.publisher else {
            return Ok(());
        };
        let catalogue = publisher.catalogue().await;
        let attempts = AtomicU32::new(0);
        let (attempts_ref, catalogue_ref) = (&attempts, &catalogue);
        let result = (|| async move {
            attempts_ref.fetch_add(1, Ordering::Relaxed);
            publisher.publish_key(key, catalogue_ref).await
        })
        .retry(backoff(PUBLISH_FIRST_DELAY, PUBLISH_ATTEMPTS))
        .notify(|reason: &String, pause: Duration| {
            tracing::warn!(
                key,
                attempt = attempts.load(Ordering::Relaxed),
                ?pause,
                %reason,
                "publishing failed, retrying"
            );
        })
        .await;
        match result {
            Ok(report) => {
                self.counts.published.add(&report);
                Ok(())
            }
            Err(reason) => Err(RunError::Publish {
                location: self.bucket.location(key),
                attempts: attempts.load(Ordering::Relaxed),
                reason,
            }),
        }
    }

    /// `<expanded prefix><stream>-<version>-yyyy-MM-dd-HH-mm-ss-<uuid><extension>`, as Firehose names objects.
    fn object_key(
        &self,
        prefix: &str,
        keys: &BTreeMap<String, String>,
        error_output_type: Option<&str>,
        arrival_ms: i64,
    ) -> Result<String, RunError> {
        let time = DateTime::from_timestamp_millis(arrival_ms).unwrap_or_default();
        let random = uuid::Uuid::new_v4().to_string();
        let expanded = expand(
            prefix,
            &PrefixValues {
                time,
                partition_keys: keys,
                error_output_type,
                random: &random[..8],
            },
        )?;
        Ok(format!(
            "{expanded}{}-{}-{}-{random}{}",
            self.config.name,
            self.config.version_id,
            format_time(&time, "yyyy-MM-dd-HH-mm-ss"),
            self.config.file_extension
        ))
    }

    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), RunError> {
        let body = if self.config.gzip {
            let mut encoder = flate2::write::GzEncoder::new(
                Vec::with_capacity(body.len() / 4),
                flate2::Compression::default(),
            );
            encoder
                .write_all(&body)
                .and_then(|()| encoder.finish())
                .map_err(|e| RunError::Gzip {
                    location: self.bucket.location(key),
                    reason: e.to_string(),
                })?
        } else {
            body
        };
        let bytes = body.len();
        self.bucket
            .put(key, Bytes::from(body), OBJECT_CONTENT_TYPE)
            .await?;
        tracing::debug!(key, bytes, "object written");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dynamic_partitioning: bool) -> DeliveryConfig {
        DeliveryConfig {
            name: "recs".into(),
            version_id: "1".into(),
            source_stream: "clicks".into(),
            lambda_arn: "arn:aws:lambda:us-east-1:1:function:t".into(),
            processor_buffer_bytes: 1 << 20,
            processor_interval: Duration::from_secs(60),
            processor_retries: 0,
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

    fn bucket() -> Bucket {
        Bucket::in_memory("b")
    }

    fn ok(customer: usize) -> Delivery {
        let keys = BTreeMap::from([("customer_number".to_owned(), customer.to_string())]);
        Delivery::Ok {
            keys,
            data: b"{}\n".to_vec(),
            arrival_ms: 1,
        }
    }

    #[test]
    fn a_new_partition_past_the_quota_goes_to_the_error_prefix() {
        let mut sink = S3Sink::new(config(true), bucket());
        sink.accept((0..600).map(ok).collect());
        // Records of partitions already open are still accepted.
        sink.accept(vec![ok(3), ok(499), Delivery::Dropped]);
        let c = sink.counts();
        assert_eq!((c.ok, c.partition_limit_failed, c.failed), (502, 100, 100));
        assert_eq!(sink.partitions.len(), MAX_ACTIVE_PARTITIONS);
        assert_eq!(sink.errors[ACTIVE_PARTITION_EXCEEDED].records, 100);
        assert!(!sink.is_empty());
    }

    #[test]
    fn failed_records_are_buffered_per_error_output_type() {
        let mut sink = S3Sink::new(config(false), bucket());
        let failed = |t: &'static str| {
            Delivery::Failed(FailedRecord {
                error_output_type: t,
                code: "Lambda.ProcessingFailed",
                message: "bad".into(),
                raw_data: "eyJ9".into(),
                arrival_ms: 5,
                attempts: 2,
            })
        };
        sink.accept(vec![
            failed("processing-failed"),
            failed("processing-failed"),
            failed("x"),
        ]);
        assert_eq!(sink.errors.len(), 2);
        let line: serde_json::Value = serde_json::from_slice(
            sink.errors["processing-failed"]
                .body
                .split(|b| *b == b'\n')
                .next()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(line["errorCode"], "Lambda.ProcessingFailed");
        assert_eq!(line["attemptsMade"], 2);
        assert_eq!(line["rawData"], "eyJ9");
        assert_eq!(line["lambdaArn"], "arn:aws:lambda:us-east-1:1:function:t");
    }

    #[tokio::test]
    async fn flushed_buffers_become_objects_named_and_prefixed_as_firehose_does() {
        let mut config = config(false);
        config.prefix = "recommendations/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/".into();
        config.gzip = true;
        config.file_extension = ".ndjson.gz".into();
        let bucket = bucket();
        let mut sink = S3Sink::new(config, bucket.clone());
        // 2024-02-29T23:59:59.999Z and a later record of the same hour.
        let line = |text: &str, arrival_ms: i64| Delivery::Ok {
            keys: BTreeMap::new(),
            data: format!("{text}\n").into_bytes(),
            arrival_ms,
        };
        sink.accept(vec![
            line("{\"a\":1}", 1_709_251_199_999),
            line("{\"a\":2}", 1_709_251_199_000),
            Delivery::Failed(FailedRecord {
                error_output_type: crate::processor::PROCESSING_FAILED,
                code: "Lambda.ProcessingFailed",
                message: "bad".into(),
                raw_data: "eyJ9".into(),
                arrival_ms: 1_709_251_199_000,
                attempts: 1,
            }),
        ]);
        // Nothing is due yet (64 MB / 60 s buffering).
        sink.flush(false).await.unwrap();
        assert!(bucket.list("").await.unwrap().is_empty());
        assert!(!sink.is_empty());

        sink.flush(true).await.unwrap();
        assert!(sink.is_empty());
        let c = sink.counts();
        assert_eq!((c.ok, c.failed, c.objects, c.error_objects), (2, 1, 1, 1));
        let keys = bucket.list("").await.unwrap();
        assert_eq!(keys.len(), 2, "{keys:?}");
        let error_key = &keys[0];
        let delivered = &keys[1];
        // <prefix><stream>-<version>-<oldest arrival>-<uuid><extension>
        let name = delivered
            .strip_prefix("recommendations/dt=2024-02-29/hour=23/recs-1-2024-02-29-23-59-59-")
            .unwrap_or_else(|| panic!("{delivered}"));
        assert!(
            name.ends_with(".ndjson.gz") && name.len() == 36 + 10,
            "{name}"
        );
        let gunzip = |bytes: &[u8]| {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut flate2::read::MultiGzDecoder::new(bytes), &mut text)
                .unwrap();
            text
        };
        assert_eq!(
            gunzip(&bucket.get(delivered).await.unwrap()),
            "{\"a\":1}\n{\"a\":2}\n"
        );
        assert!(
            error_key.starts_with("errors/processing-failed/recs-1-2024-02-29-23-59-59-"),
            "{error_key}"
        );
        let error: serde_json::Value =
            serde_json::from_str(gunzip(&bucket.get(error_key).await.unwrap()).trim()).unwrap();
        assert_eq!(error["errorCode"], "Lambda.ProcessingFailed");
        assert_eq!(error["rawData"], "eyJ9");
    }

    #[tokio::test]
    async fn an_uncompressed_stream_of_gzip_member_records_writes_one_multi_member_gzip_object() {
        // As deployed: the stream stores records as they are (UNCOMPRESSED) and the transform
        // gzips each record on its own.
        let mut config = config(false);
        config.file_extension = ".ndjson.gz".into();
        let bucket = bucket();
        let mut sink = S3Sink::new(config, bucket.clone());
        let mut encoder = reco_domain::transform::RecordEncoder::new(true);
        let lines: Vec<String> = (0..3).map(|i| format!("{{\"n\":{i}}}\n")).collect();
        sink.accept(
            lines
                .iter()
                .map(|line| Delivery::Ok {
                    keys: BTreeMap::new(),
                    data: encoder.encode(line.as_bytes()),
                    arrival_ms: 1_709_251_199_000,
                })
                .collect(),
        );
        sink.flush(true).await.unwrap();
        let keys = bucket.list("").await.unwrap();
        assert_eq!(keys.len(), 1, "{keys:?}");
        assert!(keys[0].ends_with(".ndjson.gz"), "{keys:?}");
        let object = bucket.get(&keys[0]).await.unwrap();
        let read = |multi: bool| {
            let mut text = String::new();
            let result = if multi {
                std::io::Read::read_to_string(
                    &mut flate2::read::MultiGzDecoder::new(&object[..]),
                    &mut text,
                )
            } else {
                std::io::Read::read_to_string(
                    &mut flate2::read::GzDecoder::new(&object[..]),
                    &mut text,
                )
            };
            result.unwrap();
            text
        };
        assert_eq!(read(true), lines.concat(), "every member, in order");
        // A single-member reader stops after the first record: readers must read every member.
        assert_eq!(read(false), lines[0]);
    }
}
