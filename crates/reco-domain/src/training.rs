//! The training-row contract: one denormalized row per interaction, as written to Parquet by
//! `reco-etl` and read by `reco-train`.
//!
//! Two kinds of rows share the table, told apart by [`COL_SOURCE`]: `rating` rows (one per
//! rating of the source database; [`COL_RATING`] set, [`COL_EVENT_WEIGHT`] null) and `events`
//! rows (one per customer x product pair seen in the click events of the data lake;
//! [`COL_RATING`] null, [`COL_EVENT_WEIGHT`] the pair's derived weight, > 0). Files written
//! before schema version 2 have neither column: read them as all `rating` rows.
//!
//! Column names are snake_case and **stable**: readers select columns by these constants.
//! Money columns are `Decimal128(10, 2)`, exactly the source's `decimal(10,2)` (no
//! float-from-decimal surprise; a reader that wants floats casts explicitly). Small source
//! integers keep small Arrow integers (`smallint` -> `Int16`, rating -> `Int8`).
//!
//! Data-lake layout (see [`snapshot_prefix`]):
//! `s3://<bucket>/training_ratings/snapshot=YYYY-MM-DD/run=<run id>/part-NNNNN.parquet`, plus
//! `snapshot=YYYY-MM-DD/_manifest.json` naming the published run and its files. A snapshot is
//! published by switching the manifest and the Glue partition location to a complete run;
//! readers resolve a snapshot through either of them, never by listing `run=` folders.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};
use chrono::{DateTime, Datelike as _, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Version of the training schema and layout; bumped on any incompatible change.
/// Version 2: `rating` nullable, [`COL_SOURCE`] and [`COL_EVENT_WEIGHT`] added.
pub const TRAINING_SCHEMA_VERSION: u32 = 2;

/// Customer number (`customers.customerNumber`), `Int32`, not null.
pub const COL_CUSTOMER_NUMBER: &str = "customer_number";
/// Customer city, `Utf8`, not null.
pub const COL_CITY: &str = "city";
/// Customer state, `Utf8`, nullable (null outside countries with states, as in the source).
pub const COL_STATE: &str = "state";
/// Customer postal code, `Utf8`, nullable.
pub const COL_POSTAL_CODE: &str = "postal_code";
/// Customer country, `Utf8`, not null.
pub const COL_COUNTRY: &str = "country";
/// Customer credit limit, `Decimal128(10, 2)`, nullable.
pub const COL_CREDIT_LIMIT: &str = "credit_limit";
/// Product code (`products.productCode`), `Utf8`, not null.
pub const COL_PRODUCT_CODE: &str = "product_code";
/// Product line, `Utf8`, not null.
pub const COL_PRODUCT_LINE: &str = "product_line";
/// Product scale (e.g. `1:18`), `Utf8`, not null.
pub const COL_PRODUCT_SCALE: &str = "product_scale";
/// Quantity in stock, `Int16` (source `smallint`), not null.
pub const COL_QUANTITY_IN_STOCK: &str = "quantity_in_stock";
/// Buy price, `Decimal128(10, 2)`, not null.
pub const COL_BUY_PRICE: &str = "buy_price";
/// Manufacturer's suggested retail price, `Decimal128(10, 2)`, not null.
pub const COL_MSRP: &str = "msrp";
/// Rating 1..=5, `Int8`, nullable: set on `rating` rows, null on `events` rows.
pub const COL_RATING: &str = "rating";
/// Where the row comes from, `Utf8`, not null: [`SOURCE_RATING`] or [`SOURCE_EVENTS`]
/// (absent in files written before schema version 2: read as [`SOURCE_RATING`]).
pub const COL_SOURCE: &str = "source";
/// The pair's weight derived from click events, `Float64`, nullable: > 0 on `events` rows,
/// null on `rating` rows.
pub const COL_EVENT_WEIGHT: &str = "event_weight";

/// [`COL_SOURCE`] of a row made from a rating of the source database.
pub const SOURCE_RATING: &str = "rating";
/// [`COL_SOURCE`] of a row made from the click events of a customer x product pair.
pub const SOURCE_EVENTS: &str = "events";

/// Hive partition key of the training table (not stored in the Parquet files).
pub const PARTITION_KEY_SNAPSHOT: &str = "snapshot";
/// Key prefix of the training table inside the data-lake bucket.
pub const TRAINING_PREFIX: &str = "training_ratings";
/// Name of the manifest object inside a snapshot's prefix.
pub const MANIFEST_FILE: &str = "_manifest.json";

/// Precision of money columns: the source's `decimal(10,2)`.
pub const MONEY_PRECISION: u8 = 10;
/// Scale of money columns: cents.
pub const MONEY_SCALE: i8 = 2;
/// Smallest valid rating.
pub const MIN_RATING: i8 = 1;
/// Largest valid rating.
pub const MAX_RATING: i8 = 5;

/// One column of the training table: name, Arrow type, nullability and Glue/Hive type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainingColumn {
    /// Column name (one of the `COL_*` constants).
    pub name: &'static str,
    /// Arrow type in the Parquet files.
    pub data_type: DataType,
    /// Whether the column may be null.
    pub nullable: bool,
    /// Hive type used in the Glue Data Catalog.
    pub hive_type: &'static str,
}

