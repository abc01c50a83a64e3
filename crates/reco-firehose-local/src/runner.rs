//! The runner: Kinesis shards -> processor batches -> the transform handler (in-process)
//! -> per-partition buffers -> S3 objects, and failed records -> the error prefix.

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::time::{Duration, Instant};

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::ShardIteratorType;
use reco_domain::firehose::{
    FirehoseEvent, FirehoseRecord, FirehoseResult, MAX_RESPONSE_BYTES, decode_data, encode_data,
};
use reco_domain::recommendation::UtcDateTime;
use reco_serving::lambda::Publisher;
use reco_serving::publisher::PublishReport;
use reco_transform_lambda::Transformer;
use reco_transform_lambda::ports::{ModelStore, NeighbourIndex};

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::delivery::DeliveryConfig;
use crate::prefix::{PrefixError, PrefixValues, expand, format_time};

/// Most records one GetRecords call returns (Kinesis API limit: 10,000).
pub const GET_RECORDS_LIMIT: i32 = 10_000;
/// Pause after a poll that returned nothing (Kinesis allows 5 GetRecords per shard per second).
pub const EMPTY_POLL_PAUSE: Duration = Duration::from_millis(250);
/// Consecutive empty polls over every shard after which `--until-idle` stops.
pub const IDLE_POLLS: u32 = 3;
/// Firehose's `!{firehose:error-output-type}` for records the processor failed.
pub const PROCESSING_FAILED: &str = "processing-failed";
/// `!{firehose:error-output-type}` of records refused because too many partitions were open.
pub const ACTIVE_PARTITION_EXCEEDED: &str = "activePartitionExceeded";
/// Active (buffered, not yet delivered) dynamic partitions per delivery stream (Firehose
/// quota, default 500, raisable to 5,000: "Buffer data for dynamic partitioning"). Records of
/// a new partition beyond it go under the error prefix, as on AWS.
pub const MAX_ACTIVE_PARTITIONS: usize = 500;
/// Deliveries of one object to the publisher before the run stops (the SQS queue's
/// `maxReceiveCount` on AWS, after which a message goes to the dead-letter queue).
pub const PUBLISH_ATTEMPTS: u32 = 5;

/// Where to start reading the source stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartPosition {
    /// The oldest record still in the stream.
    TrimHorizon,
    /// Only records put after the runner started.
    Latest,
}

/// How the runner runs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Stop (after flushing) once every shard is drained.
    pub until_idle: bool,
    /// Where to start a shard the checkpoint does not know.
    pub start: StartPosition,
    /// Checkpoint file: resume after the records it says were delivered, and record progress
    /// in it; `None` reads from `start` every time.
    pub checkpoint: Option<std::path::PathBuf>,
    /// Base pause between retries of a failed invocation (doubled each time).
    pub retry_backoff: Duration,
}

/// What the runner did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunCounts {
    /// Records read from Kinesis.
    pub read: u64,
    /// Records the handler returned `Ok` (delivered to the destination prefix).
    pub ok: u64,
    /// Records delivered under the error prefix.
    pub failed: u64,
    /// Records the handler returned `Dropped`.
    pub dropped: u64,
    /// Handler invocations.
    pub invocations: u64,
    /// Destination objects written.
    pub objects: u64,
    /// Error objects written.
    pub error_objects: u64,
    /// Records refused because [`MAX_ACTIVE_PARTITIONS`] partitions were open.
    pub partition_limit_failed: u64,
    /// Invocations whose response passed Lambda's 6 MB payload limit.
    pub oversized_responses: u64,
    /// What the publisher did with the delivered objects (when one is attached).
    pub published: PublishReport,
}

/// Why the runner stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A Kinesis call failed.
    #[error("Kinesis stream {stream}: {reason}")]
    Kinesis {
        /// The stream.
        stream: String,
        /// The client's message.
        reason: String,
    },
    /// An S3 write failed.
    #[error("writing s3://{bucket}/{key}: {reason}")]
    S3 {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// The client's message.
        reason: String,
    },
    /// A prefix of the configuration cannot be expanded.
    #[error(transparent)]
    Prefix(#[from] PrefixError),
    /// The checkpoint file cannot be read or written.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A delivered object could not be published after every attempt.
    #[error(
        "publishing s3://{bucket}/{key} failed {attempts} times (the object is delivered; re-run to publish it): {reason}"
    )]
    Publish {
        /// The bucket.
        bucket: String,
        /// The delivered object.
        key: String,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        reason: String,
    },
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

