//! Registering the training table and its snapshot partitions in the Glue Data Catalog: the
//! training table's columns, `snapshot` partition key and schema version over
//! [`reco_aws::glue::ParquetTable`].

use reco_aws::glue::ParquetTable;
pub use reco_aws::glue::{
    CatalogError, PARQUET_INPUT_FORMAT, PARQUET_OUTPUT_FORMAT, PARQUET_SERDE,
};
use reco_domain::training::{
    PARTITION_KEY_SNAPSHOT, SnapshotDate, TRAINING_PREFIX, TRAINING_SCHEMA_VERSION,
    training_columns,
};

/// The training table's place in the Glue Data Catalog.
#[derive(Debug, Clone)]
pub struct TrainingCatalog {
    table: ParquetTable,
}

impl TrainingCatalog {
    /// The table `table` of database `database`.
    pub fn new(
        client: aws_sdk_glue::Client,
        database: impl Into<String>,
        table: impl Into<String>,
    ) -> Self {
        let columns = training_columns();
        let names: Vec<(&str, &str)> = columns.iter().map(|c| (c.name, c.hive_type)).collect();
        let mut parquet = ParquetTable::new(
            client,
            database,
            table,
            &names,
            PARTITION_KEY_SNAPSHOT,
            "reco training rows: one denormalized row per rating or per customer x product pair of click events",
        )
        .partition_key_comment("snapshot date YYYY-MM-DD")
        .parameter("reco.schema_version", TRAINING_SCHEMA_VERSION.to_string());
        for c in &columns {
            parquet =
                parquet.column_comment(c.name, if c.nullable { "nullable" } else { "not null" });
        }
        Self { table: parquet }
    }

    /// The Glue database's name.
    pub fn database(&self) -> &str {
        self.table.database()
    }

    /// The Glue table's name.
    pub fn table(&self) -> &str {
        self.table.table()
    }

    /// Creates the database if missing, then creates or updates the table (columns, types,
    /// `snapshot` partition key, Parquet SerDe, location `s3://bucket/training_ratings/`).
    pub async fn ensure_table(&self, bucket: &str) -> Result<(), CatalogError> {
        self.table
            .ensure(&format!("s3://{bucket}/{TRAINING_PREFIX}/"))
            .await
    }

    /// Points the partition `snapshot=<date>` at `location`, creating it if missing.
    pub async fn register_snapshot(
        &self,
        snapshot: SnapshotDate,
        location: &str,
    ) -> Result<(), CatalogError> {
        self.table
            .register_partition(&snapshot.to_string(), location)
            .await
    }

    /// The location the partition of `snapshot` points at, if it is registered.
    pub async fn partition_location(
        &self,
        snapshot: SnapshotDate,
    ) -> Result<Option<String>, CatalogError> {
        self.table.partition_location(&snapshot.to_string()).await
    }
}