const MONEY: DataType = DataType::Decimal128(MONEY_PRECISION, MONEY_SCALE);
const MONEY_HIVE: &str = "decimal(10,2)";

/// The training columns, in file order.
pub fn training_columns() -> Vec<TrainingColumn> {
    let col = |name, data_type, nullable, hive_type| TrainingColumn {
        name,
        data_type,
        nullable,
        hive_type,
    };
    vec![
        col(COL_CUSTOMER_NUMBER, DataType::Int32, false, "int"),
        col(COL_CITY, DataType::Utf8, false, "string"),
        col(COL_STATE, DataType::Utf8, true, "string"),
        col(COL_POSTAL_CODE, DataType::Utf8, true, "string"),
        col(COL_COUNTRY, DataType::Utf8, false, "string"),
        col(COL_CREDIT_LIMIT, MONEY, true, MONEY_HIVE),
        col(COL_PRODUCT_CODE, DataType::Utf8, false, "string"),
        col(COL_PRODUCT_LINE, DataType::Utf8, false, "string"),
        col(COL_PRODUCT_SCALE, DataType::Utf8, false, "string"),
        col(COL_QUANTITY_IN_STOCK, DataType::Int16, false, "smallint"),
        col(COL_BUY_PRICE, MONEY, false, MONEY_HIVE),
        col(COL_MSRP, MONEY, false, MONEY_HIVE),
        col(COL_RATING, DataType::Int8, true, "tinyint"),
        col(COL_SOURCE, DataType::Utf8, false, "string"),
        col(COL_EVENT_WEIGHT, DataType::Float64, true, "double"),
    ]
}

/// The Arrow schema of the training Parquet files.
pub fn training_schema() -> Arc<Schema> {
    Arc::new(Schema::new(
        training_columns()
            .into_iter()
            .map(|c| Field::new(c.name, c.data_type, c.nullable))
            .collect::<Vec<_>>(),
    ))
}

/// An amount of money in cents (the source's `decimal(10,2)` unscaled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cents(pub i64);

impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

/// What a training row records about its customer x product pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Interaction {
    /// A rating 1..=5 from the source database (`source = rating`).
    Rating(i8),
    /// The weight derived from the pair's click events, > 0 (`source = events`).
    Events(f64),
}

impl Interaction {
    /// The row's [`COL_SOURCE`] value.
    pub fn source(&self) -> &'static str {
        match self {
            Self::Rating(_) => SOURCE_RATING,
            Self::Events(_) => SOURCE_EVENTS,
        }
    }

    /// The [`COL_RATING`] value (null on `events` rows).
    pub fn rating(&self) -> Option<i8> {
        match self {
            Self::Rating(r) => Some(*r),
            Self::Events(_) => None,
        }
    }

    /// The [`COL_EVENT_WEIGHT`] value (null on `rating` rows).
    pub fn event_weight(&self) -> Option<f64> {
        match self {
            Self::Rating(_) => None,
            Self::Events(w) => Some(*w),
        }
    }
}

