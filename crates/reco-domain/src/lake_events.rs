//! Raw click events in the data lake: every event of the stream, one row each, in Parquet
//! under `s3://<data lake bucket>/events/dt=YYYY-MM-DD/` (Glue table [`EVENTS_TABLE`],
//! partition key [`PARTITION_KEY_DT`], the UTC date the event arrived on the stream).
//!
//! Columns (Arrow types; nullable unless said): [`COL_EVENT_ID`] Utf8, [`COL_EVENT_TYPE`]
//! Utf8 not null (`view` for version 1 events), [`COL_SESSION_ID`] Utf8 not null,
//! [`COL_CUSTOMER_NUMBER`] Int64 not null, [`COL_EVENT_TIME`] Timestamp(µs, UTC) (producer
//! time, null when absent or not RFC 3339), [`COL_ARRIVAL_TIME`] Timestamp(µs, UTC) not null
//! (approximate arrival on the stream), [`COL_ITEM`], [`COL_RECOMMENDATION_ID`],
//! [`COL_EXPERIMENT`], [`COL_VARIANT`] Utf8, [`COL_BROWSED_ITEMS`] List<Utf8> (the browse
//! history's codes, oldest first, each once) and [`COL_CART_ITEMS`] List<Utf8> (the codes of
//! history items in the cart). The personal fields of the event (city, country, credit
//! limit) are never written.
//!
//! Delivery is at least once: a writer restarted after a crash may write an event twice;
//! readers that count events dedupe on `event_id` (when the producer set one).

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray as _, Int64Array, ListBuilder, RecordBatch, StringArray,
    StringBuilder, TimestampMicrosecondArray,
};
use arrow::datatypes::{
    DataType, Field, Int64Type, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType,
};
use arrow::error::ArrowError;
use chrono::{DateTime, NaiveDate, Utc};

use crate::event::{ClickEvent, EventType};
use crate::firehose::{FirehoseRecord, FirehoseResponse, FirehoseResponseRecord};

/// Glue table of the raw events.
pub const EVENTS_TABLE: &str = "click_events";
/// Key prefix of the raw events inside the data-lake bucket.
pub const EVENTS_PREFIX: &str = "events";
/// Hive partition key: the UTC date of arrival, `YYYY-MM-DD` (a string in Glue).
pub const PARTITION_KEY_DT: &str = "dt";

/// Producer's event identifier, `Utf8`, nullable.
pub const COL_EVENT_ID: &str = "event_id";
/// Event type (`view`, `add_to_cart`, `purchase`, `rec_impression`, `rec_click`), `Utf8`, not null.
pub const COL_EVENT_TYPE: &str = "event_type";
/// Session identifier, `Utf8`, not null.
pub const COL_SESSION_ID: &str = "session_id";
/// Customer number, `Int64`, not null.
pub const COL_CUSTOMER_NUMBER: &str = "customer_number";
/// Producer time, `Timestamp(Microsecond, "UTC")`, nullable.
pub const COL_EVENT_TIME: &str = "event_time";
/// Approximate arrival on the stream, `Timestamp(Microsecond, "UTC")`, not null.
pub const COL_ARRIVAL_TIME: &str = "arrival_time";
/// The product the event is about, `Utf8`, nullable.
pub const COL_ITEM: &str = "item";
/// The recommendation shown or clicked, `Utf8`, nullable.
pub const COL_RECOMMENDATION_ID: &str = "recommendation_id";
/// Experiment of the recommendation shown, `Utf8`, nullable.
pub const COL_EXPERIMENT: &str = "experiment";
/// Variant of the recommendation shown, `Utf8`, nullable.
pub const COL_VARIANT: &str = "variant";
/// Browse history's product codes, oldest first, `List<Utf8>`, nullable.
pub const COL_BROWSED_ITEMS: &str = "browsed_items";
/// Codes of the history items in the cart, `List<Utf8>`, nullable.
pub const COL_CART_ITEMS: &str = "cart_items";

/// Every column in file order, with its Hive type for the Glue table.
pub const HIVE_COLUMNS: [(&str, &str); 12] = [
    (COL_EVENT_ID, "string"),
    (COL_EVENT_TYPE, "string"),
    (COL_SESSION_ID, "string"),
    (COL_CUSTOMER_NUMBER, "bigint"),
    (COL_EVENT_TIME, "timestamp"),
    (COL_ARRIVAL_TIME, "timestamp"),
    (COL_ITEM, "string"),
    (COL_RECOMMENDATION_ID, "string"),
    (COL_EXPERIMENT, "string"),
    (COL_VARIANT, "string"),
    (COL_BROWSED_ITEMS, "array<string>"),
    (COL_CART_ITEMS, "array<string>"),
];

