//! Parquet tables in the Glue Data Catalog (feature `glue`): the database, a table with one
//! string partition key, and its partitions, each created if missing and updated otherwise.
//! Used by the local Firehose for the raw event table (`click_events`) and by the ETL for
//! the training table (`training_ratings`).

use aws_sdk_glue::error::{DisplayErrorContext, SdkError};
use aws_sdk_glue::operation::create_database::CreateDatabaseError;
use aws_sdk_glue::operation::create_partition::CreatePartitionError;
use aws_sdk_glue::operation::create_table::CreateTableError;
use aws_sdk_glue::types::{
    Column, DatabaseInput, PartitionInput, SerDeInfo, StorageDescriptor, TableInput,
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

/// A Parquet table partitioned by one string key.
#[derive(Debug, Clone)]
pub struct ParquetTable {
    client: aws_sdk_glue::Client,
    database: String,
    table: String,
    /// `(name, hive type, comment)` of every column, in file order.
    columns: Vec<(String, String, Option<String>)>,
    partition_key: String,
    partition_key_comment: Option<String>,
    /// Set on the table and on every partition registered.
    parameters: Vec<(String, String)>,
    description: String,
}

impl ParquetTable {
    /// The table `database.table` with `columns` (`(name, hive type)`) and one string
    /// `partition_key`.
    pub fn new(
        client: aws_sdk_glue::Client,
        database: impl Into<String>,
        table: impl Into<String>,
        columns: &[(&str, &str)],
        partition_key: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Self {
            client,
            database: database.into(),
            table: table.into(),
            columns: columns
                .iter()
                .map(|(n, t)| ((*n).to_owned(), (*t).to_owned(), None))
                .collect(),
            partition_key: partition_key.into(),
            partition_key_comment: None,
            parameters: Vec::new(),
            description: description.into(),
        }
    }

    /// Comments the column `name` (no effect if there is no such column).
    pub fn column_comment(mut self, name: &str, comment: impl Into<String>) -> Self {
        let comment = comment.into();
        for column in self.columns.iter_mut().filter(|c| c.0 == name) {
            column.2 = Some(comment.clone());
        }
        self
    }

    /// Comments the partition key.
    pub fn partition_key_comment(mut self, comment: impl Into<String>) -> Self {
        self.partition_key_comment = Some(comment.into());
        self
    }

    /// A parameter set on the table and on every partition it registers.
    pub fn parameter(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.parameters.push((key.into(), value.into()));
        self
    }

    /// The Glue database's name.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The Glue table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// `database.table`.
    pub fn name(&self) -> String {
        format!("{}.{}", self.database, self.table)
    }

    fn error(
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

    /// The outcome of a create call, with AlreadyExists (`already_exists` of the service
    /// error) counted as done: another writer (a concurrent run) created it in between.
    fn created_or_exists<T, E: std::error::Error + 'static>(
        result: Result<T, SdkError<E>>,
        already_exists: fn(&E) -> bool,
        operation: &'static str,
        target: String,
    ) -> Result<(), CatalogError> {
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(already_exists) => Ok(()),
            Err(e) => Err(Self::error(operation, target, DisplayErrorContext(e))),
        }
    }

    fn storage(&self, location: String) -> StorageDescriptor {
        let columns = self
            .columns
            .iter()
            .filter_map(|(name, hive, comment)| {
                Column::builder()
                    .name(name)
                    .r#type(hive)
                    .set_comment(comment.clone())
                    .build()
                    .ok()
            })
            .collect();
        StorageDescriptor::builder()
            .set_columns(Some(columns))
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

    fn table_parameters(&self) -> std::collections::HashMap<String, String> {
        let mut parameters: std::collections::HashMap<String, String> =
            [("classification", "parquet"), ("EXTERNAL", "TRUE")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
        parameters.extend(self.parameters.iter().cloned());
        parameters
    }

    /// Creates the database if missing, then creates or updates the table at `location`
    /// (`s3://bucket/prefix/`).
    pub async fn ensure(&self, location: &str) -> Result<(), CatalogError> {
        let db = &self.database;
        match self.client.get_database().name(db).send().await {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_entity_not_found_exception()) =>
            {
                let input = DatabaseInput::builder()
                    .name(db)
                    .description("reco data lake")
                    .build()
                    .map_err(|e| Self::error("CreateDatabase", db.clone(), e))?;
                let created = self
                    .client
                    .create_database()
                    .database_input(input)
                    .send()
                    .await;
                Self::created_or_exists(
                    created,
                    CreateDatabaseError::is_already_exists_exception,
                    "CreateDatabase",
                    db.clone(),
                )?;
            }
            Err(e) => {
                return Err(Self::error(
                    "GetDatabase",
                    db.clone(),
                    DisplayErrorContext(e),
                ));
            }
        }
        let target = self.name();
        let input = TableInput::builder()
            .name(&self.table)
            .description(&self.description)
            .table_type("EXTERNAL_TABLE")
            .set_parameters(Some(self.table_parameters()))
            .storage_descriptor(self.storage(location.to_owned()))
            .partition_keys(
                Column::builder()
                    .name(&self.partition_key)
                    .r#type("string")
                    .set_comment(self.partition_key_comment.clone())
                    .build()
                    .map_err(|e| Self::error("CreateTable", target.clone(), e))?,
            )
            .build()
            .map_err(|e| Self::error("CreateTable", target.clone(), e))?;
        let exists = match self
            .client
            .get_table()
            .database_name(db)
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
            Err(e) => return Err(Self::error("GetTable", target, DisplayErrorContext(e))),
        };
        if exists {
            self.client
                .update_table()
                .database_name(db)
                .table_input(input)
                .send()
                .await
                .map_err(|e| Self::error("UpdateTable", target, DisplayErrorContext(e)))?;
        } else {
            let created = self
                .client
                .create_table()
                .database_name(db)
                .table_input(input)
                .send()
                .await;
            Self::created_or_exists(
                created,
                CreateTableError::is_already_exists_exception,
                "CreateTable",
                target,
            )?;
        }
        Ok(())
    }

    /// Points the partition `<key>=<value>` at `location`, creating it if missing.
    pub async fn register_partition(
        &self,
        value: &str,
        location: &str,
    ) -> Result<(), CatalogError> {
        let target = format!("{} {}={value}", self.name(), self.partition_key);
        let input = PartitionInput::builder()
            .values(value)
            .storage_descriptor(self.storage(location.to_owned()))
            .set_parameters(
                (!self.parameters.is_empty()).then(|| self.parameters.iter().cloned().collect()),
            )
            .build();
        if self.partition_location(value).await?.is_some() {
            self.client
                .update_partition()
                .database_name(&self.database)
                .table_name(&self.table)
                .partition_value_list(value)
                .partition_input(input)
                .send()
                .await
                .map_err(|e| Self::error("UpdatePartition", target, DisplayErrorContext(e)))?;
        } else {
            let created = self
                .client
                .create_partition()
                .database_name(&self.database)
                .table_name(&self.table)
                .partition_input(input)
                .send()
                .await;
            Self::created_or_exists(
                created,
                CreatePartitionError::is_already_exists_exception,
                "CreatePartition",
                target,
            )?;
        }
        Ok(())
    }

    /// The location the partition `<key>=<value>` points at, if it is registered.
    pub async fn partition_location(&self, value: &str) -> Result<Option<String>, CatalogError> {
        match self
            .client
            .get_partition()
            .database_name(&self.database)
            .table_name(&self.table)
            .partition_values(value)
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
            Err(e) => Err(Self::error(
                "GetPartition",
                format!("{} {}={value}", self.name(), self.partition_key),
                DisplayErrorContext(e),
            )),
        }
    }
}
