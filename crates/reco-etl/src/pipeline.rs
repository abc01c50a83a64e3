//! The ETL run: check the source, fold the data lake's recent click events into pair weights
//! ([`crate::events`]), stream ratings joined with customers and products into Parquet parts
//! of a new run followed by one `events` row per weighted pair, upload them, then publish the
//! run (Glue partition location and the snapshot's manifest) and delete the snapshot's older
//! runs.
//!
//! Work is split over three tasks joined by bounded channels, so memory stays flat however
//! many ratings there are: the async reader joins rows into Arrow batches, a blocking
//! thread encodes batches into Parquet parts, and the uploader writes parts to the data
//! lake ([`reco_aws::Bucket`]).
//!
//! Publishing is what makes a snapshot replace atomic for readers: parts go under
//! `snapshot=D/run=<id>/`, which no reader looks at until the Glue partition and
//! `snapshot=D/_manifest.json` are switched to it. Any failure before that deletes the new
//! run's objects and leaves the previous snapshot untouched.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};

use bytes::Bytes;
use futures_util::StreamExt;
use reco_aws::storage::StorageErrorKind;
use reco_aws::{Bucket, StorageError};
use reco_domain::serving::{CATALOGUE_KEY, CatalogueProduct, ProductCatalogue};
use reco_domain::source::{Customer, Product, is_valid_rating};
use reco_domain::training::{
    Interaction, SnapshotDate, TRAINING_SCHEMA_VERSION, manifest_key, part_key, run_prefix,
    snapshot_prefix,
};
pub use reco_domain::training::{PartFile, SnapshotManifest};
use serde::{Deserialize, Serialize};
use sqlx::MySqlPool;
use tokio::sync::mpsc;

use crate::catalog::{CatalogError, TrainingCatalog};
use crate::encode::{EncodeError, PART_ROWS, ParquetPart, ROW_GROUP_ROWS, TrainingBatchBuilder};
use crate::events::{EventAggregator, EventSettings, EventStats, EventsError, PairWeight};
use crate::extract::{self, ExtractError};
use crate::source_check::{SchemaProblem, check_source_schema};

/// Rejected ratings kept as examples in the report (the count is always complete).
pub const MAX_REJECTED_EXAMPLES: usize = 10;
/// Interval of progress lines on long runs.
pub const PROGRESS_INTERVAL: Duration = Duration::from_secs(5);
/// Arrow batches queued between the reader and the encoder (each is one row group).
const BATCH_QUEUE: usize = 2;
/// Finished Parquet parts queued between the encoder and the uploader.
const PART_QUEUE: usize = 1;
/// Content type of the Parquet parts (the media type registered for Parquet).
pub const PARQUET_CONTENT_TYPE: &str = "application/vnd.apache.parquet";
/// Content type of the manifest and the product catalogue.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// What one ETL run does.
#[derive(Debug, Clone)]
pub struct EtlConfig {
    /// The snapshot to (re)write.
    pub snapshot: SnapshotDate,
    /// Rows per Parquet part file.
    pub part_rows: usize,
    /// Rows per Arrow batch and Parquet row group.
    pub row_group_rows: usize,
    /// How click events become `events` rows.
    pub events: EventSettings,
    /// The time the events' window and recency are measured from (the run's start).
    pub now: DateTime<Utc>,
}

impl EtlConfig {
    /// Defaults ([`PART_ROWS`], [`ROW_GROUP_ROWS`], default event settings, now) for
    /// `snapshot`.
    pub fn new(snapshot: SnapshotDate) -> Self {
        Self {
            snapshot,
            part_rows: PART_ROWS,
            row_group_rows: ROW_GROUP_ROWS,
            events: EventSettings::default(),
            now: Utc::now(),
        }
    }
}

/// Why a rating did not become a training row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RejectReason {
    /// Its customer is not in `customers` (orphan).
    UnknownCustomer,
    /// Its product is not in `products` (orphan).
    UnknownProduct,
    /// Neither its customer nor its product exists (orphan).
    UnknownCustomerAndProduct,
    /// `productRating` is outside 1..=5.
    RatingOutOfRange,
}

