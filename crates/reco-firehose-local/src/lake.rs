//! The raw event sink: every valid click event read from the stream, as Parquet under
//! `events/dt=YYYY-MM-DD/` of the data-lake bucket (the [`reco_domain::lake_events`]
//! contract), with the day's partition of the Glue table `click_events` registered. What the
//! second delivery stream (record format conversion to Parquet) does on AWS.
//!
//! Events are buffered per arrival day and written when a day's buffer reaches
//! [`LakeOptions::buffer_bytes`] of event JSON or has been open for
//! [`LakeOptions::buffer_interval`] (Firehose's buffering hints), and at the end of a run.
//! Events that fail validation are not written here: the transform returns them
//! `ProcessingFailed` and they land under the error prefix with their reason, as before.
//!
//! Delivery is at least once: the runner moves the Kinesis checkpoint only when this sink's
//! buffers are written too, so a run stopped in between reads the same events again and may
//! write them a second time (in another file). Readers dedupe on `event_id`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use reco_aws::Bucket;
use reco_aws::glue::ParquetTable;
use reco_domain::firehose::FirehoseRecord;
use reco_domain::lake_events::{
    EVENTS_PREFIX, EVENTS_TABLE, HIVE_COLUMNS, LakeEvent, PARTITION_KEY_DT, partition_prefix,
    to_record_batch,
};
use reco_domain::transform::decode_event;

use crate::runner::RunError;

/// Content type of the event files.
pub const PARQUET_CONTENT_TYPE: &str = "application/vnd.apache.parquet";

/// Buffering of the event files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LakeOptions {
    /// A day's buffer is written once its events' JSON reaches this size (Firehose's format
    /// conversion needs at least 64 MiB; files compress about 5-10x in Parquet).
    pub buffer_bytes: usize,
    /// ... or once it has been open this long.
    pub buffer_interval: Duration,
}

impl Default for LakeOptions {
    /// 64 MiB or 300 s, the deployed delivery stream's hints.
    fn default() -> Self {
        Self {
            buffer_bytes: 64 << 20,
            buffer_interval: Duration::from_secs(300),
        }
    }
}

/// What the event sink did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LakeCounts {
    /// Events written (or buffered) for the lake.
    pub events: u64,
    /// Records left out because they are not valid events (they go under the error prefix).
    pub invalid: u64,
    /// Parquet files written.
    pub files: u64,
    /// Glue partitions registered (created or confirmed) this run.
    pub partitions: u64,
}

struct DayBuffer {
    rows: Vec<LakeEvent>,
    bytes: usize,
    opened: Instant,
}

/// The raw events of one stream, on their way to the lake.
pub struct EventLake {
    bucket: Bucket,
    table: Option<ParquetTable>,
    table_ready: bool,
    stream: String,
    options: LakeOptions,
    days: BTreeMap<NaiveDate, DayBuffer>,
    registered: BTreeSet<NaiveDate>,
    counts: LakeCounts,
}

impl EventLake {
    /// Writes to `bucket` (the data lake) and registers partitions in the Glue table
    /// `click_events` of `glue_database` when a client is given. `stream` names the files.
    pub fn new(
        bucket: Bucket,
        glue: Option<(aws_sdk_glue::Client, String)>,
        stream: impl Into<String>,
        options: LakeOptions,
    ) -> Self {
        let table = glue.map(|(client, database)| {
            ParquetTable::new(
                client,
                database,
                EVENTS_TABLE,
                &HIVE_COLUMNS,
                PARTITION_KEY_DT,
                "reco raw click events, one row per event of the stream (at least once: dedupe on event_id)",
            )
        });
        Self {
            bucket,
            table,
            table_ready: false,
            stream: stream.into(),
            options,
            days: BTreeMap::new(),
            registered: BTreeSet::new(),
            counts: LakeCounts::default(),
        }
    }

    /// What the sink did so far.
    pub fn counts(&self) -> LakeCounts {
        self.counts
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.days.is_empty()
    }

    /// Buffers the valid events of `records` (source records, before the transform).
    pub fn accept(&mut self, records: &[FirehoseRecord]) {
        for record in records {
            let Ok((event, payload)) = decode_event(&record.data) else {
                self.counts.invalid += 1;
                continue;
            };
            let arrival = record
                .approximate_arrival_timestamp
                .and_then(DateTime::<Utc>::from_timestamp_millis)
                .unwrap_or_else(Utc::now);
            let row = LakeEvent::from_event(&event, arrival);
            let day = self.days.entry(row.dt()).or_insert_with(|| DayBuffer {
                rows: Vec::new(),
                bytes: 0,
                opened: Instant::now(),
            });
            day.bytes += payload.len();
            day.rows.push(row);
            self.counts.events += 1;
        }
    }

