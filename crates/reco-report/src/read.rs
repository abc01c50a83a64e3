//! Reading the raw events of the data lake: `events/dt=YYYY-MM-DD/` Parquet objects, one object
//! in memory at a time (the next one downloading meanwhile), only the columns the report needs,
//! decoded batch by batch into [`Attribution`].

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, TimeUnit};
use bytes::Bytes;
use chrono::NaiveDate;
use futures_util::{StreamExt as _, TryStreamExt as _};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use reco_aws::Bucket;
use reco_domain::event::EventType;
use reco_domain::lake_events::{
    COL_ARRIVAL_TIME, COL_CUSTOMER_NUMBER, COL_EVENT_TIME, COL_EVENT_TYPE, COL_EXPERIMENT,
    COL_ITEM, COL_RECOMMENDATION_ID, COL_VARIANT, partition_prefix,
};

use crate::ReportError;
use crate::attribution::{Attribution, EventRef, Kind};

/// Key prefix of the raw events in the data lake bucket, with its slash.
pub const EVENTS_PREFIX: &str = "events/";

/// The columns read; the browse-history lists and everything else are never decoded.
const COLUMNS: [&str; 8] = [
    COL_EVENT_TYPE,
    COL_CUSTOMER_NUMBER,
    COL_EVENT_TIME,
    COL_ARRIVAL_TIME,
    COL_ITEM,
    COL_RECOMMENDATION_ID,
    COL_EXPERIMENT,
    COL_VARIANT,
];

/// Rows per decoded batch: a few MB of the projected columns.
const BATCH_ROWS: usize = 8192;

/// Distinct experiment names remembered for the "no impressions" message.
const EXPERIMENTS_SEEN_MAX: usize = 20;

/// What was read, for the report's header and its error messages.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReadStats {
    /// Day partitions listed.
    pub partitions: u64,
    /// Objects read.
    pub objects: u64,
    /// Bytes of the objects read.
    pub bytes: u64,
    /// Rows in those objects (every type).
    pub rows: u64,
    /// Rows of the types the report uses (impressions of any experiment, clicks, add-to-carts,
    /// purchases).
    pub rows_used: u64,
    /// Newest `arrival_time` read, µs since the epoch.
    #[serde(skip)]
    pub newest_arrival_us: Option<i64>,
    /// Experiments named by impressions in the impression dates (at most 20).
    pub experiments_seen: BTreeSet<String>,
}

/// Which rows of an object count.
#[derive(Debug, Clone, Copy)]
pub struct RowFilter<'a> {
    /// The reported experiment.
    pub experiment: &'a str,
    /// Whether the object's day is one of the impression dates (later days supply outcomes
    /// only).
    pub impressions: bool,
}

/// Reads every object of the day partitions `days` (ascending), feeding `attribution`.
/// `on_day` is called after each day with the running totals (progress).
pub async fn read_days(
    lake: &Bucket,
    days: &[(NaiveDate, bool)],
    experiment: &str,
    attribution: &mut Attribution,
    on_day: &mut dyn FnMut(NaiveDate, &ReadStats),
) -> Result<ReadStats, ReportError> {
    let mut stats = ReadStats::default();
    for &(day, impressions) in days {
        let prefix = partition_prefix(day);
        let keys = lake.list(&prefix).await?;
        stats.partitions += 1;
        let filter = RowFilter {
            experiment,
            impressions,
        };
        // One object downloading while the previous one decodes.
        let mut bodies = futures_util::stream::iter(keys.into_iter().map(|key| async move {
            let body = lake.get(&key).await?;
            Ok::<_, ReportError>((key, body))
        }))
        .buffered(2);
        while let Some((key, body)) = bodies.try_next().await? {
            stats.objects += 1;
            stats.bytes += body.len() as u64;
            add_parquet(body, &lake.location(&key), filter, attribution, &mut stats)?;
        }
        on_day(day, &stats);
    }
    Ok(stats)
}

/// Decodes one Parquet object (`source` names it in errors) into `attribution`.
pub fn add_parquet(
    body: Bytes,
    source: &str,
    filter: RowFilter<'_>,
    attribution: &mut Attribution,
    stats: &mut ReadStats,
) -> Result<(), ReportError> {
    let malformed = |reason: String| ReportError::Malformed {
        object: source.to_owned(),
        reason,
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(body)
        .map_err(|e| malformed(format!("not a readable Parquet file: {e}")))?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), COLUMNS);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| malformed(format!("not a readable Parquet file: {e}")))?;
    for batch in reader {
        let batch = batch.map_err(|e| malformed(format!("cannot decode a row group: {e}")))?;
        add_batch(&batch, filter, attribution, stats).map_err(malformed)?;
    }
    Ok(())
}

