//! Training snapshots: the ETL's Parquet training rows -> [`TrainingData`].
//!
//! Columns are selected by name (the training-row contract of DESIGN.md, written by
//! `reco-etl`) and cast explicitly: money columns arrive as `Decimal128(10, 2)`, small
//! integers as `Int8`/`Int16`/`Int32`; any integer, decimal or float type is accepted.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::TrainError;
use crate::evaluation::{MIN_POSITIVES, POSITIVE_RATING, TEST_SHARE_DENOMINATOR};
use crate::interactions::InteractionsBuilder;
use crate::towers::{EntityFeatures, TrainingData};

/// Column names of the training-row contract, from `reco_domain::training`.
pub mod column {
    pub use reco_domain::training::{
        COL_BUY_PRICE as BUY_PRICE, COL_CITY as CITY, COL_COUNTRY as COUNTRY,
        COL_CREDIT_LIMIT as CREDIT_LIMIT, COL_CUSTOMER_NUMBER as CUSTOMER_NUMBER, COL_MSRP as MSRP,
        COL_PRODUCT_CODE as PRODUCT_CODE, COL_PRODUCT_LINE as PRODUCT_LINE,
        COL_PRODUCT_SCALE as PRODUCT_SCALE, COL_QUANTITY_IN_STOCK as QUANTITY_IN_STOCK,
        COL_RATING as RATING,
    };
}

/// Lowest valid rating (`reco_domain::training::MIN_RATING`).
pub const MIN_RATING: f64 = reco_domain::training::MIN_RATING as f64;
/// Highest valid rating (`reco_domain::training::MAX_RATING`).
pub const MAX_RATING: f64 = reco_domain::training::MAX_RATING as f64;
/// Ratings at or below this say "not for me": such pairs are left out of the interactions,
/// so ALS treats them like unobserved pairs (preference 0) instead of as weak positives.
pub const NEUTRAL_RATING: f64 = 2.0;

/// ALS weight of a rating: `(rating - NEUTRAL_RATING) / (MAX_RATING - NEUTRAL_RATING)`, in (0, 1]
/// for ratings above neutral, `None` otherwise.
pub fn rating_weight(rating: f64) -> Option<f64> {
    let w = (rating - NEUTRAL_RATING) / (MAX_RATING - NEUTRAL_RATING);
    (w > 0.0).then_some(w)
}

/// One training row, as the trainer uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotRow {
    /// Customer number.
    pub customer_number: i64,
    /// City.
    pub city: Option<String>,
    /// Country.
    pub country: Option<String>,
    /// Credit limit.
    pub credit_limit: Option<f64>,
    /// Product code.
    pub product_code: String,
    /// Product line.
    pub product_line: Option<String>,
    /// Product scale.
    pub product_scale: Option<String>,
    /// Quantity in stock.
    pub quantity_in_stock: Option<f64>,
    /// Buy price.
    pub buy_price: Option<f64>,
    /// MSRP.
    pub msrp: Option<f64>,
    /// Rating.
    pub rating: f64,
}

fn malformed(source_name: &str, reason: String) -> TrainError {
    TrainError::Malformed {
        source_name: source_name.to_owned(),
        line: 0,
        reason,
    }
}

