//! Training snapshots: the ETL's Parquet training rows -> [`TrainingData`].
//!
//! Columns are selected by name (the training-row contract of DESIGN.md, written by
//! `reco-etl`) and cast explicitly: money columns arrive as `Decimal128(10, 2)`, small
//! integers as `Int8`/`Int16`/`Int32`; any integer, decimal or float type is accepted.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::TrainError;
use crate::evaluation::{MIN_POSITIVES, POSITIVE_RATING, TEST_SHARE_DENOMINATOR, Truth};
use crate::interactions::{Ids, Interactions};
use crate::towers::{EntityFeatures, TrainingData};

/// Column names of the training-row contract, from `reco_domain::training`.
pub mod column {
    pub use reco_domain::training::{
        COL_BUY_PRICE as BUY_PRICE, COL_CITY as CITY, COL_COUNTRY as COUNTRY,
        COL_CREDIT_LIMIT as CREDIT_LIMIT, COL_CUSTOMER_NUMBER as CUSTOMER_NUMBER,
        COL_EVENT_WEIGHT as EVENT_WEIGHT, COL_MSRP as MSRP, COL_PRODUCT_CODE as PRODUCT_CODE,
        COL_PRODUCT_LINE as PRODUCT_LINE, COL_PRODUCT_SCALE as PRODUCT_SCALE,
        COL_QUANTITY_IN_STOCK as QUANTITY_IN_STOCK, COL_RATING as RATING, COL_SOURCE as SOURCE,
    };
}

use reco_domain::training::{SOURCE_EVENTS, SOURCE_RATING};

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

/// One decoded row of a training Parquet batch: its columns and the row's index.
struct BatchRow<'a> {
    t: &'a [&'a StringArray],
    f: &'a [&'a Float64Array],
    i: usize,
}

impl BatchRow<'_> {
    fn text(a: &StringArray, i: usize) -> Option<String> {
        (!a.is_null(i)).then(|| a.value(i).to_owned())
    }

    fn num(a: &Float64Array, i: usize) -> Option<f64> {
        (!a.is_null(i)).then(|| a.value(i))
    }

    fn customer_features(&self) -> EntityFeatures {
        EntityFeatures {
            categorical: vec![Self::text(self.t[0], self.i), Self::text(self.t[1], self.i)],
            numeric: vec![Self::num(self.f[0], self.i)],
        }
    }

    fn product_features(&self) -> EntityFeatures {
        EntityFeatures {
            categorical: vec![Self::text(self.t[3], self.i), Self::text(self.t[4], self.i)],
            numeric: vec![
                Self::num(self.f[1], self.i),
                Self::num(self.f[2], self.i),
                Self::num(self.f[3], self.i),
            ],
        }
    }
}

/// What a training row says about its pair.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Signal {
    /// A rating (`source = rating`, or no `source` column).
    Rating(f64),
    /// The weight derived from click events (`source = events`), > 0.
    Events(f64),
}