/// A column cast to `to`; `None` when the object has no such column (written before the
/// column existed: every value null).
fn optional(batch: &RecordBatch, name: &str, to: &DataType) -> Result<Option<ArrayRef>, String> {
    let Ok(index) = batch.schema().index_of(name) else {
        return Ok(None);
    };
    let array = batch.column(index);
    cast(array, to).map(Some).map_err(|e| {
        format!(
            "column {name:?} of type {} is not {to}: {e}",
            array.data_type()
        )
    })
}

fn required(batch: &RecordBatch, name: &str, to: &DataType) -> Result<ArrayRef, String> {
    optional(batch, name, to)?.ok_or_else(|| {
        let columns: Vec<String> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        format!(
            "missing column {name:?} (columns: {}): is this the raw events table?",
            columns.join(", ")
        )
    })
}

fn strings(array: &Option<ArrayRef>) -> Option<&StringArray> {
    array.as_ref().map(|a| {
        a.as_any()
            .downcast_ref::<StringArray>()
            .expect("cast to Utf8")
    })
}

fn text(array: Option<&StringArray>, row: usize) -> Option<&str> {
    array.filter(|a| a.is_valid(row)).map(|a| a.value(row))
}

fn add_batch(
    batch: &RecordBatch,
    filter: RowFilter<'_>,
    attribution: &mut Attribution,
    stats: &mut ReadStats,
) -> Result<(), String> {
    let rows = batch.num_rows();
    stats.rows += rows as u64;
    let time_type = DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC")));
    // Written before the event types existed: every row is a view.
    let Some(types) = optional(batch, COL_EVENT_TYPE, &DataType::Utf8)? else {
        return Ok(());
    };
    let types = strings(&Some(types)).cloned().expect("cast to Utf8");
    let arrival = required(batch, COL_ARRIVAL_TIME, &time_type)?;
    let arrival = cast(&arrival, &DataType::Int64).map_err(|e| e.to_string())?;
    let arrival = arrival
        .as_any()
        .downcast_ref::<Int64Array>()
        .expect("Int64");
    let event_time = optional(batch, COL_EVENT_TIME, &time_type)?
        .map(|a| cast(&a, &DataType::Int64))
        .transpose()
        .map_err(|e| e.to_string())?;
    let event_time = event_time
        .as_ref()
        .map(|a| a.as_any().downcast_ref::<Int64Array>().expect("Int64"));
    let customer = required(batch, COL_CUSTOMER_NUMBER, &DataType::Int64)?;
    let customer = customer
        .as_any()
        .downcast_ref::<Int64Array>()
        .expect("cast to Int64");
    let item = optional(batch, COL_ITEM, &DataType::Utf8)?;
    let item = strings(&item);
    let recommendation = optional(batch, COL_RECOMMENDATION_ID, &DataType::Utf8)?;
    let recommendation = strings(&recommendation);
    let experiment = optional(batch, COL_EXPERIMENT, &DataType::Utf8)?;
    let experiment = strings(&experiment);
    let variant = optional(batch, COL_VARIANT, &DataType::Utf8)?;
    let variant = strings(&variant);

    for i in 0..rows {
        if arrival.is_valid(i) {
            let t = arrival.value(i);
            stats.newest_arrival_us = Some(stats.newest_arrival_us.map_or(t, |n| n.max(t)));
        }
        if !types.is_valid(i) {
            return Err(format!("row {}: event_type is null", i + 1));
        }
        // Views (and a type this version does not know) are not part of the report.
        let kind = match types.value(i).parse::<EventType>() {
            Ok(EventType::RecImpression) => Kind::Impression,
            Ok(EventType::RecClick) => Kind::Click,
            Ok(EventType::AddToCart) => Kind::AddToCart,
            Ok(EventType::Purchase) => Kind::Purchase,
            Ok(EventType::View) | Err(_) => continue,
        };
        stats.rows_used += 1;
        if kind == Kind::Impression {
            if !filter.impressions {
                continue;
            }
            let name = text(experiment, i);
            if name != Some(filter.experiment) {
                if let Some(name) = name
                    && stats.experiments_seen.len() < EXPERIMENTS_SEEN_MAX
                    && !stats.experiments_seen.contains(name)
                {
                    stats.experiments_seen.insert(name.to_owned());
                }
                continue;
            }
        }
        if !customer.is_valid(i) {
            return Err(format!("row {}: customer_number is null", i + 1));
        }
        let time_us = match event_time.filter(|t| t.is_valid(i)) {
            Some(t) => t.value(i),
            None if arrival.is_valid(i) => arrival.value(i),
            None => {
                return Err(format!(
                    "row {}: neither event_time nor arrival_time is set",
                    i + 1
                ));
            }
        };
        attribution
            .add(EventRef {
                kind,
                customer: customer.value(i),
                time_us,
                item: text(item, i).unwrap_or_default(),
                recommendation_id: text(recommendation, i),
                variant: text(variant, i),
            })
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::{Field, Schema};
    use parquet::arrow::ArrowWriter;

    fn parquet(batch: &RecordBatch) -> Bytes {
        let mut out = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
        writer.write(batch).unwrap();
        writer.close().unwrap();
        Bytes::from(out)
    }

    fn filter() -> RowFilter<'static> {
        RowFilter {
            experiment: "e",
            impressions: true,
        }
    }

    /// Files from before the experiment columns existed: impressions without them are set
    /// aside (counted), purchases still count; files from before event types: all views.
    #[test]
    fn older_files_with_fewer_columns_are_read() {
        let time = DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC")));
        let schema = Arc::new(Schema::new(vec![
            Field::new(COL_EVENT_TYPE, DataType::Utf8, false),
            Field::new(COL_CUSTOMER_NUMBER, DataType::Int64, false),
            Field::new(COL_ARRIVAL_TIME, time.clone(), false),
            Field::new(COL_ITEM, DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec![
                    "view",
                    "purchase",
                    "rec_impression",
                ])),
                Arc::new(Int64Array::from(vec![1, 1, 1])),
                Arc::new(TimestampMicrosecondArray::from(vec![10, 20, 30]).with_timezone("UTC")),
                Arc::new(StringArray::from(vec![Some("S1"), Some("S1"), Some("S1")])),
            ],
        )
        .unwrap();
        let mut attribution = Attribution::new(1);
        let mut stats = ReadStats::default();
        add_parquet(
            parquet(&batch),
            "old",
            filter(),
            &mut attribution,
            &mut stats,
        )
        .unwrap();
        assert_eq!((stats.rows, stats.rows_used), (3, 2));
        assert_eq!(stats.newest_arrival_us, Some(30));
        // The impression names no experiment: not this experiment's.
        assert_eq!(attribution.impression_events(), 0);

        let views_only = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new(COL_CUSTOMER_NUMBER, DataType::Int64, false),
                Field::new(COL_ARRIVAL_TIME, time, false),
            ])),
            vec![
                Arc::new(Int64Array::from(vec![1])),
                Arc::new(TimestampMicrosecondArray::from(vec![5]).with_timezone("UTC")),
            ],
        )
        .unwrap();
        let mut stats = ReadStats::default();
        add_parquet(
            parquet(&views_only),
            "v1",
            filter(),
            &mut attribution,
            &mut stats,
        )
        .unwrap();
        assert_eq!((stats.rows, stats.rows_used), (1, 0));
    }

    #[test]
    fn an_object_that_is_not_the_events_table_is_named_in_the_error() {
        let mut attribution = Attribution::new(1);
        let mut stats = ReadStats::default();
        let err = add_parquet(
            Bytes::from_static(b"{\"not\": \"parquet\"}"),
            "s3://lake/events/dt=2026-03-01/x.json",
            filter(),
            &mut attribution,
            &mut stats,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("s3://lake/events/dt=2026-03-01/x.json: not a readable Parquet file"),
            "{err}"
        );
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new(
                COL_EVENT_TYPE,
                DataType::Utf8,
                false,
            )])),
            vec![Arc::new(StringArray::from(vec!["purchase"]))],
        )
        .unwrap();
        let err =
            add_parquet(parquet(&batch), "t", filter(), &mut attribution, &mut stats).unwrap_err();
        assert_eq!(
            err.to_string(),
            "t: missing column \"arrival_time\" (columns: event_type): is this the raw events table?"
        );
    }
}