/// A rating that was not written, with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedRating {
    /// `customerNumber`.
    pub customer_number: i64,
    /// `productCode`.
    pub product_code: String,
    /// `productRating`.
    pub rating: i64,
    /// Why it was rejected.
    pub reason: RejectReason,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct EtlReport {
    /// The manifest published.
    pub manifest: SnapshotManifest,
    /// Customers loaded.
    pub customers: usize,
    /// Products loaded.
    pub products: usize,
    /// Ratings read.
    pub rows_read: u64,
    /// Ratings joined with their customer and product.
    pub rows_joined: u64,
    /// Training rows written (rating rows and events rows).
    pub rows_written: u64,
    /// What reading the click events did; `pairs` is the number of `events` rows written.
    pub events: EventStats,
    /// Rejected ratings per reason.
    pub rejected: HashMap<RejectReason, u64>,
    /// The first [`MAX_REJECTED_EXAMPLES`] rejected ratings.
    pub rejected_examples: Vec<RejectedRating>,
    /// Objects of older runs deleted after publishing.
    pub old_objects_deleted: usize,
    /// Wall time.
    pub elapsed: Duration,
}

impl EtlReport {
    /// Total rejected ratings.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}

/// An ETL run failed; the previous snapshot is intact unless stated otherwise.
#[derive(Debug, thiserror::Error)]
pub enum EtlError {
    /// The source schema does not match what the ETL reads.
    #[error("the source database does not match the expected schema (sql/source_schema.sql): {}", .problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    SourceSchema {
        /// Every problem found.
        problems: Vec<SchemaProblem>,
    },
    /// The schema check query failed.
    #[error("cannot read the source schema: {0}")]
    SchemaQuery(#[source] sqlx::Error),
    /// Extraction failed.
    #[error(transparent)]
    Extract(#[from] ExtractError),
    /// Encoding failed.
    #[error("encoding Parquet failed: {0}")]
    Encode(#[from] EncodeError),
    /// Reading the click events failed.
    #[error(
        "{0} (previous snapshot left intact; set RECO_EVENTS_LOOKBACK_DAYS=0 to run without events)"
    )]
    Events(#[from] EventsError),
    /// Writing to the data lake failed.
    #[error("writing the data lake failed (previous snapshot left intact): {0}")]
    Store(#[from] StorageError),
    /// The Glue Data Catalog failed.
    #[error("{0}")]
    Catalog(#[from] CatalogError),
    /// A pipeline task ended abnormally.
    #[error("internal task failure: {0}")]
    Task(String),
}

fn new_run_id() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{now}-{}", &random[..8])
}

struct ReadStats {
    rows_read: u64,
    rows_joined: u64,
    rejected: HashMap<RejectReason, u64>,
    rejected_examples: Vec<RejectedRating>,
}

/// Runs the ETL for `config.snapshot`: source -> Parquet under a new run of the data lake
/// `lake` -> Glue + manifest.
pub async fn run_etl(
    pool: &MySqlPool,
    lake: &Bucket,
    catalog: &TrainingCatalog,
    config: &EtlConfig,
) -> Result<EtlReport, EtlError> {
    let started = Instant::now();
    let problems = check_source_schema(pool)
        .await
        .map_err(EtlError::SchemaQuery)?;
    if !problems.is_empty() {
        return Err(EtlError::SourceSchema { problems });
    }
    let customers = extract::load_customers(pool).await?;
    let products = extract::load_products(pool).await?;
    tracing::info!(
        customers = customers.len(),
        products = products.len(),
        snapshot = %config.snapshot,
        "dimensions loaded"
    );
    catalog.ensure_table(lake.name()).await?;

    let mut aggregator = EventAggregator::new(config.events, config.now, &customers, &products);
    crate::events::read_events(lake, &mut aggregator, config.now).await?;
    let (pairs, events, pair_products) = aggregator.finish();
    tracing::info!(
        files = events.files_read,
        skipped_files = events.files_skipped,
        events = events.events_read,
        duplicates = events.events_duplicate,
        unknown_customer = events.events_unknown_customer,
        unknown_product_items = events.items_unknown_product,
        pairs = events.pairs,
        "click events folded into pair weights"
    );
    let sources = Sources {
        customers: &customers,
        products: &products,
        pairs,
        pair_products,
    };

    let run_id = new_run_id();
    let written = write_run(pool, lake, &sources, config, &run_id, started).await;
    let (stats, files) = match written {
        Ok(ok) => ok,
        Err(e) => {
            discard_run(lake, config.snapshot, &run_id).await;
            return Err(e);
        }
    };
    let rows_written: u64 = files.iter().map(|f| f.rows).sum();
    let location = lake.location(&run_prefix(config.snapshot, &run_id));
    let manifest = SnapshotManifest {
        schema_version: TRAINING_SCHEMA_VERSION,
        snapshot: config.snapshot.to_string(),
        run_id: run_id.clone(),
        location: location.clone(),
        rows: rows_written,
        files,
    };
    publish(lake, catalog, config.snapshot, &manifest).await?;
    // The storefront's display fields: names change without a retrain, so every run replaces
    // the catalogue (after the snapshot is live: a failed run leaves the previous one).
    let catalogue = product_catalogue(&products);
    lake.put(
        CATALOGUE_KEY,
        Bytes::from(catalogue.to_json_vec()),
        JSON_CONTENT_TYPE,
    )
    .await?;
    tracing::info!(
        products = catalogue.len(),
        key = CATALOGUE_KEY,
        "product catalogue written"
    );
    let old_objects_deleted = delete_old_runs(lake, config.snapshot, &run_id).await;
    Ok(EtlReport {
        manifest,
        customers: customers.len(),
        products: products.len(),
        rows_read: stats.rows_read,
        rows_joined: stats.rows_joined,
        rows_written,
        events,
        rejected: stats.rejected,
        rejected_examples: stats.rejected_examples,
        old_objects_deleted,
        elapsed: started.elapsed(),
    })
}

/// What the rows are joined from: the dimensions, and the event pairs written after the
/// rating rows.
struct Sources<'a> {
    customers: &'a HashMap<i32, Customer>,
    products: &'a HashMap<String, Product>,
    /// Sorted pair weights.
    pairs: Vec<PairWeight>,
    /// The products the pairs' indexes point into.
    pair_products: Vec<&'a Product>,
}

async fn write_run(
    pool: &MySqlPool,
    lake: &Bucket,
    sources: &Sources<'_>,
    config: &EtlConfig,
    run_id: &str,
    started: Instant,
) -> Result<(ReadStats, Vec<PartFile>), EtlError> {
    let (batch_tx, mut batch_rx) = mpsc::channel::<arrow::record_batch::RecordBatch>(BATCH_QUEUE);
    let (part_tx, part_rx) = mpsc::channel::<(usize, u64, Bytes)>(PART_QUEUE);
    let part_rows = config.part_rows.max(1);
    let encoder = tokio::task::spawn_blocking(move || -> Result<(), EtlError> {
        let mut part = ParquetPart::new()?;
        let mut index = 0;
        while let Some(batch) = batch_rx.blocking_recv() {
            part.write(&batch)?;
            if part.rows() >= part_rows {
                let rows = part.rows() as u64;
                let finished = std::mem::replace(&mut part, ParquetPart::new()?);
                if part_tx
                    .blocking_send((index, rows, finished.finish()?))
                    .is_err()
                {
                    return Ok(()); // the uploader failed; it reports why
                }
                index += 1;
            }
        }
        // The last part; an empty snapshot still gets one file carrying the schema.
        if part.rows() > 0 || index == 0 {
            let rows = part.rows() as u64;
            let _ = part_tx.blocking_send((index, rows, part.finish()?));
        }
        Ok(())
    });
    let uploader = tokio::spawn(upload_parts(
        lake.clone(),
        config.snapshot,
        run_id.to_owned(),
        part_rx,
    ));

    let read = read_and_join(pool, sources, config, batch_tx, started).await;
    let encoded = encoder.await.map_err(|e| EtlError::Task(e.to_string()));
    let uploaded = uploader.await.map_err(|e| EtlError::Task(e.to_string()));
    // Report the root cause: an upload failure stops the encoder, which stops the reader.
    let files = uploaded??;
    encoded??;
    let stats = read?;
    Ok((stats, files))
}

/// Uploads the parts `(index, rows, body)` of the run as they come; stops at the first failure.
async fn upload_parts(
    lake: Bucket,
    snapshot: SnapshotDate,
    run_id: String,
    mut parts: mpsc::Receiver<(usize, u64, Bytes)>,
) -> Result<Vec<PartFile>, StorageError> {
    let mut files = Vec::new();
    while let Some((index, rows, body)) = parts.recv().await {
        let key = part_key(snapshot, &run_id, index);
        let bytes = body.len() as u64;
        lake.put(&key, body, PARQUET_CONTENT_TYPE).await?;
        tracing::info!(key = %key, rows, bytes, "part uploaded");
        files.push(PartFile { key, rows, bytes });
    }
    Ok(files)
}

async fn read_and_join(
    pool: &MySqlPool,
    sources: &Sources<'_>,
    config: &EtlConfig,
    batch_tx: mpsc::Sender<arrow::record_batch::RecordBatch>,
    started: Instant,
) -> Result<ReadStats, EtlError> {
    let batch_rows = config.row_group_rows.max(1);
    let mut stats = ReadStats {
        rows_read: 0,
        rows_joined: 0,
        rejected: HashMap::new(),
        rejected_examples: Vec::new(),
    };
    let mut builder = TrainingBatchBuilder::with_capacity(batch_rows);
    let mut ratings = extract::stream_ratings(pool);
    let mut next_progress = Instant::now() + PROGRESS_INTERVAL;
    while let Some(row) = ratings.next().await {
        let (customer_number, product_code, rating) = row?;
        stats.rows_read += 1;
        let customer = i32::try_from(customer_number)
            .ok()
            .and_then(|n| sources.customers.get(&n));
        let product = sources.products.get(&product_code);
        let reason = match (customer, product) {
            (Some(_), Some(_)) if !is_valid_rating(rating) => Some(RejectReason::RatingOutOfRange),
            (Some(_), Some(_)) => None,
            (None, Some(_)) => Some(RejectReason::UnknownCustomer),
            (Some(_), None) => Some(RejectReason::UnknownProduct),
            (None, None) => Some(RejectReason::UnknownCustomerAndProduct),
        };
        match (reason, customer, product) {
            (None, Some(customer), Some(product)) => {
                stats.rows_joined += 1;
                builder.append_joined(customer, product, Interaction::Rating(rating as i8));
                if builder.len() >= batch_rows {
                    let batch = builder.finish()?;
                    if batch_tx.send(batch).await.is_err() {
                        // The encoder stopped; its error (or the uploader's) is reported.
                        return Ok(stats);
                    }
                }
            }
            (reason, _, _) => {
                let reason = reason.unwrap_or(RejectReason::UnknownCustomerAndProduct);
                *stats.rejected.entry(reason).or_default() += 1;
                if stats.rejected_examples.len() < MAX_REJECTED_EXAMPLES {
                    stats.rejected_examples.push(RejectedRating {
                        customer_number,
                        product_code,
                        rating,
                        reason,
                    });
                }
            }
        }
        if stats.rows_read.is_multiple_of(65_536) && Instant::now() >= next_progress {
            next_progress = Instant::now() + PROGRESS_INTERVAL;
            let secs = started.elapsed().as_secs_f64();
            tracing::info!(
                rows_read = stats.rows_read,
                rows_joined = stats.rows_joined,
                rows_per_sec = (stats.rows_read as f64 / secs) as u64,
                "etl progress"
            );
        }
    }
    // One `events` row per weighted pair, after the ratings (customers are known: the
    // aggregator skipped unknown ones).
    for &(customer_number, product, weight) in &sources.pairs {
        let Some(customer) = sources.customers.get(&customer_number) else {
            continue;
        };
        let product = sources.pair_products[product as usize];
        builder.append_joined(customer, product, Interaction::Events(weight));
        if builder.len() >= batch_rows {
            let batch = builder.finish()?;
            if batch_tx.send(batch).await.is_err() {
                return Ok(stats);
            }
        }
    }
    if !builder.is_empty() {
        let batch = builder.finish()?;
        let _ = batch_tx.send(batch).await;
    }
    Ok(stats)
}

/// The catalogue of display fields of `products`.
pub fn product_catalogue(products: &HashMap<String, Product>) -> ProductCatalogue {
    ProductCatalogue::new(products.values().map(|p| CatalogueProduct {
        product_code: p.product_code.clone(),
        name: p.product_name.clone(),
        product_line: p.product_line.clone(),
        msrp_cents: p.msrp.0,
    }))
}

/// Switches readers to the new run: Glue partition first, then the manifest. If the
/// manifest cannot be written, the partition is pointed back and the new run discarded.
async fn publish(
    lake: &Bucket,
    catalog: &TrainingCatalog,
    snapshot: SnapshotDate,
    manifest: &SnapshotManifest,
) -> Result<(), EtlError> {
    let previous = match catalog.partition_location(snapshot).await {
        Ok(previous) => previous,
        Err(e) => {
            discard_run(lake, snapshot, &manifest.run_id).await;
            return Err(e.into());
        }
    };
    if let Err(e) = catalog
        .register_snapshot(snapshot, &manifest.location)
        .await
    {
        discard_run(lake, snapshot, &manifest.run_id).await;
        return Err(e.into());
    }
    let body = serde_json::to_vec_pretty(manifest).expect("manifest serialises");
    if let Err(e) = lake
        .put(
            &manifest_key(snapshot),
            Bytes::from(body),
            JSON_CONTENT_TYPE,
        )
        .await
    {
        if let Some(previous) = previous
            && let Err(revert) = catalog.register_snapshot(snapshot, &previous).await
        {
            tracing::error!(error = %revert, "could not point the Glue partition back at the previous run");
        }
        discard_run(lake, snapshot, &manifest.run_id).await;
        return Err(e.into());
    }
    Ok(())
}

/// Best-effort removal of a failed run's objects (nothing references them).
async fn discard_run(lake: &Bucket, snapshot: SnapshotDate, run_id: &str) {
    let prefix = run_prefix(snapshot, run_id);
    let result = async {
        let keys = lake.list(&prefix).await?;
        lake.delete(&keys).await
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(prefix = %prefix, error = %e, "could not delete the failed run's objects; they are unreferenced");
    }
}

/// Deletes every object of the snapshot's runs other than `run_id`; returns how many.
async fn delete_old_runs(lake: &Bucket, snapshot: SnapshotDate, run_id: &str) -> usize {
    let prefix = snapshot_prefix(snapshot);
    let keep = run_prefix(snapshot, run_id);
    let result = async {
        let old: Vec<String> = lake
            .list(&prefix)
            .await?
            .into_iter()
            .filter(|k| k[prefix.len()..].starts_with("run=") && !k.starts_with(&keep))
            .collect();
        lake.delete(&old).await?;
        Ok::<_, StorageError>(old.len())
    }
    .await;
    match result {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "published, but older runs could not be deleted; the next run retries");
            0
        }
    }
}