/// Decodes one Parquet file (`bytes`; `source` names it in errors) batch by batch, calling
/// `each(row, customer number, product code, signal)` for every row once checked. Files
/// without the `source` / `event_weight` columns (written before events rows existed) hold
/// rating rows only.
fn decode_rows(
    bytes: Bytes,
    source: &str,
    mut each: impl FnMut(&BatchRow<'_>, i64, &str, Signal),
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
        let events_cols = match batch.column_by_name(column::SOURCE) {
            Some(_) => Some((texts(column::SOURCE)?, floats(column::EVENT_WEIGHT)?)),
            None => None,
        };
        let events = events_cols.as_ref().map(|(s, w)| {
            (
                s.as_any()
                    .downcast_ref::<StringArray>()
                    .expect("cast to Utf8"),
                w.as_any()
                    .downcast_ref::<Float64Array>()
                    .expect("cast to Float64"),
            )
        });
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
        for i in 0..batch.num_rows() {
            let row = row_number + i + 1;
            if customer.is_null(i) {
                return Err(malformed(
                    source,
                    format!("row {row}: customer_number is null"),
                ));
            }
            let product_code = (!t[2].is_null(i)).then(|| t[2].value(i));
            let Some(product_code) = product_code.filter(|c| !c.is_empty()) else {
                return Err(malformed(
                    source,
                    format!("row {row}: product_code is null or empty"),
                ));
            };
            let kind = match events {
                Some((kinds, _)) if kinds.is_null(i) => {
                    return Err(malformed(source, format!("row {row}: source is null")));
                }
                Some((kinds, _)) => kinds.value(i),
                None => SOURCE_RATING,
            };
            let signal = match kind {
                SOURCE_RATING => {
                    let r = BatchRow::num(rating, i).unwrap_or(f64::NAN);
                    if !(MIN_RATING..=MAX_RATING).contains(&r) {
                        return Err(malformed(
                            source,
                            format!("row {row}: rating {r} outside {MIN_RATING}..={MAX_RATING}"),
                        ));
                    }
                    Signal::Rating(r)
                }
                SOURCE_EVENTS => {
                    let w = events
                        .and_then(|(_, w)| BatchRow::num(w, i))
                        .unwrap_or(f64::NAN);
                    if !(w > 0.0 && w.is_finite()) {
                        return Err(malformed(
                            source,
                            format!(
                                "row {row}: event_weight {w} of an events row is not a finite \
                                 number > 0"
                            ),
                        ));
                    }
                    Signal::Events(w)
                }
                other => {
                    return Err(malformed(
                        source,
                        format!(
                            "row {row}: source {other:?} is neither {SOURCE_RATING:?} nor \
                             {SOURCE_EVENTS:?}"
                        ),
                    ));
                }
            };
            let view = BatchRow { t: &t, f: &f, i };
            each(&view, customer.value(i), product_code, signal);
        }
        row_number += batch.num_rows();
    }
    Ok(())
}

/// Appends the rating rows of one Parquet file (`bytes`) to `out`; `source` names it in
/// errors. Events rows (`source = events`) are checked and left out: a [`SnapshotRow`] holds
/// a rating; [`read_parquet_into`] reads both kinds.
pub fn read_parquet(
    bytes: Bytes,
    source: &str,
    out: &mut Vec<SnapshotRow>,
) -> Result<(), TrainError> {
    decode_rows(
        bytes,
        source,
        |row, customer_number, product_code, signal| {
            let Signal::Rating(rating) = signal else {
                return;
            };
            let (c, p) = (row.customer_features(), row.product_features());
            let [city, country]: [Option<String>; 2] = c.categorical.try_into().expect("2 values");
            let [product_line, product_scale]: [Option<String>; 2] =
                p.categorical.try_into().expect("2 values");
            out.push(SnapshotRow {
                customer_number,
                city,
                country,
                credit_limit: c.numeric[0],
                product_code: product_code.to_owned(),
                product_line,
                product_scale,
                quantity_in_stock: p.numeric[0],
                buy_price: p.numeric[1],
                msrp: p.numeric[2],
                rating,
            });
        },
    )
}

/// Streams the rows of one Parquet file (`bytes`) into `snapshot`, rating and events rows
/// alike: 16 bytes a row, each customer's and product's features once; `source` names the
/// file in errors.
pub fn read_parquet_into(
    bytes: Bytes,
    source: &str,
    snapshot: &mut SnapshotBuilder,
) -> Result<(), TrainError> {
    decode_rows(
        bytes,
        source,
        |row, customer_number, product_code, signal| {
            let (rating, event_weight) = match signal {
                Signal::Rating(r) => (r, None),
                Signal::Events(w) => (f64::NAN, Some(w)),
            };
            snapshot.push(
                customer_number,
                || row.customer_features(),
                product_code,
                || row.product_features(),
                rating,
                event_weight,
            );
        },
    )
}

/// One row of a [`Snapshot`]: 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SnapshotPair {
    /// Customer index in [`Snapshot::customers`].
    pub customer: u32,
    /// Product index in [`Snapshot::products`].
    pub product: u32,
    /// The rating (NaN on an events row).
    pub rating: f32,
    /// The weight derived from click events (NaN on a rating row).
    pub event_weight: f32,
}

