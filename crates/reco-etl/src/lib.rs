//! reco's batch ETL (MySQL to Parquet on S3 + Glue Data Catalog): not built yet.