/// The local Firehose for one delivery stream.
pub struct LocalFirehose<'a, I: NeighbourIndex, M: ModelStore> {
    config: DeliveryConfig,
    kinesis: aws_sdk_kinesis::Client,
    s3: aws_sdk_s3::Client,
    transformer: &'a Transformer<I, M>,
    counts: RunCounts,
    partitions: BTreeMap<BTreeMap<String, String>, ObjectBuffer>,
    errors: BTreeMap<&'static str, ObjectBuffer>,
    publisher: Option<&'a Publisher>,
    last_progress: Instant,
}

impl<'a, I: NeighbourIndex, M: ModelStore> LocalFirehose<'a, I, M> {
    /// A runner for `config`, calling `transformer` in-process.
    pub fn new(
        config: DeliveryConfig,
        kinesis: aws_sdk_kinesis::Client,
        s3: aws_sdk_s3::Client,
        transformer: &'a Transformer<I, M>,
    ) -> Self {
        Self {
            config,
            kinesis,
            s3,
            transformer,
            counts: RunCounts::default(),
            partitions: BTreeMap::new(),
            errors: BTreeMap::new(),
            publisher: None,
            last_progress: Instant::now(),
        }
    }

    /// Publishes every delivered object with `publisher` right after writing it, as the S3
    /// event (through the queue) makes the publisher Lambda do on AWS.
    pub fn with_publisher(mut self, publisher: &'a Publisher) -> Self {
        self.publisher = Some(publisher);
        self
    }

    fn kinesis_error(&self, e: impl std::fmt::Display) -> RunError {
        RunError::Kinesis {
            stream: self.config.source_stream.clone(),
            reason: e.to_string(),
        }
    }