/// The time zone of both timestamp columns.
const UTC: &str = "UTC";

fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into()))
}

fn string_list() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

/// The Arrow schema of the event files (column order as [`HIVE_COLUMNS`]).
pub fn events_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(COL_EVENT_ID, DataType::Utf8, true),
        Field::new(COL_EVENT_TYPE, DataType::Utf8, false),
        Field::new(COL_SESSION_ID, DataType::Utf8, false),
        Field::new(COL_CUSTOMER_NUMBER, DataType::Int64, false),
        Field::new(COL_EVENT_TIME, timestamp(), true),
        Field::new(COL_ARRIVAL_TIME, timestamp(), false),
        Field::new(COL_ITEM, DataType::Utf8, true),
        Field::new(COL_RECOMMENDATION_ID, DataType::Utf8, true),
        Field::new(COL_EXPERIMENT, DataType::Utf8, true),
        Field::new(COL_VARIANT, DataType::Utf8, true),
        Field::new(COL_BROWSED_ITEMS, string_list(), true),
        Field::new(COL_CART_ITEMS, string_list(), true),
    ]))
}

/// The key prefix of one day's partition: `events/dt=YYYY-MM-DD/`.
pub fn partition_prefix(dt: NaiveDate) -> String {
    format!(
        "{EVENTS_PREFIX}/{PARTITION_KEY_DT}={}/",
        dt.format("%Y-%m-%d")
    )
}

/// One row of the event table: what the lake keeps of a click event.
#[derive(Debug, Clone, PartialEq)]
pub struct LakeEvent {
    /// Producer's event identifier.
    pub event_id: Option<String>,
    /// What the event records.
    pub event_type: EventType,
    /// Session identifier.
    pub session_id: String,
    /// Customer number.
    pub customer_number: i64,
    /// Producer time, when set and RFC 3339.
    pub event_time: Option<DateTime<Utc>>,
    /// Approximate arrival on the stream.
    pub arrival_time: DateTime<Utc>,
    /// The product the event is about.
    pub item: Option<String>,
    /// The recommendation shown or clicked.
    pub recommendation_id: Option<String>,
    /// Experiment of the recommendation shown.
    pub experiment: Option<String>,
    /// Variant of the recommendation shown.
    pub variant: Option<String>,
    /// Browse history's codes, oldest first, each once.
    pub browsed_items: Vec<String>,
    /// Codes of history items in the cart.
    pub cart_items: Vec<String>,
}

impl LakeEvent {
    /// The row of a (validated) event that arrived at `arrival_time`; the personal fields
    /// are left behind.
    pub fn from_event(event: &ClickEvent, arrival_time: DateTime<Utc>) -> Self {
        Self {
            event_id: event.event_id.clone(),
            event_type: event.event_type,
            session_id: event.session_id.clone(),
            customer_number: event.customer_number,
            event_time: event
                .event_time
                .as_deref()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc)),
            arrival_time,
            item: event.item.as_deref().map(|s| s.trim().to_owned()),
            recommendation_id: event.recommendation_id.clone(),
            experiment: event.experiment.clone(),
            variant: event.variant.clone(),
            browsed_items: event.browsed_product_codes(),
            cart_items: event.cart_product_codes(),
        }
    }

    /// The row as one JSON line for Firehose's record format conversion (Hive JSON SerDe with
    /// `timestamp_formats = ["millis"]`): the column names as keys, timestamps in Unix
    /// milliseconds, lists as arrays.
    pub fn to_json_line(&self) -> Vec<u8> {
        let value = serde_json::json!({
            COL_EVENT_ID: self.event_id,
            COL_EVENT_TYPE: self.event_type.as_str(),
            COL_SESSION_ID: self.session_id,
            COL_CUSTOMER_NUMBER: self.customer_number,
            COL_EVENT_TIME: self.event_time.map(|t| t.timestamp_millis()),
            COL_ARRIVAL_TIME: self.arrival_time.timestamp_millis(),
            COL_ITEM: self.item,
            COL_RECOMMENDATION_ID: self.recommendation_id,
            COL_EXPERIMENT: self.experiment,
            COL_VARIANT: self.variant,
            COL_BROWSED_ITEMS: self.browsed_items,
            COL_CART_ITEMS: self.cart_items,
        });
        let mut line = serde_json::to_vec(&value).unwrap_or_default();
        line.push(b'\n');
        line
    }

    /// The partition (UTC arrival date) the row belongs to.
    pub fn dt(&self) -> NaiveDate {
        self.arrival_time.date_naive()
    }
}