impl SnapshotPair {
    /// Whether the row was made from click events (`source = events`).
    pub fn is_events(&self) -> bool {
        !self.event_weight.is_nan()
    }

    /// Its ALS weight: [`rating_weight`] of a rating row, the event weight of an events row.
    pub fn weight(&self) -> Option<f64> {
        if self.is_events() {
            Some(f64::from(self.event_weight))
        } else {
            rating_weight(f64::from(self.rating))
        }
    }

    /// Whether the row is a held-out candidate: a rating of at least [`POSITIVE_RATING`].
    fn is_positive(&self) -> bool {
        !self.is_events() && f64::from(self.rating) >= POSITIVE_RATING
    }
}

/// Where a row falls in a split ([`Snapshot::holdout`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Trained on.
    Train,
    /// Held out and scored.
    Test,
    /// Neither (held out from an earlier split, or an events row of a held-out pair).
    Out,
}

/// A training snapshot held compactly: customers and products indexed once with their
/// features, and one [`SnapshotPair`] per row (rating and events rows alike). What `reco
/// train` and the training job train on.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Customer numbers as text, sorted as text (the trainer's user ids).
    pub customers: Vec<String>,
    /// Customer numbers, aligned with `customers`.
    pub customer_numbers: Vec<i64>,
    /// Each customer's features (from its first row).
    pub customer_features: Vec<EntityFeatures>,
    /// Product codes, sorted.
    pub products: Vec<String>,
    /// Each product's features (from its first row).
    pub product_features: Vec<EntityFeatures>,
    /// The rows, in file order.
    pub rows: Vec<SnapshotPair>,
    /// Per customer, the product of its first row.
    first_product: Vec<u32>,
    /// Per product, the customer of its first row.
    first_customer: Vec<u32>,
}

/// Builds a [`Snapshot`] row by row (see [`read_parquet_into`]).
#[derive(Debug, Default)]
pub struct SnapshotBuilder {
    customers: HashMap<i64, u32>,
    customer_numbers: Vec<i64>,
    customer_features: Vec<EntityFeatures>,
    products: Ids,
    product_features: Vec<EntityFeatures>,
    rows: Vec<SnapshotPair>,
    first_product: Vec<u32>,
    first_customer: Vec<u32>,
}

impl SnapshotBuilder {
    /// Adds a row: a rating (`event_weight` `None`) or an events row (`Some(weight)`, the
    /// rating ignored). Features are taken from a customer's or product's first row.
    pub fn push(
        &mut self,
        customer_number: i64,
        customer_features: impl FnOnce() -> EntityFeatures,
        product_code: &str,
        product_features: impl FnOnce() -> EntityFeatures,
        rating: f64,
        event_weight: Option<f64>,
    ) {
        let product = self.products.index(product_code);
        if product as usize == self.product_features.len() {
            self.product_features.push(product_features());
            self.first_customer.push(u32::MAX);
        }
        let next = self.customers.len() as u32;
        let customer = *self.customers.entry(customer_number).or_insert(next);
        if customer == next {
            self.customer_numbers.push(customer_number);
            self.customer_features.push(customer_features());
            self.first_product.push(product);
        }
        if self.first_customer[product as usize] == u32::MAX {
            self.first_customer[product as usize] = customer;
        }
        self.rows.push(SnapshotPair {
            customer,
            product,
            rating: if event_weight.is_some() {
                f32::NAN
            } else {
                rating as f32
            },
            event_weight: event_weight.map_or(f32::NAN, |w| w as f32),
        });
    }