/// One `rating` training row: a rating joined with its customer and product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainingRow {
    /// Customer number.
    pub customer_number: i32,
    /// Customer city.
    pub city: String,
    /// Customer state, if any.
    pub state: Option<String>,
    /// Customer postal code, if any.
    pub postal_code: Option<String>,
    /// Customer country.
    pub country: String,
    /// Customer credit limit, if any.
    pub credit_limit: Option<Cents>,
    /// Product code.
    pub product_code: String,
    /// Product line.
    pub product_line: String,
    /// Product scale.
    pub product_scale: String,
    /// Quantity in stock.
    pub quantity_in_stock: i16,
    /// Buy price.
    pub buy_price: Cents,
    /// MSRP.
    pub msrp: Cents,
    /// Rating 1..=5.
    pub rating: i8,
}

/// A snapshot date that is not a valid `YYYY-MM-DD` calendar date.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid snapshot date {value:?}: expected YYYY-MM-DD (a real calendar date)")]
pub struct SnapshotDateError {
    /// The offending text.
    pub value: String,
}

/// A snapshot's calendar date (UTC), the value of the `snapshot=` partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SnapshotDate(NaiveDate);

/// Years a snapshot date may have: the Unix era up to four-digit years (the partition value
/// is always `YYYY-MM-DD`).
const SNAPSHOT_YEARS: std::ops::RangeInclusive<i32> = 1970..=9999;

impl SnapshotDate {
    /// The date, if it exists on the calendar (years 1970..=9999).
    pub fn new(year: i32, month: u32, day: u32) -> Option<Self> {
        if !SNAPSHOT_YEARS.contains(&year) {
            return None;
        }
        NaiveDate::from_ymd_opt(year, month, day).map(Self)
    }

    /// The UTC date of `seconds` since the Unix epoch.
    pub fn from_unix_seconds(seconds: u64) -> Self {
        let time = i64::try_from(seconds)
            .ok()
            .and_then(|s| DateTime::from_timestamp(s, 0))
            .unwrap_or(DateTime::UNIX_EPOCH);
        Self(time.date_naive())
    }

    /// Today's date (UTC).
    pub fn today() -> Self {
        Self(Utc::now().date_naive())
    }
}

impl fmt::Display for SnapshotDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

impl FromStr for SnapshotDate {
    type Err = SnapshotDateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || SnapshotDateError {
            value: s.to_owned(),
        };
        // Exactly `YYYY-MM-DD`: chrono alone would also take `2024-1-5` or a signed year.
        let shape_ok = s.len() == 10
            && s.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        if !shape_ok {
            return Err(err());
        }
        let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| err())?;
        Self::new(date.year(), date.month(), date.day()).ok_or_else(err)
    }
}

/// Key prefix of a snapshot: `training_ratings/snapshot=YYYY-MM-DD/`.
pub fn snapshot_prefix(snapshot: SnapshotDate) -> String {
    format!("{TRAINING_PREFIX}/{PARTITION_KEY_SNAPSHOT}={snapshot}/")
}

/// Key of a snapshot's manifest: `training_ratings/snapshot=YYYY-MM-DD/_manifest.json`.
pub fn manifest_key(snapshot: SnapshotDate) -> String {
    format!("{}{MANIFEST_FILE}", snapshot_prefix(snapshot))
}

/// Key prefix of one run of a snapshot: `training_ratings/snapshot=YYYY-MM-DD/run=<id>/`.
pub fn run_prefix(snapshot: SnapshotDate, run_id: &str) -> String {
    format!("{}run={run_id}/", snapshot_prefix(snapshot))
}

/// Key of part `index` of a run: `.../run=<id>/part-00000.parquet`.
pub fn part_key(snapshot: SnapshotDate, run_id: &str, index: usize) -> String {
    format!("{}part-{index:05}.parquet", run_prefix(snapshot, run_id))
}

/// Key prefix every snapshot's keys start with: list it to see every snapshot.
pub fn snapshots_listing_prefix() -> String {
    format!("{TRAINING_PREFIX}/{PARTITION_KEY_SNAPSHOT}=")
}