    /// Runs until the stream is drained (`until_idle`) or forever.
    pub async fn run(mut self, options: RunOptions) -> Result<RunCounts, RunError> {
        let stream = self.config.source_stream.clone();
        let shards = self
            .kinesis
            .list_shards()
            .stream_name(&stream)
            .send()
            .await
            .map_err(|e| self.kinesis_error(aws_sdk_kinesis::error::DisplayErrorContext(e)))?;
        let mut checkpoint = match &options.checkpoint {
            Some(path) => Some(Checkpoint::load(
                path,
                &stream,
                self.created_ms(&stream).await?,
            )?),
            None => None,
        };
        let mut saved = checkpoint.clone();
        let mut iterators: Vec<(String, Option<String>)> = Vec::new();
        for shard in shards.shards() {
            let after = checkpoint
                .as_ref()
                .and_then(|c| c.shards.get(shard.shard_id()));
            let request = self
                .kinesis
                .get_shard_iterator()
                .stream_name(&stream)
                .shard_id(shard.shard_id());
            let request = match (after, options.start) {
                (Some(sequence), _) => request
                    .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                    .starting_sequence_number(sequence),
                (None, StartPosition::TrimHorizon) => {
                    request.shard_iterator_type(ShardIteratorType::TrimHorizon)
                }
                (None, StartPosition::Latest) => {
                    request.shard_iterator_type(ShardIteratorType::Latest)
                }
            };
            if let Some(sequence) = after {
                eprintln!(
                    "firehose-local: {}: resuming after sequence number {sequence} (checkpoint)",
                    shard.shard_id()
                );
            }
            let iterator = request
                .send()
                .await
                .map_err(|e| self.kinesis_error(aws_sdk_kinesis::error::DisplayErrorContext(e)))?;
            iterators.push((
                shard.shard_id().to_owned(),
                iterator.shard_iterator().map(str::to_owned),
            ));
        }
        eprintln!(
            "firehose-local: {} -> s3://{}/{} ({} shard(s), processor batches of {} bytes / {:?})",
            stream,
            self.config.bucket,
            self.config.prefix,
            iterators.len(),
            self.config.processor_buffer_bytes,
            self.config.processor_interval
        );
        let mut pending: Vec<FirehoseRecord> = Vec::new();
        let mut pending_bytes = 0usize;
        let mut pending_since = Instant::now();
        let mut idle_polls = 0u32;
        loop {
            let mut read_this_round = 0usize;
            for (shard_id, iterator) in iterators.iter_mut() {
                let Some(current) = iterator.clone() else {
                    continue;
                };
                let output = self
                    .kinesis
                    .get_records()
                    .shard_iterator(current)
                    .limit(GET_RECORDS_LIMIT)
                    .send()
                    .await
                    .map_err(|e| RunError::Kinesis {
                        stream: stream.clone(),
                        reason: aws_sdk_kinesis::error::DisplayErrorContext(e).to_string(),
                    })?;
                *iterator = output.next_shard_iterator().map(str::to_owned);
                for record in output.records() {
                    let data: &Blob = record.data();
                    let arrival_ms = record
                        .approximate_arrival_timestamp()
                        .map_or(0, |t| t.to_millis().unwrap_or(0));
                    if pending.is_empty() {
                        pending_since = Instant::now();
                    }
                    pending_bytes += data.as_ref().len();
                    pending.push(FirehoseRecord {
                        record_id: format!("{shard_id}-{}", record.sequence_number()),
                        approximate_arrival_timestamp: Some(arrival_ms),
                        data: encode_data(data.as_ref()),
                        kinesis_record_metadata: Some(serde_json::json!({
                            "shardId": shard_id,
                            "partitionKey": record.partition_key(),
                            "sequenceNumber": record.sequence_number(),
                            "approximateArrivalTimestamp": arrival_ms,
                        })),
                    });
                    read_this_round += 1;
                    self.counts.read += 1;
                    if let Some(c) = checkpoint.as_mut() {
                        c.shards
                            .insert(shard_id.clone(), record.sequence_number().to_owned());
                    }
                    if pending_bytes >= self.config.processor_buffer_bytes {
                        self.invoke(std::mem::take(&mut pending), options.retry_backoff)
                            .await?;
                        pending_bytes = 0;
                    }
                }
            }
            idle_polls = if read_this_round == 0 {
                idle_polls + 1
            } else {
                0
            };
            let draining = options.until_idle && idle_polls > 0;
            if !pending.is_empty()
                && (draining || pending_since.elapsed() >= self.config.processor_interval)
            {
                self.invoke(std::mem::take(&mut pending), options.retry_backoff)
                    .await?;
                pending_bytes = 0;
            }
            self.flush(draining).await?;
            self.progress(false);
            if options.until_idle && idle_polls >= IDLE_POLLS && pending.is_empty() {
                self.flush(true).await?;
                self.save_checkpoint(&options, &checkpoint, &mut saved)?;
                self.progress(true);
                return Ok(self.counts);
            }
            if pending.is_empty() {
                self.save_checkpoint(&options, &checkpoint, &mut saved)?;
            }
            if iterators.iter().all(|(_, it)| it.is_none()) && !options.until_idle {
                self.flush(true).await?;
                self.save_checkpoint(&options, &checkpoint, &mut saved)?;
                return Ok(self.counts);
            }
            if read_this_round == 0 {
                tokio::time::sleep(EMPTY_POLL_PAUSE).await;
            }
        }
    }

    /// The source stream's creation time (Unix milliseconds), which names it in the checkpoint.
    async fn created_ms(&self, stream: &str) -> Result<i64, RunError> {
        let summary = self
            .kinesis
            .describe_stream_summary()
            .stream_name(stream)
            .send()
            .await
            .map_err(|e| self.kinesis_error(aws_sdk_kinesis::error::DisplayErrorContext(e)))?;
        Ok(summary.stream_description_summary().map_or(0, |d| {
            d.stream_creation_timestamp().to_millis().unwrap_or(0)
        }))
    }

    /// Writes the checkpoint when it moved and every record read so far is in S3 (no buffered
    /// object), so a later run never skips a record that was not delivered.
    fn save_checkpoint(
        &self,
        options: &RunOptions,
        checkpoint: &Option<Checkpoint>,
        saved: &mut Option<Checkpoint>,
    ) -> Result<(), RunError> {
        let (Some(path), Some(current)) = (&options.checkpoint, checkpoint) else {
            return Ok(());
        };
        let buffered = self.errors.values().any(|b| b.records > 0)
            || self.partitions.values().any(|b| b.records > 0);
        if buffered || saved.as_ref() == Some(current) {
            return Ok(());
        }
        current.save(path)?;
        *saved = Some(current.clone());
        Ok(())
    }

