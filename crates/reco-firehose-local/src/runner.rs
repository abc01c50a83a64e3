//! The runner: the topology of one delivery stream. The source (Kinesis shards, checkpoint)
//! feeds processor batches of the configured size or age; the processor (the transform
//! handler in-process, retries, error records) answers them; the sink (buffers, S3 objects,
//! the publisher) delivers; the event lake, when attached, keeps every valid raw event as
//! Parquet. The checkpoint moves only when everything read is in S3.

use std::time::{Duration, Instant};

use reco_aws::{Bucket, StorageError};
use reco_domain::firehose::FirehoseRecord;
use reco_serving::lambda::Publisher;
use reco_serving::publisher::PublishReport;
use reco_transform_lambda::Transformer;
use reco_transform_lambda::ports::{ModelStore, NeighbourIndex};

use crate::checkpoint::CheckpointError;
use crate::delivery::DeliveryConfig;
use crate::lake::{EventLake, LakeCounts};
use crate::prefix::PrefixError;
use crate::processor::Processor;
use crate::sink::S3Sink;
use crate::source::KinesisSource;

/// Pause after a poll that returned nothing (Kinesis allows 5 GetRecords per shard per second).
pub const EMPTY_POLL_PAUSE: Duration = Duration::from_millis(250);
/// Consecutive empty polls over every shard after which `--until-idle` stops.
pub const IDLE_POLLS: u32 = 3;
/// Time between two progress events of a long run.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(5);

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
    /// Pause before the first retry of a failed invocation (doubled for each later one, with
    /// jitter).
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
    /// Records refused because [`crate::sink::MAX_ACTIVE_PARTITIONS`] partitions were open.
    pub partition_limit_failed: u64,
    /// Invocations whose response passed Lambda's 6 MB payload limit.
    pub oversized_responses: u64,
    /// What the publisher did with the delivered objects (when one is attached).
    pub published: PublishReport,
    /// What the event lake did (when one is attached).
    pub lake: LakeCounts,
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
    /// An object could not be written to the destination bucket.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// An object could not be compressed.
    #[error("compressing {location}: {reason}")]
    Gzip {
        /// Where the object was going.
        location: String,
        /// The encoder's message.
        reason: String,
    },
    /// A prefix of the configuration cannot be expanded.
    #[error(transparent)]
    Prefix(#[from] PrefixError),
    /// The checkpoint file cannot be read or written.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// An event file could not be encoded or its Glue partition registered.
    #[error("event lake {location}: {reason}")]
    Lake {
        /// The file or the Glue table.
        location: String,
        /// What failed.
        reason: String,
    },
    /// A delivered object could not be published after every attempt.
    #[error(
        "publishing {location} failed {attempts} times (the object is delivered; re-run to publish it): {reason}"
    )]
    Publish {
        /// The delivered object (`s3://bucket/key`).
        location: String,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        reason: String,
    },
}

/// The local Firehose for one delivery stream.
pub struct LocalFirehose<'a, I: NeighbourIndex, M: ModelStore> {
    config: DeliveryConfig,
    kinesis: aws_sdk_kinesis::Client,
    bucket: Bucket,
    transformer: &'a Transformer<I, M>,
    publisher: Option<&'a Publisher>,
    lake: Option<EventLake>,
}

impl<'a, I: NeighbourIndex, M: ModelStore> LocalFirehose<'a, I, M> {
    /// A runner for `config`, reading the source stream with `kinesis` (see
    /// [`crate::source::kinesis_client`]), calling `transformer` in-process and writing to
    /// `bucket`, the configuration's destination bucket (`Bucket::s3(aws, &config.bucket)`).
    pub fn new(
        config: DeliveryConfig,
        kinesis: aws_sdk_kinesis::Client,
        bucket: Bucket,
        transformer: &'a Transformer<I, M>,
    ) -> Self {
        Self {
            config,
            kinesis,
            bucket,
            transformer,
            publisher: None,
            lake: None,
        }
    }

    /// Also writes every valid raw event read to the data lake ([`EventLake`]).
    pub fn with_lake(mut self, lake: EventLake) -> Self {
        self.lake = Some(lake);
        self
    }

    /// Publishes every delivered object with `publisher` right after writing it, as the S3
    /// event (through the queue) makes the publisher Lambda do on AWS.
    pub fn with_publisher(mut self, publisher: &'a Publisher) -> Self {
        self.publisher = Some(publisher);
        self
    }

