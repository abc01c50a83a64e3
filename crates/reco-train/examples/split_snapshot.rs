//! Writes a training snapshot (the ETL's Parquet training rows) from generated split files, so
//! the model benchmark (`bench/model/run.sh`) can time `reco train --input` (the training job's
//! own path: compact snapshot, held-out split, tuning, champion, full fit, embeddings) at the
//! generated scale.
//!
//! Every event of `train.csv` and `test.csv` becomes one row of customer `user_id`, product
//! `P{item_id}`: a rating row, rating 4 or 5 (alternating with the timestamp), except every
//! tenth row, which is an events row (`source = events`, `event_weight` 1 to 3), so both kinds
//! are read and trained. Features are derived from the ids (city, country, credit limit;
//! product line and scale, stock, prices).
//!
//! Usage: `split_snapshot --train FILE --test FILE --out FILE.parquet`.

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Builder, Int8Builder, Int64Builder, RecordBatch, StringBuilder,
};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use reco_domain::training::{
    COL_BUY_PRICE, COL_CITY, COL_COUNTRY, COL_CREDIT_LIMIT, COL_CUSTOMER_NUMBER, COL_EVENT_WEIGHT,
    COL_MSRP, COL_PRODUCT_CODE, COL_PRODUCT_LINE, COL_PRODUCT_SCALE, COL_QUANTITY_IN_STOCK,
    COL_RATING, COL_SOURCE, SOURCE_EVENTS, SOURCE_RATING,
};

/// Rows per record batch written.
const BATCH_ROWS: usize = 100_000;

#[derive(Default)]
struct Batch {
    customer: Int64Builder,
    city: StringBuilder,
    country: StringBuilder,
    credit_limit: Float64Builder,
    product: StringBuilder,
    line: StringBuilder,
    scale: StringBuilder,
    stock: Float64Builder,
    buy_price: Float64Builder,
    msrp: Float64Builder,
    rating: Int8Builder,
    source: StringBuilder,
    event_weight: Float64Builder,
    rows: usize,
}

impl Batch {
    fn push(&mut self, user: i64, item: i64, t: i64, row: usize) {
        self.customer.append_value(user);
        self.city.append_value(format!("City{}", user % 200));
        self.country.append_value(format!("Country{}", user % 20));
        self.credit_limit
            .append_value(10_000.0 + (user % 97) as f64 * 1_000.0);
        self.product.append_value(format!("P{item}"));
        self.line.append_value(format!("Line{}", item % 7));
        self.scale.append_value(format!("1:{}", 10 + item % 4 * 8));
        self.stock.append_value((item % 1000) as f64);
        self.buy_price.append_value(10.0 + (item % 90) as f64);
        self.msrp.append_value(20.0 + (item % 150) as f64);
        if row % 10 == 9 {
            self.rating.append_null();
            self.source.append_value(SOURCE_EVENTS);
            self.event_weight.append_value(1.0 + (t % 3) as f64);
        } else {
            self.rating.append_value(4 + (t % 2) as i8);
            self.source.append_value(SOURCE_RATING);
            self.event_weight.append_null();
        }
        self.rows += 1;
    }

    fn finish(&mut self, schema: &Arc<Schema>) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.customer.finish()),
            Arc::new(self.city.finish()),
            Arc::new(self.country.finish()),
            Arc::new(self.credit_limit.finish()),
            Arc::new(self.product.finish()),
            Arc::new(self.line.finish()),
            Arc::new(self.scale.finish()),
            Arc::new(self.stock.finish()),
            Arc::new(self.buy_price.finish()),
            Arc::new(self.msrp.finish()),
            Arc::new(self.rating.finish()),
            Arc::new(self.source.finish()),
            Arc::new(self.event_weight.finish()),
        ];
        self.rows = 0;
        RecordBatch::try_new(schema.clone(), columns).expect("columns match the schema")
    }
}

fn main() -> Result<(), String> {
    let mut inputs = Vec::new();
    let mut out = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--train" | "--test" => inputs.push(PathBuf::from(value)),
            "--out" => out = Some(PathBuf::from(value)),
            other => return Err(format!("unknown argument {other:?} (see the file's doc)")),
        }
    }
    let out = out.ok_or("--out FILE.parquet is required")?;
    if inputs.is_empty() {
        return Err("give --train FILE and/or --test FILE".to_owned());
    }
    let text = |name: &str| Field::new(name, DataType::Utf8, false);
    let number = |name: &str| Field::new(name, DataType::Float64, false);
    let schema = Arc::new(Schema::new(vec![
        Field::new(COL_CUSTOMER_NUMBER, DataType::Int64, false),
        text(COL_CITY),
        text(COL_COUNTRY),
        number(COL_CREDIT_LIMIT),
        text(COL_PRODUCT_CODE),
        text(COL_PRODUCT_LINE),
        text(COL_PRODUCT_SCALE),
        number(COL_QUANTITY_IN_STOCK),
        number(COL_BUY_PRICE),
        number(COL_MSRP),
        Field::new(COL_RATING, DataType::Int8, true),
        text(COL_SOURCE),
        Field::new(COL_EVENT_WEIGHT, DataType::Float64, true),
    ]));
    let file = std::fs::File::create(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut writer = ArrowWriter::try_new(file, schema.clone(), None).map_err(|e| e.to_string())?;
    let mut batch = Batch::default();
    let mut row = 0usize;
    for path in &inputs {
        let mut reader =
            csv::Reader::from_path(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut record = csv::StringRecord::new();
        while reader
            .read_record(&mut record)
            .map_err(|e| format!("{}: {e}", path.display()))?
        {
            let field = |i: usize| -> Result<i64, String> {
                record
                    .get(i)
                    .and_then(|v| v.trim().parse().ok())
                    .ok_or_else(|| {
                        format!(
                            "{}: field {i} of {record:?} is not an integer",
                            path.display()
                        )
                    })
            };
            batch.push(field(0)?, field(1)?, field(2)?, row);
            row += 1;
            if batch.rows == BATCH_ROWS {
                writer
                    .write(&batch.finish(&schema))
                    .map_err(|e| e.to_string())?;
            }
        }
    }
    if batch.rows > 0 {
        writer
            .write(&batch.finish(&schema))
            .map_err(|e| e.to_string())?;
    }
    writer.close().map_err(|e| e.to_string())?;
    println!("wrote {row} training rows to {}", out.display());
    Ok(())
}
