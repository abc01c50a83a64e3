//! reco's batch ETL: MySQL (classicmodels + ratings) -> denormalized training rows ->
//! Parquet in the S3 data lake, registered in the Glue Data Catalog.
//!
//! - [`pipeline::run_etl`] is the job (`reco etl` and the `reco-etl-job` Lambda);
//! - [`classicmodels`] and [`generate`] seed a source database (`reco source ...`);
//! - I/O sits behind [`reco_aws::Bucket`] (the data lake: S3, or memory in tests) and
//!   [`catalog::TrainingCatalog`] (Glue); configuration comes in as plain values, the
//!   binaries (`reco`, `reco-etl-job`) build it from flags and environment.

pub mod catalog;
pub mod classicmodels;
pub mod encode;
pub mod events;
pub mod extract;
pub mod generate;
pub mod pipeline;
pub mod source_check;
pub mod source_db;
pub mod sql_script;

pub use pipeline::{EtlConfig, EtlError, EtlReport, run_etl};

#[cfg(test)]
#[path = "../tests/support/mod.rs"]
mod test_support;