    fn progress(&mut self, last: bool) {
        if last || self.last_progress.elapsed() >= Duration::from_secs(5) {
            let c = &self.counts;
            eprintln!(
                "firehose-local: read {} | ok {} | failed {} | dropped {} | invocations {} | objects {} | error objects {} | documents written {} kept {}",
                c.read,
                c.ok,
                c.failed,
                c.dropped,
                c.invocations,
                c.objects,
                c.error_objects,
                c.published.written,
                c.published.kept
            );
            self.last_progress = Instant::now();
        }
    }

    /// Calls the handler for one batch, retrying a failed invocation as Firehose does.
    async fn invoke(
        &mut self,
        records: Vec<FirehoseRecord>,
        retry_backoff: Duration,
    ) -> Result<(), RunError> {
        let originals: HashMap<String, (String, i64)> = records
            .iter()
            .map(|r| {
                (
                    r.record_id.clone(),
                    (r.data.clone(), r.approximate_arrival_timestamp.unwrap_or(0)),
                )
            })
            .collect();
        let event = FirehoseEvent {
            invocation_id: Some(uuid::Uuid::new_v4().to_string()),
            delivery_stream_arn: Some(self.config.name.clone()),
            source_kinesis_stream_arn: Some(self.config.source_stream.clone()),
            region: None,
            records,
        };
        let mut attempt = 0u32;
        let transformed = loop {
            attempt += 1;
            self.counts.invocations += 1;
            let outcome = match self.transformer.transform(event.clone()).await {
                Err(error) => Err(error.to_string()),
                Ok(t) => {
                    // Lambda refuses a synchronous response above its payload limit; Firehose
                    // then sees a failed invocation.
                    let bytes = serde_json::to_vec(&t.response).map_or(0, |b| b.len());
                    if bytes > MAX_RESPONSE_BYTES {
                        self.counts.oversized_responses += 1;
                        Err(format!(
                            "Lambda.ResponseSizeExceeded: response of {bytes} bytes exceeds the {MAX_RESPONSE_BYTES}-byte payload limit"
                        ))
                    } else {
                        Ok(t)
                    }
                }
            };
            match outcome {
                Ok(t) => break Ok(t),
                Err(error) if attempt <= self.config.processor_retries => {
                    eprintln!(
                        "firehose-local: invocation failed (attempt {attempt}, retrying): {error}"
                    );
                    tokio::time::sleep(retry_backoff * 2u32.pow(attempt - 1)).await;
                }
                Err(error) => break Err(error),
            }
        };
        let transformed = match transformed {
            Ok(t) => t,
            Err(error) => {
                eprintln!(
                    "firehose-local: invocation failed after {attempt} attempts, {} record(s) go under the error prefix: {error}",
                    event.records.len()
                );
                for record in &event.records {
                    self.push_error(
                        record,
                        PROCESSING_FAILED,
                        "Lambda.FunctionError",
                        &error.to_string(),
                        attempt,
                    );
                }
                return Ok(());
            }
        };
        let reasons: HashMap<&str, String> = transformed
            .failures
            .iter()
            .map(|f| (f.record_id.as_str(), f.error.to_string()))
            .collect();
        let mut answered = 0usize;
        for out in &transformed.response.records {
            let Some((data, arrival)) = originals.get(&out.record_id) else {
                eprintln!(
                    "firehose-local: handler answered unknown record id {}",
                    out.record_id
                );
                continue;
            };
            answered += 1;
            let request = FirehoseRecord {
                record_id: out.record_id.clone(),
                approximate_arrival_timestamp: Some(*arrival),
                data: data.clone(),
                kinesis_record_metadata: None,
            };
            match out.result {
                FirehoseResult::Ok => {
                    // Without dynamic partitioning every record shares one buffer (the prefix
                    // has only time namespaces); Firehose ignores the Lambda's keys then.
                    let keys = if self.config.dynamic_partitioning {
                        out.metadata.as_ref().map(|m| m.partition_keys.clone())
                    } else {
                        Some(BTreeMap::new())
                    };
                    match (keys, decode_data(&out.data)) {
                        (Some(keys), Ok(_))
                            if !self.partitions.contains_key(&keys)
                                && self.partitions.len() >= MAX_ACTIVE_PARTITIONS =>
                        {
                            self.counts.partition_limit_failed += 1;
                            self.push_error(
                                &request,
                                ACTIVE_PARTITION_EXCEEDED,
                                "DynamicPartitioning.ActivePartitionsLimitExceeded",
                                &format!(
                                    "{MAX_ACTIVE_PARTITIONS} active partitions already buffered (Firehose quota per delivery stream)"
                                ),
                                attempt,
                            );
                        }
                        (Some(keys), Ok(line)) => {
                            self.partitions
                                .entry(keys)
                                .or_default()
                                .push(&line, *arrival);
                            self.counts.ok += 1;
                        }
                        (None, _) => self.push_error(
                            &request,
                            PROCESSING_FAILED,
                            "DynamicPartitioning.MetadataExtractionFailed",
                            "Ok record without metadata.partitionKeys",
                            attempt,
                        ),
                        (_, Err(e)) => self.push_error(
                            &request,
                            PROCESSING_FAILED,
                            "Lambda.InvalidData",
                            &format!("Ok record data is not base64: {e}"),
                            attempt,
                        ),
                    }
                }
                FirehoseResult::Dropped => self.counts.dropped += 1,
                FirehoseResult::ProcessingFailed => {
                    let reason = reasons
                        .get(out.record_id.as_str())
                        .cloned()
                        .unwrap_or_else(|| "marked ProcessingFailed by the Lambda".to_owned());
                    self.push_error(
                        &request,
                        PROCESSING_FAILED,
                        "Lambda.ProcessingFailed",
                        &reason,
                        attempt,
                    );
                }
            }
        }
        if answered != originals.len() {
            // Firehose fails records the response does not mention; so do we.
            let answered_ids: Vec<&str> = transformed
                .response
                .records
                .iter()
                .map(|r| r.record_id.as_str())
                .collect();
            for record in &event.records {
                if !answered_ids.contains(&record.record_id.as_str()) {
                    self.push_error(
                        record,
                        PROCESSING_FAILED,
                        "Lambda.MissingRecordId",
                        "record missing from the response",
                        attempt,
                    );
                }
            }
        }
        Ok(())
    }

