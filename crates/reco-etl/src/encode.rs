//! Encoding training rows: Arrow batches with the [`training_schema`] and Parquet parts
//! written into memory (so encoding is tested without S3).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Decimal128Builder, Float64Builder, Int8Builder, Int16Builder, Int32Builder,
    StringBuilder,
};
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use reco_domain::source::{Customer, Product};
use reco_domain::training::{
    Interaction, MONEY_PRECISION, MONEY_SCALE, TrainingRow, training_schema,
};

/// Rows per Parquet row group: ~128 Ki rows keeps a group a few MB compressed, large enough
/// for efficient scans and small enough that the writer's buffers stay bounded.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;
/// Rows per Parquet part file: 1 Mi rows (~10-20 MB compressed) bounds the memory of one
/// in-flight upload while keeping the file count low (10 files for 10 M ratings).
pub const PART_ROWS: usize = 1024 * 1024;

/// Encoding failed (a bug or an impossible value, not bad input).
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// Arrow refused a batch.
    #[error("arrow: {0}")]
    Arrow(#[from] ArrowError),
    /// Parquet refused a batch.
    #[error("parquet: {0}")]
    Parquet(#[from] ParquetError),
}

/// Accumulates joined rows column by column into one Arrow batch of the training schema.
#[derive(Debug)]
pub struct TrainingBatchBuilder {
    schema: SchemaRef,
    customer_number: Int32Builder,
    city: StringBuilder,
    state: StringBuilder,
    postal_code: StringBuilder,
    country: StringBuilder,
    credit_limit: Decimal128Builder,
    product_code: StringBuilder,
    product_line: StringBuilder,
    product_scale: StringBuilder,
    quantity_in_stock: Int16Builder,
    buy_price: Decimal128Builder,
    msrp: Decimal128Builder,
    rating: Int8Builder,
    source: StringBuilder,
    event_weight: Float64Builder,
    len: usize,
}

fn money_builder(capacity: usize) -> Decimal128Builder {
    Decimal128Builder::with_capacity(capacity)
        .with_precision_and_scale(MONEY_PRECISION, MONEY_SCALE)
        .expect("decimal(10,2) is a valid Arrow decimal")
}

impl TrainingBatchBuilder {
    /// An empty builder with room for `capacity` rows.
    pub fn with_capacity(capacity: usize) -> Self {
        let strings = || StringBuilder::with_capacity(capacity, capacity * 8);
        Self {
            schema: training_schema(),
            customer_number: Int32Builder::with_capacity(capacity),
            city: strings(),
            state: strings(),
            postal_code: strings(),
            country: strings(),
            credit_limit: money_builder(capacity),
            product_code: strings(),
            product_line: strings(),
            product_scale: strings(),
            quantity_in_stock: Int16Builder::with_capacity(capacity),
            buy_price: money_builder(capacity),
            msrp: money_builder(capacity),
            rating: Int8Builder::with_capacity(capacity),
            source: StringBuilder::with_capacity(capacity, capacity * 7),
            event_weight: Float64Builder::with_capacity(capacity),
            len: 0,
        }
    }

    /// Rows appended since the last [`finish`](Self::finish).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no row was appended since the last [`finish`](Self::finish).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends the join of an interaction (a rating, or a pair's event weight) with its
    /// customer and product.
    pub fn append_joined(
        &mut self,
        customer: &Customer,
        product: &Product,
        interaction: Interaction,
    ) {
        self.customer_number.append_value(customer.customer_number);
        self.city.append_value(&customer.city);
        self.state.append_option(customer.state.as_deref());
        self.postal_code
            .append_option(customer.postal_code.as_deref());
        self.country.append_value(&customer.country);
        self.credit_limit
            .append_option(customer.credit_limit.map(|c| i128::from(c.0)));
        self.product_code.append_value(&product.product_code);
        self.product_line.append_value(&product.product_line);
        self.product_scale.append_value(&product.product_scale);
        self.quantity_in_stock
            .append_value(product.quantity_in_stock);
        self.buy_price.append_value(i128::from(product.buy_price.0));
        self.msrp.append_value(i128::from(product.msrp.0));
        self.rating.append_option(interaction.rating());
        self.source.append_value(interaction.source());
        self.event_weight.append_option(interaction.event_weight());
        self.len += 1;
    }

    /// Appends one already-joined row.
    pub fn append_row(&mut self, row: &TrainingRow) {
        let customer = Customer {
            customer_number: row.customer_number,
            city: row.city.clone(),
            state: row.state.clone(),
            postal_code: row.postal_code.clone(),
            country: row.country.clone(),
            credit_limit: row.credit_limit,
        };
        let product = Product {
            product_name: "1952 Alpine Renault 1300".into(),
            product_code: row.product_code.clone(),
            product_line: row.product_line.clone(),
            product_scale: row.product_scale.clone(),
            quantity_in_stock: row.quantity_in_stock,
            buy_price: row.buy_price,
            msrp: row.msrp,
        };
        self.append_joined(&customer, &product, Interaction::Rating(row.rating));
    }

    /// The rows appended so far as one batch; the builder is empty again afterwards.
    pub fn finish(&mut self) -> Result<RecordBatch, EncodeError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.customer_number.finish()),
            Arc::new(self.city.finish()),
            Arc::new(self.state.finish()),
            Arc::new(self.postal_code.finish()),
            Arc::new(self.country.finish()),
            Arc::new(self.credit_limit.finish()),
            Arc::new(self.product_code.finish()),
            Arc::new(self.product_line.finish()),
            Arc::new(self.product_scale.finish()),
            Arc::new(self.quantity_in_stock.finish()),
            Arc::new(self.buy_price.finish()),
            Arc::new(self.msrp.finish()),
            Arc::new(self.rating.finish()),
            Arc::new(self.source.finish()),
            Arc::new(self.event_weight.finish()),
        ];
        self.len = 0;
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

/// Writer properties of training parts: Snappy, [`ROW_GROUP_ROWS`] rows per group.
pub fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by(format!("reco-etl {}", env!("CARGO_PKG_VERSION")))
        .build()
}

/// One Parquet part file being written into memory.
pub struct ParquetPart {
    writer: ArrowWriter<Vec<u8>>,
    rows: usize,
}

impl std::fmt::Debug for ParquetPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetPart")
            .field("rows", &self.rows)
            .finish()
    }
}

impl ParquetPart {
    /// A new, empty part with the training schema.
    pub fn new() -> Result<Self, EncodeError> {
        let writer =
            ArrowWriter::try_new(Vec::new(), training_schema(), Some(writer_properties()))?;
        Ok(Self { writer, rows: 0 })
    }

    /// Rows written to this part.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Encodes `batch` into the part.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), EncodeError> {
        self.writer.write(batch)?;
        self.rows += batch.num_rows();
        Ok(())
    }

    /// The finished file's bytes.
    pub fn finish(self) -> Result<Bytes, EncodeError> {
        Ok(Bytes::from(self.writer.into_inner()?))
    }
}