/// One Parquet part of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartFile {
    /// Object key.
    pub key: String,
    /// Rows in the file.
    pub rows: u64,
    /// File size.
    pub bytes: u64,
}

/// The published description of a snapshot, `snapshot=D/_manifest.json`: written by the ETL
/// last, after every part; read by training and `score-all`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotManifest {
    /// [`TRAINING_SCHEMA_VERSION`] of the files.
    pub schema_version: u32,
    /// Snapshot date.
    pub snapshot: String,
    /// The run that wrote the files.
    pub run_id: String,
    /// `s3://bucket/.../run=<id>/`.
    pub location: String,
    /// Total rows.
    pub rows: u64,
    /// The part files.
    pub files: Vec<PartFile>,
}

/// A snapshot that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// The manifest is not a snapshot manifest.
    #[error("{key}: not a snapshot manifest: {reason}")]
    BadManifest {
        /// The manifest's key.
        key: String,
        /// The parser's message.
        reason: String,
    },
    /// Nothing readable in the snapshot.
    #[error(
        "snapshot {snapshot} has no published part files (an ETL run that has not finished, or an empty folder): run `reco etl` for it"
    )]
    NoParts {
        /// The snapshot.
        snapshot: SnapshotDate,
    },
}

/// Whether `key` (under `snapshot`'s prefix) makes the snapshot readable: its manifest, or a
/// Parquet file directly inside (a snapshot written by hand). Parts of an unpublished ETL run
/// (`run=<id>/`, no manifest yet) do not.
fn publishes(snapshot_prefix: &str, key: &str) -> bool {
    match key.strip_prefix(snapshot_prefix) {
        Some(rest) => rest == MANIFEST_FILE || (!rest.contains('/') && rest.ends_with(".parquet")),
        None => false,
    }
}

/// The newest readable snapshot in a listing of [`snapshots_listing_prefix`]: published (its
/// manifest exists) or written by hand (Parquet files directly inside). A newer snapshot whose
/// ETL run was killed before publishing is passed over, not chosen and found empty.
pub fn newest_readable_snapshot<'a>(
    keys: impl IntoIterator<Item = &'a str>,
) -> Option<SnapshotDate> {
    let listing = snapshots_listing_prefix();
    keys.into_iter()
        .filter_map(|key| {
            let (date, _) = key.strip_prefix(&listing)?.split_once('/')?;
            let date: SnapshotDate = date.parse().ok()?;
            publishes(&snapshot_prefix(date), key).then_some(date)
        })
        .max()
}