    fn push_error(
        &mut self,
        record: &FirehoseRecord,
        error_output_type: &'static str,
        code: &str,
        message: &str,
        attempts: u32,
    ) {
        let now = now_millis();
        let line = serde_json::json!({
            "attemptsMade": attempts,
            "arrivalTimestamp": record.approximate_arrival_timestamp.unwrap_or(0),
            "errorCode": code,
            "errorMessage": message,
            "attemptEndingTimestamp": now,
            "rawData": record.data,
            "lambdaArn": self.config.lambda_arn,
        });
        let mut bytes = serde_json::to_vec(&line).unwrap_or_default();
        bytes.push(b'\n');
        self.errors
            .entry(error_output_type)
            .or_default()
            .push(&bytes, record.approximate_arrival_timestamp.unwrap_or(now));
        self.counts.failed += 1;
    }

    /// Writes the buffers that are due (all of them with `all`).
    async fn flush(&mut self, all: bool) -> Result<(), RunError> {
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
        let mut attempt = 0;
        loop {
            attempt += 1;
            match publisher.publish_key(key, &catalogue).await {
                Ok(report) => {
                    self.counts.published.add(&report);
                    return Ok(());
                }
                Err(reason) if attempt >= PUBLISH_ATTEMPTS => {
                    return Err(RunError::Publish {
                        bucket: self.config.bucket.clone(),
                        key: key.to_owned(),
                        attempts: attempt,
                        reason,
                    });
                }
                Err(reason) => {
                    eprintln!(
                        "firehose-local: publishing {key} failed (attempt {attempt}, retrying): {reason}"
                    );
                    tokio::time::sleep(Duration::from_millis(200) * 2u32.pow(attempt - 1)).await;
                }
            }
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
        let time = UtcDateTime::from_unix_millis(arrival_ms);
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
                .map_err(|e| RunError::S3 {
                    bucket: self.config.bucket.clone(),
                    key: key.to_owned(),
                    reason: format!("gzip: {e}"),
                })?
        } else {
            body
        };
        self.s3
            .put_object()
            .bucket(&self.config.bucket)
            .key(key)
            .body(body.into())
            .send()
            .await
            .map_err(|e| RunError::S3 {
                bucket: self.config.bucket.clone(),
                key: key.to_owned(),
                reason: aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
            })?;
        Ok(())
    }
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