/// Reads the published manifest of `snapshot` from the data lake `lake`, if any.
pub async fn read_manifest(
    lake: &Bucket,
    snapshot: SnapshotDate,
) -> Result<Option<SnapshotManifest>, StorageError> {
    let key = manifest_key(snapshot);
    match lake.get_opt(&key).await? {
        None => Ok(None),
        Some(body) => serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| StorageError {
                operation: "get",
                location: lake.location(&key),
                kind: StorageErrorKind::Other,
                reason: format!("manifest is not valid JSON: {e}"),
            }),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use object_store::memory::InMemory;

    use super::*;
    use crate::test_support::FailingStore;

    fn day() -> SnapshotDate {
        "2025-08-15".parse().unwrap()
    }

    async fn put(lake: &Bucket, key: &str) {
        lake.put(key, Bytes::from_static(b"x"), PARQUET_CONTENT_TYPE)
            .await
            .unwrap();
    }

    fn manifest(lake: &Bucket, run_id: &str) -> SnapshotManifest {
        SnapshotManifest {
            schema_version: TRAINING_SCHEMA_VERSION,
            snapshot: day().to_string(),
            run_id: run_id.to_owned(),
            location: lake.location(&run_prefix(day(), run_id)),
            rows: 7,
            files: vec![PartFile {
                key: part_key(day(), run_id, 0),
                rows: 7,
                bytes: 1,
            }],
        }
    }

    /// Parts sent to the uploader, as the encoder sends them.
    fn parts(count: usize) -> mpsc::Receiver<(usize, u64, Bytes)> {
        let (tx, rx) = mpsc::channel(count.max(1));
        for index in 0..count {
            tx.try_send((index, 10, Bytes::from(vec![index as u8; 3])))
                .unwrap();
        }
        rx
    }

    #[tokio::test]
    async fn parts_are_uploaded_under_the_run_in_order() {
        let lake = Bucket::in_memory("lake");
        let files = upload_parts(lake.clone(), day(), "r1".into(), parts(3))
            .await
            .unwrap();
        let keys: Vec<String> = files.iter().map(|f| f.key.clone()).collect();
        assert_eq!(
            keys,
            [
                "training_ratings/snapshot=2025-08-15/run=r1/part-00000.parquet",
                "training_ratings/snapshot=2025-08-15/run=r1/part-00001.parquet",
                "training_ratings/snapshot=2025-08-15/run=r1/part-00002.parquet",
            ]
        );
        assert!(files.iter().all(|f| f.rows == 10 && f.bytes == 3));
        assert_eq!(lake.list(&run_prefix(day(), "r1")).await.unwrap(), keys);
        assert_eq!(lake.get(&keys[2]).await.unwrap().as_ref(), [2, 2, 2]);
    }

    #[tokio::test]
    async fn a_failed_upload_is_reported_and_discarding_leaves_the_previous_run() {
        let memory: Arc<dyn object_store::ObjectStore> = Arc::new(InMemory::new());
        let lake = Bucket::new(Arc::clone(&memory), "memory://lake", "lake");
        put(&lake, &part_key(day(), "old", 0)).await;
        let failing = Bucket::new(
            Arc::new(FailingStore::new(Arc::clone(&memory), 2)),
            "memory://lake",
            "lake",
        );
        let err = upload_parts(failing.clone(), day(), "new".into(), parts(4))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("injected failure"), "{err}");
        assert_eq!(lake.list(&run_prefix(day(), "new")).await.unwrap().len(), 2);
        let err = EtlError::from(err).to_string();
        assert!(
            err.starts_with("writing the data lake failed (previous snapshot left intact)"),
            "{err}"
        );

        discard_run(&failing, day(), "new").await;
        assert_eq!(
            lake.list(&snapshot_prefix(day())).await.unwrap(),
            [part_key(day(), "old", 0)]
        );
    }

    #[tokio::test]
    async fn older_runs_are_deleted_and_the_published_one_kept() {
        let lake = Bucket::in_memory("lake");
        for run in ["a", "b", "c"] {
            put(&lake, &part_key(day(), run, 0)).await;
            put(&lake, &part_key(day(), run, 1)).await;
        }
        let other_day: SnapshotDate = "2025-08-16".parse().unwrap();
        put(&lake, &part_key(other_day, "a", 0)).await;
        let body = serde_json::to_vec(&manifest(&lake, "c")).unwrap();
        lake.put(&manifest_key(day()), Bytes::from(body), JSON_CONTENT_TYPE)
            .await
            .unwrap();

        assert_eq!(delete_old_runs(&lake, day(), "c").await, 4);
        assert_eq!(
            lake.list(&snapshot_prefix(day())).await.unwrap(),
            [
                manifest_key(day()),
                part_key(day(), "c", 0),
                part_key(day(), "c", 1)
            ]
        );
        assert_eq!(
            lake.list(&snapshot_prefix(other_day)).await.unwrap().len(),
            1,
            "other snapshots untouched"
        );
    }

    #[tokio::test]
    async fn manifests_round_trip_and_bad_ones_are_named() {
        let lake = Bucket::in_memory("lake");
        assert_eq!(read_manifest(&lake, day()).await.unwrap(), None);
        let published = manifest(&lake, "r1");
        assert_eq!(
            published.location,
            "memory://lake/training_ratings/snapshot=2025-08-15/run=r1/"
        );
        let body = serde_json::to_vec_pretty(&published).unwrap();
        lake.put(&manifest_key(day()), Bytes::from(body), JSON_CONTENT_TYPE)
            .await
            .unwrap();
        assert_eq!(read_manifest(&lake, day()).await.unwrap(), Some(published));

        lake.put(
            &manifest_key(day()),
            Bytes::from_static(b"{"),
            JSON_CONTENT_TYPE,
        )
        .await
        .unwrap();
        let err = read_manifest(&lake, day()).await.unwrap_err().to_string();
        assert!(
            err.starts_with(
                "get memory://lake/training_ratings/snapshot=2025-08-15/_manifest.json failed: manifest is not valid JSON"
            ),
            "{err}"
        );
    }

    #[test]
    fn the_catalogue_has_every_product_with_its_display_fields() {
        let product = |code: &str, name: &str, msrp: i64| Product {
            product_code: code.into(),
            product_name: name.into(),
            product_line: "Motorcycles".into(),
            product_scale: "1:10".into(),
            quantity_in_stock: 3,
            buy_price: reco_domain::training::Cents(100),
            msrp: reco_domain::training::Cents(msrp),
        };
        let products: HashMap<String, Product> = [
            product("S10_1678", "1969 Harley Davidson Ultimate Chopper", 9570),
            product("S10_2016", "1996 Moto Guzzi 1100i", 11844),
        ]
        .into_iter()
        .map(|p| (p.product_code.clone(), p))
        .collect();
        let catalogue = product_catalogue(&products);
        assert_eq!(catalogue.len(), 2);
        let harley = catalogue.get("S10_1678").unwrap();
        assert_eq!(
            (
                harley.name.as_str(),
                harley.product_line.as_str(),
                harley.msrp_cents
            ),
            ("1969 Harley Davidson Ultimate Chopper", "Motorcycles", 9570)
        );
    }
}