fn string_list_array<'a>(lists: impl Iterator<Item = &'a Vec<String>>) -> ArrayRef {
    let mut builder = ListBuilder::new(StringBuilder::new());
    for list in lists {
        for code in list {
            builder.values().append_value(code);
        }
        builder.append(true);
    }
    Arc::new(builder.finish())
}

/// The rows as one Arrow batch of [`events_schema`].
pub fn to_record_batch(rows: &[LakeEvent]) -> Result<RecordBatch, ArrowError> {
    let strings = |f: fn(&LakeEvent) -> Option<&str>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    let micros = |t: &DateTime<Utc>| t.timestamp_micros();
    let columns: Vec<ArrayRef> = vec![
        strings(|r| r.event_id.as_deref()),
        strings(|r| Some(r.event_type.as_str())),
        strings(|r| Some(r.session_id.as_str())),
        Arc::new(
            rows.iter()
                .map(|r| r.customer_number)
                .collect::<Int64Array>(),
        ),
        Arc::new(
            rows.iter()
                .map(|r| r.event_time.as_ref().map(micros))
                .collect::<TimestampMicrosecondArray>()
                .with_timezone(UTC),
        ),
        Arc::new(
            rows.iter()
                .map(|r| Some(micros(&r.arrival_time)))
                .collect::<TimestampMicrosecondArray>()
                .with_timezone(UTC),
        ),
        strings(|r| r.item.as_deref()),
        strings(|r| r.recommendation_id.as_deref()),
        strings(|r| r.experiment.as_deref()),
        strings(|r| r.variant.as_deref()),
        string_list_array(rows.iter().map(|r| &r.browsed_items)),
        string_list_array(rows.iter().map(|r| &r.cart_items)),
    ];
    RecordBatch::try_new(events_schema(), columns)
}

/// The answer of the events delivery stream's processor (the `lake-events` mode of the
/// transform Lambda): each valid event becomes its row ([`LakeEvent::to_json_line`], arrival
/// time from the record's `approximateArrivalTimestamp`), which the stream converts to
/// Parquet; an invalid event is returned `ProcessingFailed` (the stream writes it under its
/// error prefix). No I/O, no model: one pass over the batch.
pub fn firehose_rows(records: Vec<FirehoseRecord>) -> FirehoseResponse {
    let records = records
        .into_iter()
        .map(
            |record| match crate::transform::decode_event(&record.data) {
                Ok((event, _)) => {
                    let arrival = record
                        .approximate_arrival_timestamp
                        .and_then(DateTime::<Utc>::from_timestamp_millis)
                        .unwrap_or_else(Utc::now);
                    let row = LakeEvent::from_event(&event, arrival);
                    FirehoseResponseRecord::ok(record.record_id, &row.to_json_line())
                }
                Err(_) => FirehoseResponseRecord::failed(record.record_id, record.data),
            },
        )
        .collect();
    FirehoseResponse { records }
}

/// Why a batch could not be read as event rows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event file column {column}: {reason}")]
pub struct LakeReadError {
    /// The column.
    pub column: &'static str,
    /// What was wrong.
    pub reason: String,
}

/// Any timestamp column as µs since the epoch, time zone UTC (the values of Arrow timestamps
/// are UTC whatever their zone; only the unit differs).
fn micros_utc(column: &ArrayRef) -> Option<TimestampMicrosecondArray> {
    use arrow::datatypes::{
        TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
    };
    let DataType::Timestamp(unit, _) = column.data_type() else {
        return None;
    };
    let array: TimestampMicrosecondArray = match unit {
        TimeUnit::Second => column
            .as_primitive_opt::<TimestampSecondType>()?
            .unary(|v| v.saturating_mul(1_000_000)),
        TimeUnit::Millisecond => column
            .as_primitive_opt::<TimestampMillisecondType>()?
            .unary(|v| v.saturating_mul(1_000)),
        TimeUnit::Microsecond => column
            .as_primitive_opt::<TimestampMicrosecondType>()?
            .unary(|v| v),
        TimeUnit::Nanosecond => column
            .as_primitive_opt::<TimestampNanosecondType>()?
            .unary(|v| v.div_euclid(1_000)),
    };
    Some(array.with_timezone(UTC))
}