/// The part files to read of `snapshot`: the manifest's when there is one (`manifest`, its
/// bytes), else the Parquet files directly under the snapshot in `listing` (a listing of the
/// snapshot's prefix).
pub fn snapshot_parts<'a>(
    snapshot: SnapshotDate,
    manifest: Option<&[u8]>,
    listing: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<String>, SnapshotError> {
    let files: Vec<String> = match manifest {
        Some(body) => {
            let manifest: SnapshotManifest =
                serde_json::from_slice(body).map_err(|e| SnapshotError::BadManifest {
                    key: manifest_key(snapshot),
                    reason: e.to_string(),
                })?;
            manifest.files.into_iter().map(|f| f.key).collect()
        }
        None => {
            let prefix = snapshot_prefix(snapshot);
            let mut files: Vec<String> = listing
                .into_iter()
                .filter(|k| publishes(&prefix, k) && !k.ends_with(MANIFEST_FILE))
                .map(str::to_owned)
                .collect();
            files.sort();
            files
        }
    };
    if files.is_empty() {
        return Err(SnapshotError::NoParts { snapshot });
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_newest_snapshot_is_the_newest_published_one() {
        let keys = [
            "training_ratings/snapshot=2026-01-01/_manifest.json",
            "training_ratings/snapshot=2026-01-01/run=a/part-00000.parquet",
            "training_ratings/snapshot=2026-01-02/by-hand.parquet",
            // Killed before publishing: parts of a run, no manifest.
            "training_ratings/snapshot=2026-01-03/run=b/part-00000.parquet",
            "training_ratings/snapshot=not-a-date/_manifest.json",
        ];
        assert_eq!(
            newest_readable_snapshot(keys),
            Some("2026-01-02".parse().unwrap())
        );
        assert_eq!(newest_readable_snapshot(keys[3..].iter().copied()), None);
    }

    #[test]
    fn parts_come_from_the_manifest_or_the_files_inside() {
        let day: SnapshotDate = "2026-01-01".parse().unwrap();
        let manifest = SnapshotManifest {
            schema_version: TRAINING_SCHEMA_VERSION,
            snapshot: day.to_string(),
            run_id: "a".into(),
            location: "s3://lake/x".into(),
            rows: 3,
            files: vec![PartFile {
                key: part_key(day, "a", 0),
                rows: 3,
                bytes: 10,
            }],
        };
        let body = serde_json::to_vec(&manifest).unwrap();
        assert_eq!(
            snapshot_parts(day, Some(&body), []).unwrap(),
            vec![part_key(day, "a", 0)]
        );
        let listing = [
            "training_ratings/snapshot=2026-01-01/b.parquet",
            "training_ratings/snapshot=2026-01-01/a.parquet",
            "training_ratings/snapshot=2026-01-01/run=x/part-00000.parquet",
            "training_ratings/snapshot=2026-01-01/notes.txt",
        ];
        assert_eq!(
            snapshot_parts(day, None, listing).unwrap(),
            vec![
                "training_ratings/snapshot=2026-01-01/a.parquet".to_owned(),
                "training_ratings/snapshot=2026-01-01/b.parquet".to_owned()
            ]
        );
        let err = snapshot_parts(day, None, [listing[2]])
            .unwrap_err()
            .to_string();
        assert!(err.contains("reco etl"), "{err}");
        let err = snapshot_parts(day, Some(b"{"), []).unwrap_err().to_string();
        assert!(err.contains("_manifest.json"), "{err}");
    }

    use super::*;

    #[test]
    fn schema_has_stable_names_types_and_nullability() {
        let schema = training_schema();
        let described: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| format!("{}:{}:{}", f.name(), f.data_type(), f.is_nullable()))
            .collect();
        assert_eq!(
            described,
            [
                "customer_number:Int32:false",
                "city:Utf8:false",
                "state:Utf8:true",
                "postal_code:Utf8:true",
                "country:Utf8:false",
                "credit_limit:Decimal128(10, 2):true",
                "product_code:Utf8:false",
                "product_line:Utf8:false",
                "product_scale:Utf8:false",
                "quantity_in_stock:Int16:false",
                "buy_price:Decimal128(10, 2):false",
                "msrp:Decimal128(10, 2):false",
                "rating:Int8:true",
                "source:Utf8:false",
                "event_weight:Float64:true",
            ]
        );
    }

    #[test]
    fn snapshot_dates_parse_print_and_reject_nonsense() {
        let d: SnapshotDate = "2024-02-29".parse().unwrap();
        assert_eq!(d.to_string(), "2024-02-29");
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "20240101",
            "2024-01-0x",
            "",
        ] {
            assert!(bad.parse::<SnapshotDate>().is_err(), "{bad} accepted");
        }
        assert_eq!(SnapshotDate::from_unix_seconds(0).to_string(), "1970-01-01");
        assert_eq!(
            SnapshotDate::from_unix_seconds(1_709_251_199).to_string(),
            "2024-02-29"
        );
    }

    #[test]
    fn layout_keys() {
        let d: SnapshotDate = "2025-01-31".parse().unwrap();
        assert_eq!(
            part_key(d, "r1", 3),
            "training_ratings/snapshot=2025-01-31/run=r1/part-00003.parquet"
        );
        assert_eq!(
            manifest_key(d),
            "training_ratings/snapshot=2025-01-31/_manifest.json"
        );
    }

    #[test]
    fn cents_display() {
        assert_eq!(Cents(2_100_000).to_string(), "21000.00");
        assert_eq!(Cents(5).to_string(), "0.05");
        assert_eq!(Cents(-150).to_string(), "-1.50");
    }
}