fn column(
    batch: &RecordBatch,
    name: &str,
    to: &DataType,
    source: &str,
) -> Result<ArrayRef, TrainError> {
    let array = batch.column_by_name(name).ok_or_else(|| {
        malformed(
            source,
            format!(
                "missing column {name:?} (columns: {})",
                batch
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })?;
    cast(array, to).map_err(|e| {
        malformed(
            source,
            format!(
                "column {name:?} of type {} cannot be read as {to}: {e}",
                array.data_type()
            ),
        )
    })
}

/// Appends the rows of one Parquet file (`bytes`) to `out`; `source` names it in errors.
pub fn read_parquet(
    bytes: Bytes,
    source: &str,
    out: &mut Vec<SnapshotRow>,
) -> Result<(), TrainError> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .and_then(|b| b.build())
        .map_err(|e| malformed(source, format!("not a readable Parquet file: {e}")))?;
    let mut row_number = 0usize;
    for batch in reader {
        let batch =
            batch.map_err(|e| malformed(source, format!("cannot decode a row group: {e}")))?;
        let ints = |name| -> Result<Arc<dyn Array>, TrainError> {
            column(&batch, name, &DataType::Int64, source)
        };
        let floats = |name| column(&batch, name, &DataType::Float64, source);
        let texts = |name| column(&batch, name, &DataType::Utf8, source);
        let customer = ints(column::CUSTOMER_NUMBER)?;
        let customer = customer
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("cast to Int64");
        let rating = floats(column::RATING)?;
        let rating = rating
            .as_any()
            .downcast_ref::<Float64Array>()
            .expect("cast to Float64");
        let text_cols: Vec<ArrayRef> = [
            column::CITY,
            column::COUNTRY,
            column::PRODUCT_CODE,
            column::PRODUCT_LINE,
            column::PRODUCT_SCALE,
        ]
        .into_iter()
        .map(texts)
        .collect::<Result<_, _>>()?;
        let t: Vec<&StringArray> = text_cols
            .iter()
            .map(|a| {
                a.as_any()
                    .downcast_ref::<StringArray>()
                    .expect("cast to Utf8")
            })
            .collect();
        let num_cols: Vec<ArrayRef> = [
            column::CREDIT_LIMIT,
            column::QUANTITY_IN_STOCK,
            column::BUY_PRICE,
            column::MSRP,
        ]
        .into_iter()
        .map(floats)
        .collect::<Result<_, _>>()?;
        let f: Vec<&Float64Array> = num_cols
            .iter()
            .map(|a| {
                a.as_any()
                    .downcast_ref::<Float64Array>()
                    .expect("cast to Float64")
            })
            .collect();
        let text = |a: &StringArray, i: usize| (!a.is_null(i)).then(|| a.value(i).to_owned());
        let num = |a: &Float64Array, i: usize| (!a.is_null(i)).then(|| a.value(i));
        for i in 0..batch.num_rows() {
            let row = row_number + i + 1;
            if customer.is_null(i) {
                return Err(malformed(
                    source,
                    format!("row {row}: customer_number is null"),
                ));
            }
            let Some(product_code) = text(t[2], i).filter(|c| !c.is_empty()) else {
                return Err(malformed(
                    source,
                    format!("row {row}: product_code is null or empty"),
                ));
            };
            let r = num(rating, i).unwrap_or(f64::NAN);
            if !(MIN_RATING..=MAX_RATING).contains(&r) {
                return Err(malformed(
                    source,
                    format!("row {row}: rating {r} outside {MIN_RATING}..={MAX_RATING}"),
                ));
            }
            out.push(SnapshotRow {
                customer_number: customer.value(i),
                city: text(t[0], i),
                country: text(t[1], i),
                credit_limit: num(f[0], i),
                product_code,
                product_line: text(t[3], i),
                product_scale: text(t[4], i),
                quantity_in_stock: num(f[1], i),
                buy_price: num(f[2], i),
                msrp: num(f[3], i),
                rating: r,
            });
        }
        row_number += batch.num_rows();
    }
    Ok(())
}

/// Builds interactions (weight [`rating_weight`]; ratings at or below neutral are left out)
/// and per-customer / per-product features (from each one's first row) from snapshot rows.
pub fn training_data(rows: &[SnapshotRow], source: &str) -> Result<TrainingData, TrainError> {
    if rows.is_empty() {
        return Err(TrainError::Empty {
            source_name: source.to_owned(),
            reason: "the snapshot has no rows".to_owned(),
        });
    }
    // Streamed into the builder: no per-row copy of the ids.
    let mut builder = InteractionsBuilder::with_capacity(rows.len());
    let mut user = String::new();
    for r in rows {
        if let Some(weight) = rating_weight(r.rating) {
            user.clear();
            write!(user, "{}", r.customer_number).expect("writing to a String cannot fail");
            builder.push(&user, &r.product_code, weight);
        }
    }
    if builder.is_empty() {
        return Err(TrainError::Empty {
            source_name: source.to_owned(),
            reason: format!("no rating above {NEUTRAL_RATING} among {} rows", rows.len()),
        });
    }
    let interactions = builder.build();
    let mut customers: HashMap<String, &SnapshotRow> = HashMap::new();
    let mut products: HashMap<&str, &SnapshotRow> = HashMap::new();
    for r in rows {
        customers.entry(r.customer_number.to_string()).or_insert(r);
        products.entry(&r.product_code).or_insert(r);
    }
    let user_features = interactions
        .users
        .iter()
        .map(|u| customer_features(customers[u]))
        .collect();
    let item_features = interactions
        .items
        .iter()
        .map(|i| product_features(products[i.as_str()]))
        .collect();
    Ok(TrainingData {
        interactions,
        user_features: Some(user_features),
        item_features: Some(item_features),
        source: source.to_owned(),
        rows: rows.len() as u64,
    })
}

/// User-tower features of a row, in `towers::USER_CATEGORICAL` / `USER_NUMERIC` order.
pub fn customer_features(r: &SnapshotRow) -> EntityFeatures {
    EntityFeatures {
        categorical: vec![r.city.clone(), r.country.clone()],
        numeric: vec![r.credit_limit],
    }
}

/// Item-tower features of a row, in `towers::ITEM_CATEGORICAL` / `ITEM_NUMERIC` order.
pub fn product_features(r: &SnapshotRow) -> EntityFeatures {
    EntityFeatures {
        categorical: vec![r.product_line.clone(), r.product_scale.clone()],
        numeric: vec![r.quantity_in_stock, r.buy_price, r.msrp],
    }
}

fn order_key(seed: u64, item: &str) -> u64 {
    // FNV-1a over the seed and the item code: a fixed, seeded "time" order for a source
    // without timestamps.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in item.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Holds out, per customer with at least [`MIN_POSITIVES`] positives (rating >=
/// [`POSITIVE_RATING`]), the last `ceil(n / 5)` positives in a seeded order (snapshots carry
/// no time). Returns (training rows, held-out rows).
pub fn holdout(rows: &[SnapshotRow], seed: u64) -> (Vec<SnapshotRow>, Vec<SnapshotRow>) {
    let mut positives: HashMap<i64, Vec<usize>> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        if r.rating >= POSITIVE_RATING {
            positives.entry(r.customer_number).or_default().push(i);
        }
    }
    let mut held = vec![false; rows.len()];
    for list in positives.values_mut() {
        if list.len() < MIN_POSITIVES {
            continue;
        }
        list.sort_by_key(|&i| (order_key(seed, &rows[i].product_code), i));
        let test = list.len().div_ceil(TEST_SHARE_DENOMINATOR);
        for &i in &list[list.len() - test..] {
            held[i] = true;
        }
    }
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (r, h) in rows.iter().zip(held) {
        if h {
            test.push(r.clone())
        } else {
            train.push(r.clone())
        }
    }
    (train, test)
}