    /// Rows pushed so far.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no row was pushed.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The snapshot: customers sorted by their number as text, products by code.
    pub fn build(self) -> Snapshot {
        let mut order: Vec<(String, u32)> = self
            .customer_numbers
            .iter()
            .enumerate()
            .map(|(i, c)| (c.to_string(), i as u32))
            .collect();
        order.sort_unstable();
        let mut customer_rank = vec![0u32; order.len()];
        for (position, (_, first_seen)) in order.iter().enumerate() {
            customer_rank[*first_seen as usize] = position as u32;
        }
        let (products, product_rank) = self.products.into_sorted();
        let mut rows = self.rows;
        for r in &mut rows {
            r.customer = customer_rank[r.customer as usize];
            r.product = product_rank[r.product as usize];
        }
        rows.shrink_to_fit();
        let permute = |ranks: &[u32], values: Vec<EntityFeatures>| {
            let mut out = vec![EntityFeatures::default(); values.len()];
            for (first_seen, v) in values.into_iter().enumerate() {
                out[ranks[first_seen] as usize] = v;
            }
            out
        };
        let mut customer_numbers = vec![0i64; order.len()];
        let mut first_product = vec![0u32; order.len()];
        for (first_seen, &c) in self.customer_numbers.iter().enumerate() {
            let at = customer_rank[first_seen] as usize;
            customer_numbers[at] = c;
            first_product[at] = product_rank[self.first_product[first_seen] as usize];
        }
        let mut first_customer = vec![0u32; products.len()];
        for (first_seen, &c) in self.first_customer.iter().enumerate() {
            first_customer[product_rank[first_seen] as usize] = customer_rank[c as usize];
        }
        Snapshot {
            customers: order.into_iter().map(|(name, _)| name).collect(),
            customer_numbers,
            customer_features: permute(&customer_rank, self.customer_features),
            products,
            product_features: permute(&product_rank, self.product_features),
            rows,
            first_product,
            first_customer,
        }
    }
}

/// Training data and held-out items of one split of a snapshot, indexed together.
#[derive(Debug, Clone)]
pub struct IndexedSnapshot {
    /// What is trained on.
    pub data: TrainingData,
    /// What is scored (the held-out rating rows).
    pub truth: Truth,
}

impl From<Vec<SnapshotRow>> for Snapshot {
    fn from(rows: Vec<SnapshotRow>) -> Self {
        Self::from_rows(&rows)
    }
}

impl Snapshot {
    /// A snapshot of rating rows.
    pub fn from_rows(rows: &[SnapshotRow]) -> Self {
        let mut builder = SnapshotBuilder::default();
        for r in rows {
            builder.push(
                r.customer_number,
                || customer_features(r),
                &r.product_code,
                || product_features(r),
                r.rating,
                None,
            );
        }
        builder.build()
    }

    /// Rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether it has no row.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Rows made from click events.
    pub fn events_rows(&self) -> usize {
        self.rows.iter().filter(|r| r.is_events()).count()
    }

    /// One row per customer and one per product, each with the true features of both (the
    /// customer's first row's product, the product's first row's customer): what the
    /// embeddings files need from the snapshot ([`crate::publish`] takes rows).
    pub fn feature_rows(&self) -> Vec<SnapshotRow> {
        let row = |c: usize, p: usize| {
            let (cf, pf) = (&self.customer_features[c], &self.product_features[p]);
            SnapshotRow {
                customer_number: self.customer_numbers[c],
                city: cf.categorical[0].clone(),
                country: cf.categorical[1].clone(),
                credit_limit: cf.numeric[0],
                product_code: self.products[p].clone(),
                product_line: pf.categorical[0].clone(),
                product_scale: pf.categorical[1].clone(),
                quantity_in_stock: pf.numeric[0],
                buy_price: pf.numeric[1],
                msrp: pf.numeric[2],
                rating: MAX_RATING,
            }
        };
        let customers = (0..self.customers.len()).map(|c| row(c, self.first_product[c] as usize));
        let products = (0..self.products.len()).map(|p| row(self.first_customer[p] as usize, p));
        customers.chain(products).collect()
    }

