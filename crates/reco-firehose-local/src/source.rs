//! The source: every shard of the delivery stream's Kinesis stream, read from where the
//! checkpoint says the last run's delivered records end (or from the start position).

use std::path::PathBuf;

use aws_sdk_kinesis::config::retry::RetryConfig;
use aws_sdk_kinesis::error::DisplayErrorContext;
use aws_sdk_kinesis::types::ShardIteratorType;
use reco_domain::firehose::{FirehoseRecord, encode_data};

use crate::checkpoint::Checkpoint;
use crate::runner::{RunError, StartPosition};

/// Most records one GetRecords call returns (Kinesis API limit: 10,000).
pub const GET_RECORDS_LIMIT: i32 = 10_000;
/// Attempts of one Kinesis call (throttling, 5xx, timeouts) before the run stops with its
/// error: the SDK's standard retry mode (exponential back-off with jitter), set here rather
/// than left to the profile, so a throttled shard waits instead of ending the run.
pub const KINESIS_MAX_ATTEMPTS: u32 = 5;

/// A Kinesis client on `sdk` with the source's retry policy ([`KINESIS_MAX_ATTEMPTS`]).
pub fn kinesis_client(sdk: &aws_config::SdkConfig) -> aws_sdk_kinesis::Client {
    aws_sdk_kinesis::Client::from_conf(
        aws_sdk_kinesis::config::Builder::from(sdk)
            .retry_config(RetryConfig::standard().with_max_attempts(KINESIS_MAX_ATTEMPTS))
            .build(),
    )
}

/// The shards of one stream and where each is read next.
pub struct KinesisSource {
    client: aws_sdk_kinesis::Client,
    stream: String,
    iterators: Vec<(String, Option<String>)>,
    /// Positions of the records read so far (saved only once they are delivered).
    checkpoint: Option<Checkpoint>,
    saved: Option<Checkpoint>,
    path: Option<PathBuf>,
}

impl KinesisSource {
    /// Opens every shard of `stream`: after the checkpoint's sequence number where it knows
    /// the shard, else at `start`.
    pub async fn open(
        client: aws_sdk_kinesis::Client,
        stream: &str,
        start: StartPosition,
        checkpoint_path: Option<PathBuf>,
    ) -> Result<Self, RunError> {
        let error = |e: String| RunError::Kinesis {
            stream: stream.to_owned(),
            reason: e,
        };
        let shards = client
            .list_shards()
            .stream_name(stream)
            .send()
            .await
            .map_err(|e| error(DisplayErrorContext(e).to_string()))?;
        let checkpoint = match &checkpoint_path {
            Some(path) => {
                let summary = client
                    .describe_stream_summary()
                    .stream_name(stream)
                    .send()
                    .await
                    .map_err(|e| error(DisplayErrorContext(e).to_string()))?;
                // The creation time names the stream in the checkpoint (a stream deleted and
                // created again under the same name starts over).
                let created_ms = summary.stream_description_summary().map_or(0, |d| {
                    d.stream_creation_timestamp().to_millis().unwrap_or(0)
                });
                Some(Checkpoint::load(path, stream, created_ms)?)
            }
            None => None,
        };
        let mut iterators = Vec::new();
        for shard in shards.shards() {
            let after = checkpoint
                .as_ref()
                .and_then(|c| c.shards.get(shard.shard_id()));
            let request = client
                .get_shard_iterator()
                .stream_name(stream)
                .shard_id(shard.shard_id());
            let request = match (after, start) {
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
                tracing::info!(
                    shard = shard.shard_id(),
                    sequence,
                    "resuming after sequence number (checkpoint)"
                );
            }
            let iterator = request
                .send()
                .await
                .map_err(|e| error(DisplayErrorContext(e).to_string()))?;
            iterators.push((
                shard.shard_id().to_owned(),
                iterator.shard_iterator().map(str::to_owned),
            ));
        }
        Ok(Self {
            client,
            stream: stream.to_owned(),
            iterators,
            saved: checkpoint.clone(),
            checkpoint,
            path: checkpoint_path,
        })
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.iterators.len()
    }

    /// Whether every shard is closed and read to its end.
    pub fn exhausted(&self) -> bool {
        self.iterators.iter().all(|(_, it)| it.is_none())
    }

    /// One GetRecords call per open shard; the records, as the processor receives them, are
    /// appended to `out` in shard order.
    pub async fn poll(&mut self, out: &mut Vec<FirehoseRecord>) -> Result<usize, RunError> {
        let before = out.len();
        for (shard_id, iterator) in self.iterators.iter_mut() {
            let Some(current) = iterator.clone() else {
                continue;
            };
            let output = self
                .client
                .get_records()
                .shard_iterator(current)
                .limit(GET_RECORDS_LIMIT)
                .send()
                .await
                .map_err(|e| RunError::Kinesis {
                    stream: self.stream.clone(),
                    reason: DisplayErrorContext(e).to_string(),
                })?;
            *iterator = output.next_shard_iterator().map(str::to_owned);
            for record in output.records() {
                let arrival_ms = record
                    .approximate_arrival_timestamp()
                    .map_or(0, |t| t.to_millis().unwrap_or(0));
                out.push(FirehoseRecord {
                    record_id: format!("{shard_id}-{}", record.sequence_number()),
                    approximate_arrival_timestamp: Some(arrival_ms),
                    data: encode_data(record.data().as_ref()),
                    kinesis_record_metadata: Some(serde_json::json!({
                        "shardId": shard_id,
                        "partitionKey": record.partition_key(),
                        "sequenceNumber": record.sequence_number(),
                        "approximateArrivalTimestamp": arrival_ms,
                    })),
                });
                if let Some(c) = self.checkpoint.as_mut() {
                    c.shards
                        .insert(shard_id.clone(), record.sequence_number().to_owned());
                }
            }
        }
        Ok(out.len() - before)
    }

    /// Writes the checkpoint when it moved. Call it only when every record read so far is
    /// delivered, so a later run never skips a record that was not.
    pub fn commit(&mut self) -> Result<(), RunError> {
        let (Some(path), Some(current)) = (&self.path, &self.checkpoint) else {
            return Ok(());
        };
        if self.saved.as_ref() == Some(current) {
            return Ok(());
        }
        current.save(path)?;
        self.saved = Some(current.clone());
        Ok(())
    }
}