    /// Writes the days that are due (all of them with `all`).
    pub async fn flush(&mut self, all: bool) -> Result<(), RunError> {
        let due: Vec<NaiveDate> = self
            .days
            .iter()
            .filter(|(_, d)| {
                all || d.bytes >= self.options.buffer_bytes
                    || d.opened.elapsed() >= self.options.buffer_interval
            })
            .map(|(dt, _)| *dt)
            .collect();
        for dt in due {
            let Some(day) = self.days.remove(&dt) else {
                continue;
            };
            if let Err(e) = self.write_day(dt, &day.rows).await {
                // Keep the events: the checkpoint does not move past them.
                self.days.insert(dt, day);
                return Err(e);
            }
        }
        Ok(())
    }

    async fn write_day(&mut self, dt: NaiveDate, rows: &[LakeEvent]) -> Result<(), RunError> {
        let prefix = partition_prefix(dt);
        let key = format!(
            "{prefix}{}-{}-{}.parquet",
            self.stream,
            Utc::now().format("%Y-%m-%d-%H-%M-%S"),
            uuid::Uuid::new_v4()
        );
        let body = parquet_file(rows).map_err(|reason| RunError::Lake {
            location: self.bucket.location(&key),
            reason,
        })?;
        self.bucket
            .put(&key, Bytes::from(body), PARQUET_CONTENT_TYPE)
            .await?;
        self.counts.files += 1;
        tracing::debug!(key, events = rows.len(), "event file written");
        if let Some(table) = &self.table
            && !self.registered.contains(&dt)
        {
            let lake_error = |reason: String| RunError::Lake {
                location: table.name(),
                reason,
            };
            if !self.table_ready {
                let location = self.bucket.location(&format!("{EVENTS_PREFIX}/"));
                table
                    .ensure(&location)
                    .await
                    .map_err(|e| lake_error(e.to_string()))?;
                self.table_ready = true;
            }
            table
                .register_partition(
                    &dt.format("%Y-%m-%d").to_string(),
                    &self.bucket.location(&prefix),
                )
                .await
                .map_err(|e| lake_error(e.to_string()))?;
            self.registered.insert(dt);
            self.counts.partitions += 1;
        }
        Ok(())
    }
}

/// One Parquet file (Snappy) of `rows`.
pub fn parquet_file(rows: &[LakeEvent]) -> Result<Vec<u8>, String> {
    let batch = to_record_batch(rows).map_err(|e| e.to_string())?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer = ArrowWriter::try_new(Vec::new(), batch.schema(), Some(properties))
        .map_err(|e| e.to_string())?;
    writer.write(&batch).map_err(|e| e.to_string())?;
    writer.into_inner().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use reco_domain::firehose::encode_data;
    use reco_domain::lake_events::{events_schema, from_record_batch};

    fn record(json: &str, arrival_ms: i64) -> FirehoseRecord {
        FirehoseRecord {
            record_id: "r".into(),
            approximate_arrival_timestamp: Some(arrival_ms),
            data: encode_data(json.as_bytes()),
            kinesis_record_metadata: None,
        }
    }

    #[tokio::test]
    async fn valid_events_are_written_per_arrival_day_as_parquet() {
        let bucket = Bucket::in_memory("lake");
        let mut lake = EventLake::new(bucket.clone(), None, "recs", LakeOptions::default());
        // 2026-03-04T23:59:59Z and one second later.
        let (late, next) = (1_772_668_799_000, 1_772_668_800_000);
        lake.accept(&[
            record(
                r#"{"session_id":"s","customer_number":1,"browse_history":[]}"#,
                late,
            ),
            record("not json", late),
            record(
                r#"{"session_id":"s","customer_number":2,"event_type":"purchase","item":"P1"}"#,
                next,
            ),
        ]);
        assert_eq!(lake.counts().events, 2);
        assert_eq!(lake.counts().invalid, 1);
        lake.flush(false).await.unwrap();
        assert!(!lake.is_empty(), "not due yet");
        lake.flush(true).await.unwrap();
        assert!(lake.is_empty());
        let keys = bucket.list("events/").await.unwrap();
        assert_eq!(keys.len(), 2, "{keys:?}");
        assert!(
            keys[0].starts_with("events/dt=2026-03-04/recs-"),
            "{keys:?}"
        );
        assert!(
            keys[1].starts_with("events/dt=2026-03-05/recs-"),
            "{keys:?}"
        );
        let body = bucket.get(&keys[1]).await.unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(body)
            .unwrap()
            .build()
            .unwrap();
        let batches: Vec<_> = reader.map(Result::unwrap).collect();
        assert_eq!(batches[0].schema(), events_schema());
        let rows = from_record_batch(&batches[0]).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].customer_number, 2);
        assert_eq!(rows[0].item.as_deref(), Some("P1"));
        assert_eq!(rows[0].arrival_time.timestamp_millis(), next);
    }
}