/// Reads rows back from a batch with the event columns (by name; extra columns are ignored,
/// a missing nullable column reads as nulls).
pub fn from_record_batch(batch: &RecordBatch) -> Result<Vec<LakeEvent>, LakeReadError> {
    let err = |column: &'static str, reason: &str| LakeReadError {
        column,
        reason: reason.to_owned(),
    };
    let column = |name: &'static str| batch.column_by_name(name);
    let strings = |name: &'static str| -> Result<Option<&StringArray>, LakeReadError> {
        column(name)
            .map(|c| {
                c.as_string_opt::<i32>()
                    .ok_or_else(|| err(name, "is not Utf8"))
            })
            .transpose()
    };
    let required = |name: &'static str| -> Result<&StringArray, LakeReadError> {
        strings(name)?.ok_or_else(|| err(name, "is missing"))
    };
    // Files of another writer may hold other timestamp units (Firehose's Parquet conversion
    // writes Hive timestamps, read as nanoseconds): any timestamp is cast to µs UTC.
    let times = |name: &'static str| -> Result<Option<TimestampMicrosecondArray>, LakeReadError> {
        column(name)
            .map(|c| micros_utc(c).ok_or_else(|| err(name, "is not a timestamp")))
            .transpose()
    };
    let lists = |name: &'static str| -> Result<Option<&arrow::array::ListArray>, LakeReadError> {
        column(name)
            .map(|c| {
                c.as_list_opt::<i32>()
                    .ok_or_else(|| err(name, "is not List<Utf8>"))
            })
            .transpose()
    };
    let event_id = strings(COL_EVENT_ID)?;
    let event_type = required(COL_EVENT_TYPE)?;
    let session_id = required(COL_SESSION_ID)?;
    let customer = column(COL_CUSTOMER_NUMBER)
        .ok_or_else(|| err(COL_CUSTOMER_NUMBER, "is missing"))?
        .as_primitive_opt::<Int64Type>()
        .ok_or_else(|| err(COL_CUSTOMER_NUMBER, "is not Int64"))?;
    let event_time = times(COL_EVENT_TIME)?;
    let arrival = times(COL_ARRIVAL_TIME)?.ok_or_else(|| err(COL_ARRIVAL_TIME, "is missing"))?;
    let item = strings(COL_ITEM)?;
    let recommendation_id = strings(COL_RECOMMENDATION_ID)?;
    let experiment = strings(COL_EXPERIMENT)?;
    let variant = strings(COL_VARIANT)?;
    let browsed = lists(COL_BROWSED_ITEMS)?;
    let cart = lists(COL_CART_ITEMS)?;

    let opt = |a: Option<&StringArray>, i: usize| {
        a.filter(|a| a.is_valid(i)).map(|a| a.value(i).to_owned())
    };
    let time = |t: i64| DateTime::<Utc>::from_timestamp_micros(t);
    let codes = |a: Option<&arrow::array::ListArray>, i: usize| -> Vec<String> {
        match a.filter(|a| a.is_valid(i)) {
            None => Vec::new(),
            Some(a) => {
                let values = a.value(i);
                values
                    .as_string_opt::<i32>()
                    .map(|s| s.iter().flatten().map(str::to_owned).collect())
                    .unwrap_or_default()
            }
        }
    };
    let mut rows = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        if event_type.is_null(i)
            || session_id.is_null(i)
            || customer.is_null(i)
            || arrival.is_null(i)
        {
            return Err(err(
                COL_EVENT_TYPE,
                &format!("row {i} has a null in a NOT NULL column"),
            ));
        }
        rows.push(LakeEvent {
            event_id: opt(event_id, i),
            event_type: event_type
                .value(i)
                .parse()
                .map_err(|reason: String| err(COL_EVENT_TYPE, &format!("row {i}: {reason}")))?,
            session_id: session_id.value(i).to_owned(),
            customer_number: customer.value(i),
            event_time: event_time
                .as_ref()
                .filter(|a| a.is_valid(i))
                .and_then(|a| time(a.value(i))),
            arrival_time: time(arrival.value(i))
                .ok_or_else(|| err(COL_ARRIVAL_TIME, &format!("row {i} is out of range")))?,
            item: opt(item, i),
            recommendation_id: opt(recommendation_id, i),
            experiment: opt(experiment, i),
            variant: opt(variant, i),
            browsed_items: codes(browsed, i),
            cart_items: codes(cart, i),
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: &str) -> ClickEvent {
        ClickEvent::from_json_slice(json.as_bytes()).unwrap()
    }

    #[test]
    fn rows_round_trip_through_the_schema_without_personal_fields() {
        let arrival = DateTime::parse_from_rfc3339("2026-03-04T23:59:59.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        let old = event(
            r#"{"session_id":"s1","customer_number":103,"city":"Nantes","country":"France",
                "credit_limit":21000,"event_id":"e1","event_time":"2026-03-04T23:59:58+01:00",
                "browse_history":[{"product_code":"P1","in_shopping_cart":true},
                                  {"product_code":"P2"},{"product_code":"P1"}]}"#,
        );
        let click = event(
            r#"{"session_id":"s2","customer_number":7,"event_type":"rec_click","item":"P9",
                "recommendation_id":"r1","experiment":"exp","variant":"treatment",
                "event_time":"yesterday"}"#,
        );
        let rows = vec![
            LakeEvent::from_event(&old, arrival),
            LakeEvent::from_event(&click, arrival),
        ];
        assert_eq!(rows[0].event_type, EventType::View);
        assert_eq!(rows[0].browsed_items, ["P1", "P2"]);
        assert_eq!(rows[0].cart_items, ["P1"]);
        assert_eq!(
            rows[0].event_time.unwrap().to_rfc3339(),
            "2026-03-04T22:59:58+00:00"
        );
        assert_eq!(rows[1].event_time, None, "not RFC 3339: null");
        assert_eq!(rows[0].dt().to_string(), "2026-03-04");
        assert_eq!(partition_prefix(rows[0].dt()), "events/dt=2026-03-04/");

        let batch = to_record_batch(&rows).unwrap();
        assert_eq!(batch.schema(), events_schema());
        let names: Vec<_> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let hive: Vec<_> = HIVE_COLUMNS.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(names, hive);
        for personal in ["city", "country", "credit_limit"] {
            assert!(batch.column_by_name(personal).is_none(), "{personal}");
        }
        assert_eq!(from_record_batch(&batch).unwrap(), rows);
    }

    #[test]
    fn the_processor_answers_rows_and_fails_invalid_events() {
        use crate::firehose::{FirehoseResult, decode_data, encode_data};
        let record = |id: &str, json: &str| FirehoseRecord {
            record_id: id.into(),
            approximate_arrival_timestamp: Some(1_772_668_800_123),
            data: encode_data(json.as_bytes()),
            kinesis_record_metadata: None,
        };
        let response = firehose_rows(vec![
            record(
                "a",
                r#"{"session_id":"s","customer_number":7,"city":"Nantes","browse_history":[{"product_code":"P1"}]}"#,
            ),
            record(
                "b",
                r#"{"session_id":"s","customer_number":7,"event_type":"buy"}"#,
            ),
        ]);
        assert_eq!(response.records[0].result, FirehoseResult::Ok);
        assert_eq!(response.records[1].result, FirehoseResult::ProcessingFailed);
        let line = decode_data(&response.records[0].data).unwrap();
        assert_eq!(line.last(), Some(&b'\n'));
        let row: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(row[COL_EVENT_TYPE], "view");
        assert_eq!(row[COL_ARRIVAL_TIME], 1_772_668_800_123_i64);
        assert_eq!(row[COL_BROWSED_ITEMS], serde_json::json!(["P1"]));
        assert!(row.get("city").is_none(), "{row}");
        let keys: Vec<&str> = row
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut columns: Vec<&str> = HIVE_COLUMNS.iter().map(|(n, _)| *n).collect();
        columns.sort_unstable();
        assert_eq!(keys, columns, "one key per Glue column");
    }

    #[test]
    fn nanosecond_timestamps_of_other_writers_read_as_microseconds() {
        let arrival = DateTime::from_timestamp_micros(1_772_668_800_123_456).unwrap();
        let row = LakeEvent::from_event(
            &event(r#"{"session_id":"s","customer_number":1,"browse_history":[]}"#),
            arrival,
        );
        let batch = to_record_batch(std::slice::from_ref(&row)).unwrap();
        let nanos = DataType::Timestamp(TimeUnit::Nanosecond, None);
        let columns: Vec<ArrayRef> = batch
            .columns()
            .iter()
            .map(|c| match c.data_type() {
                DataType::Timestamp(..) => arrow::compute::cast(c, &nanos).unwrap(),
                _ => c.clone(),
            })
            .collect();
        let fields: Vec<Field> = batch
            .schema()
            .fields()
            .iter()
            .zip(&columns)
            .map(|(f, c)| Field::new(f.name(), c.data_type().clone(), true))
            .collect();
        let other = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
        assert_eq!(from_record_batch(&other).unwrap(), vec![row]);
    }

    #[test]
    fn reading_names_the_bad_column() {
        let batch = RecordBatch::try_from_iter([(
            COL_EVENT_TYPE,
            Arc::new(Int64Array::from(vec![1])) as ArrayRef,
        )])
        .unwrap();
        let err = from_record_batch(&batch).unwrap_err();
        assert_eq!(err.column, COL_EVENT_TYPE);
        assert!(err.to_string().contains("is not Utf8"), "{err}");
    }
}
