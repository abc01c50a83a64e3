//! Registering the training table and its snapshot partitions in the Glue Data Catalog.

use aws_sdk_glue::error::DisplayErrorContext;
use aws_sdk_glue::types::{
    Column, DatabaseInput, PartitionInput, SerDeInfo, StorageDescriptor, TableInput,
};
use reco_domain::training::{
    PARTITION_KEY_SNAPSHOT, SnapshotDate, TRAINING_PREFIX, TRAINING_SCHEMA_VERSION,
    training_columns,
};

/// Hive input format of Parquet tables (what Athena and Glue crawlers register).
pub const PARQUET_INPUT_FORMAT: &str =
    "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat";
/// Hive output format of Parquet tables.
pub const PARQUET_OUTPUT_FORMAT: &str =
    "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat";
/// Hive SerDe of Parquet tables.
pub const PARQUET_SERDE: &str = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe";

/// A Glue Data Catalog call failed.
#[derive(Debug, thiserror::Error)]
#[error("Glue {operation} on {target} failed: {reason}")]
pub struct CatalogError {
    /// The API operation.
    pub operation: &'static str,
    /// Database, table or partition concerned.
    pub target: String,
    /// The service's message.
    pub reason: String,
}

/// The training table's place in the Glue Data Catalog.
#[derive(Debug, Clone)]
pub struct TrainingCatalog {
    client: aws_sdk_glue::Client,
    database: String,
    table: String,
}

fn columns() -> Vec<Column> {
    training_columns()
        .into_iter()
        .map(|c| {
            Column::builder()
                .name(c.name)
                .r#type(c.hive_type)
                .comment(if c.nullable { "nullable" } else { "not null" })
                .build()
                .expect("column name is set")
        })
        .collect()
}

fn storage(location: String) -> StorageDescriptor {
    StorageDescriptor::builder()
        .set_columns(Some(columns()))
        .location(location)
        .input_format(PARQUET_INPUT_FORMAT)
        .output_format(PARQUET_OUTPUT_FORMAT)
        .serde_info(
            SerDeInfo::builder()
                .serialization_library(PARQUET_SERDE)
                .parameters("serialization.format", "1")
                .build(),
        )
        .build()
}

impl TrainingCatalog {
    /// The table `table` of database `database`.
    pub fn new(
        client: aws_sdk_glue::Client,
        database: impl Into<String>,
        table: impl Into<String>,
    ) -> Self {
        Self {
            client,
            database: database.into(),
            table: table.into(),
        }
    }

    /// The Glue database's name.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The Glue table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    fn error(
        &self,
        operation: &'static str,
        target: String,
        reason: impl std::fmt::Display,
    ) -> CatalogError {
        CatalogError {
            operation,
            target,
            reason: reason.to_string(),
        }
    }

    /// Creates the database if missing, then creates or updates the table (columns, types,
    /// `snapshot` partition key, Parquet SerDe, location `s3://bucket/training_ratings/`).
    pub async fn ensure_table(&self, bucket: &str) -> Result<(), CatalogError> {
        match self.client.get_database().name(&self.database).send().await {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_entity_not_found_exception()) =>
            {
                let input = DatabaseInput::builder()
                    .name(&self.database)
                    .description("reco data lake")
                    .build()
                    .map_err(|e| self.error("CreateDatabase", self.database.clone(), e))?;
                match self
                    .client
                    .create_database()
                    .database_input(input)
                    .send()
                    .await
                {
                    Ok(_) => {}
                    // Another run created it in between.
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_already_exists_exception()) => {}
                    Err(e) => {
                        return Err(self.error(
                            "CreateDatabase",
                            self.database.clone(),
                            DisplayErrorContext(e),
                        ));
                    }
                }
            }
            Err(e) => {
                return Err(self.error(
                    "GetDatabase",
                    self.database.clone(),
                    DisplayErrorContext(e),
                ));
            }
        }
        let target = format!("{}.{}", self.database, self.table);
        let input = TableInput::builder()
            .name(&self.table)
            .description("reco training rows: one denormalized row per rating or per customer x product pair of click events")
            .table_type("EXTERNAL_TABLE")
            .parameters("classification", "parquet")
            .parameters("EXTERNAL", "TRUE")
            .parameters("reco.schema_version", TRAINING_SCHEMA_VERSION.to_string())
            .storage_descriptor(storage(format!("s3://{bucket}/{TRAINING_PREFIX}/")))
            .partition_keys(
                Column::builder()
                    .name(PARTITION_KEY_SNAPSHOT)
                    .r#type("string")
                    .comment("snapshot date YYYY-MM-DD")
                    .build()
                    .map_err(|e| self.error("CreateTable", target.clone(), e))?,
            )
            .build()
            .map_err(|e| self.error("CreateTable", target.clone(), e))?;
        let exists = match self
            .client
            .get_table()
            .database_name(&self.database)
            .name(&self.table)
            .send()
            .await
        {
            Ok(_) => true,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_entity_not_found_exception()) =>
            {
                false
            }
            Err(e) => return Err(self.error("GetTable", target, DisplayErrorContext(e))),
        };
        if exists {
            self.client
                .update_table()
                .database_name(&self.database)
                .table_input(input)
                .send()
                .await
                .map_err(|e| self.error("UpdateTable", target, DisplayErrorContext(e)))?;
        } else {
            self.client
                .create_table()
                .database_name(&self.database)
                .table_input(input)
                .send()
                .await
                .map_err(|e| self.error("CreateTable", target, DisplayErrorContext(e)))?;
        }
        Ok(())
    }

    /// Points the partition `snapshot=<date>` at `location`, creating it if missing.
    pub async fn register_snapshot(
        &self,
        snapshot: SnapshotDate,
        location: &str,
    ) -> Result<(), CatalogError> {
        let value = snapshot.to_string();
        let target = format!(
            "{}.{} {PARTITION_KEY_SNAPSHOT}={value}",
            self.database, self.table
        );
        let input = PartitionInput::builder()
            .values(&value)
            .storage_descriptor(storage(location.to_owned()))
            .parameters("reco.schema_version", TRAINING_SCHEMA_VERSION.to_string())
            .build();
        let exists = self.partition_location(snapshot).await?.is_some();
        if exists {
            self.client
                .update_partition()
                .database_name(&self.database)
                .table_name(&self.table)
                .partition_value_list(&value)
                .partition_input(input)
                .send()
                .await
                .map_err(|e| self.error("UpdatePartition", target, DisplayErrorContext(e)))?;
        } else {
            self.client
                .create_partition()
                .database_name(&self.database)
                .table_name(&self.table)
                .partition_input(input)
                .send()
                .await
                .map_err(|e| self.error("CreatePartition", target, DisplayErrorContext(e)))?;
        }
        Ok(())
    }

    /// The location the partition of `snapshot` points at, if it is registered.
    pub async fn partition_location(
        &self,
        snapshot: SnapshotDate,
    ) -> Result<Option<String>, CatalogError> {
        let value = snapshot.to_string();
        match self
            .client
            .get_partition()
            .database_name(&self.database)
            .table_name(&self.table)
            .partition_values(&value)
            .send()
            .await
        {
            Ok(output) => Ok(output
                .partition()
                .and_then(|p| p.storage_descriptor())
                .and_then(|s| s.location())
                .map(str::to_owned)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_entity_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(self.error(
                "GetPartition",
                format!(
                    "{}.{} {PARTITION_KEY_SNAPSHOT}={value}",
                    self.database, self.table
                ),
                DisplayErrorContext(e),
            )),
        }
    }
}