    /// Runs until the stream is drained (`until_idle`) or forever.
    pub async fn run(self, options: RunOptions) -> Result<RunCounts, RunError> {
        let mut source = KinesisSource::open(
            self.kinesis,
            &self.config.source_stream,
            options.start,
            options.checkpoint.clone(),
        )
        .await?;
        tracing::info!(
            source = self.config.source_stream,
            destination = %self.bucket.location(&self.config.prefix),
            shards = source.shards(),
            batch_bytes = self.config.processor_buffer_bytes,
            batch_interval = ?self.config.processor_interval,
            "delivering"
        );
        let processor = Processor::new(self.transformer, &self.config, options.retry_backoff);
        let mut sink = S3Sink::new(self.config.clone(), self.bucket);
        if let Some(publisher) = self.publisher {
            sink = sink.with_publisher(publisher);
        }
        let mut topology = Topology {
            processor,
            sink,
            lake: self.lake,
            batch_bytes: self.config.processor_buffer_bytes,
            batch_interval: self.config.processor_interval,
            counts: RunCounts::default(),
            last_progress: Instant::now(),
        };
        let mut pending: Vec<FirehoseRecord> = Vec::new();
        let mut pending_bytes = 0usize;
        let mut pending_since = Instant::now();
        let mut polled = Vec::new();
        let mut idle_polls = 0u32;
        loop {
            let read = source.poll(&mut polled).await?;
            topology.counts.read += read as u64;
            for record in polled.drain(..) {
                if pending.is_empty() {
                    pending_since = Instant::now();
                }
                // The processor buffer counts the records' decoded size, as Firehose does.
                pending_bytes += record.data.len() / 4 * 3;
                pending.push(record);
                if pending_bytes >= topology.batch_bytes {
                    topology.process(std::mem::take(&mut pending)).await;
                    pending_bytes = 0;
                }
            }
            idle_polls = if read == 0 { idle_polls + 1 } else { 0 };
            let draining = options.until_idle && idle_polls > 0;
            if !pending.is_empty()
                && (draining || pending_since.elapsed() >= topology.batch_interval)
            {
                topology.process(std::mem::take(&mut pending)).await;
                pending_bytes = 0;
            }
            topology.sink.flush(draining).await?;
            if let Some(lake) = topology.lake.as_mut() {
                lake.flush(draining).await?;
            }
            topology.progress(false);
            let finished = (options.until_idle && idle_polls >= IDLE_POLLS)
                || (source.exhausted() && !options.until_idle);
            if finished && pending.is_empty() {
                topology.sink.flush(true).await?;
                if let Some(lake) = topology.lake.as_mut() {
                    lake.flush(true).await?;
                }
                source.commit()?;
                topology.progress(true);
                return Ok(topology.finish());
            }
            let lake_empty = topology.lake.as_ref().is_none_or(EventLake::is_empty);
            if pending.is_empty() && topology.sink.is_empty() && lake_empty {
                source.commit()?;
            }
            if read == 0 {
                tokio::time::sleep(EMPTY_POLL_PAUSE).await;
            }
        }
    }
}

/// The processor and the sink, joined, with the run's counts.
struct Topology<'a, I: NeighbourIndex, M: ModelStore> {
    processor: Processor<'a, I, M>,
    sink: S3Sink<'a>,
    lake: Option<EventLake>,
    batch_bytes: usize,
    batch_interval: Duration,
    counts: RunCounts,
    last_progress: Instant,
}

impl<I: NeighbourIndex, M: ModelStore> Topology<'_, I, M> {
    async fn process(&mut self, records: Vec<FirehoseRecord>) {
        if let Some(lake) = self.lake.as_mut() {
            lake.accept(&records);
        }
        let processed = self.processor.process(records).await;
        self.counts.invocations += processed.invocations;
        self.counts.oversized_responses += processed.oversized_responses;
        self.counts.dropped += processed
            .deliveries
            .iter()
            .filter(|d| matches!(d, crate::processor::Delivery::Dropped))
            .count() as u64;
        self.sink.accept(processed.deliveries);
    }

    fn finish(&self) -> RunCounts {
        let sink = self.sink.counts();
        RunCounts {
            ok: sink.ok,
            failed: sink.failed,
            objects: sink.objects,
            error_objects: sink.error_objects,
            partition_limit_failed: sink.partition_limit_failed,
            published: sink.published,
            lake: self
                .lake
                .as_ref()
                .map(EventLake::counts)
                .unwrap_or_default(),
            ..self.counts
        }
    }

    fn progress(&mut self, last: bool) {
        if last || self.last_progress.elapsed() >= PROGRESS_EVERY {
            let c = self.finish();
            tracing::info!(
                read = c.read,
                ok = c.ok,
                failed = c.failed,
                dropped = c.dropped,
                invocations = c.invocations,
                objects = c.objects,
                error_objects = c.error_objects,
                documents_written = c.published.written,
                documents_kept = c.published.kept,
                lake_events = c.lake.events,
                lake_files = c.lake.files,
                "progress"
            );
            self.last_progress = Instant::now();
        }
    }
}