    /// Holds out, per customer with at least [`MIN_POSITIVES`] positives (rating rows >=
    /// [`POSITIVE_RATING`]) among the rows `within` trains (every row when `None`), the last
    /// `ceil(n / 5)` positives in a seeded order (snapshots carry no time). Events rows are
    /// training signal only: never held out, but an events row of a held-out pair is left
    /// out of training ([`Part::Out`]), so the scored pair is not seen through its clicks.
    pub fn holdout(&self, seed: u64, within: Option<&[Part]>) -> Vec<Part> {
        let mut parts: Vec<Part> = match within {
            Some(w) => w
                .iter()
                .map(|&p| {
                    if p == Part::Train {
                        Part::Train
                    } else {
                        Part::Out
                    }
                })
                .collect(),
            None => vec![Part::Train; self.rows.len()],
        };
        let keys: Vec<u64> = self.products.iter().map(|p| order_key(seed, p)).collect();
        let mut positives: Vec<u32> = (0..self.rows.len() as u32)
            .filter(|&i| parts[i as usize] == Part::Train && self.rows[i as usize].is_positive())
            .collect();
        positives.sort_unstable_by_key(|&i| {
            let r = &self.rows[i as usize];
            (r.customer, keys[r.product as usize], i)
        });
        let mut held_pairs: HashSet<(u32, u32)> = HashSet::new();
        let mut start = 0;
        while start < positives.len() {
            let customer = self.rows[positives[start] as usize].customer;
            let end = start
                + positives[start..]
                    .partition_point(|&i| self.rows[i as usize].customer == customer);
            let n = end - start;
            if n >= MIN_POSITIVES {
                for &i in &positives[end - n.div_ceil(TEST_SHARE_DENOMINATOR)..end] {
                    parts[i as usize] = Part::Test;
                    let r = &self.rows[i as usize];
                    held_pairs.insert((r.customer, r.product));
                }
            }
            start = end;
        }
        if !held_pairs.is_empty() {
            for (part, r) in parts.iter_mut().zip(&self.rows) {
                if *part == Part::Train
                    && r.is_events()
                    && held_pairs.contains(&(r.customer, r.product))
                {
                    *part = Part::Out;
                }
            }
        }
        parts
    }

    /// Training data of the rows `parts` trains (every row when `None`) with their customers'
    /// and products' features, and the held-out items of its [`Part::Test`] rows.
    pub fn indexed(
        &self,
        parts: Option<&[Part]>,
        source: &str,
    ) -> Result<IndexedSnapshot, TrainError> {
        let trains = |i: usize| parts.is_none_or(|p| p[i] == Part::Train);
        let rows = (0..self.rows.len()).filter(|&i| trains(i)).count();
        if rows == 0 {
            return Err(TrainError::Empty {
                source_name: source.to_owned(),
                reason: "the snapshot has no rows".to_owned(),
            });
        }
        let mut triples = Vec::with_capacity(rows);
        for (i, r) in self.rows.iter().enumerate() {
            if trains(i)
                && let Some(w) = r.weight()
            {
                triples.push((r.customer, r.product, w as f32));
            }
        }
        if triples.is_empty() {
            return Err(TrainError::Empty {
                source_name: source.to_owned(),
                reason: format!(
                    "no rating above {NEUTRAL_RATING} and no events row among {rows} rows"
                ),
            });
        }
        triples.shrink_to_fit();
        let subset = Interactions::from_indexed(&self.customers, &self.products, triples);
        let test: Vec<(u32, u32)> = match parts {
            Some(p) => self
                .rows
                .iter()
                .zip(p)
                .filter(|(_, p)| **p == Part::Test)
                .map(|(r, _)| (r.customer, r.product))
                .collect(),
            None => Vec::new(),
        };
        let truth = Truth::from_pairs(test, &subset.user_map, &subset.item_map);
        let user_features = subset
            .users
            .iter()
            .map(|&c| self.customer_features[c as usize].clone())
            .collect();
        let item_features = subset
            .items
            .iter()
            .map(|&p| self.product_features[p as usize].clone())
            .collect();
        Ok(IndexedSnapshot {
            data: TrainingData {
                interactions: subset.interactions,
                user_features: Some(user_features),
                item_features: Some(item_features),
                source: source.to_owned(),
                rows: rows as u64,
            },
            truth,
        })
    }

    /// Training data of every row.
    pub fn training_data(&self, source: &str) -> Result<TrainingData, TrainError> {
        Ok(self.indexed(None, source)?.data)
    }
}

/// Builds interactions (weight [`rating_weight`]; ratings at or below neutral are left out)
/// and per-customer / per-product features (from each one's first row) from snapshot rows.
pub fn training_data(rows: &[SnapshotRow], source: &str) -> Result<TrainingData, TrainError> {
    Snapshot::from_rows(rows).training_data(source)
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
