# Read by scripts/deploy.sh into .local/outputs-<ENV>.env for the reco CLI.

output "data_lake_bucket" {
  description = "Data lake bucket (training Parquet)."
  value       = module.etl.data_lake_bucket
}

output "artifacts_bucket" {
  description = "Model artifacts bucket (models, embeddings CSVs)."
  value       = module.etl.artifacts_bucket
}

output "recommendations_bucket" {
  description = "Bucket where Firehose delivers recommendations."
  value       = module.streaming_inference.recommendations_bucket
}

output "recommendations_prefix" {
  description = "Key prefix template of delivered recommendations."
  value       = module.streaming_inference.recommendations_prefix
}

output "glue_database" {
  description = "Glue Data Catalog database."
  value       = module.etl.glue_database
}

output "glue_table" {
  description = "Glue table of the training rows."
  value       = module.etl.glue_table
}

output "delivered_log_table" {
  description = "Glue table of the delivered recommendations (partition projection on dt, hour)."
  value       = module.streaming_inference.delivered_log_table
}

output "click_stream_name" {
  description = "Kinesis stream for click events."
  value       = module.streaming_inference.click_stream_name
}

output "delivery_stream_name" {
  description = "Firehose delivery stream."
  value       = module.streaming_inference.delivery_stream_name
}

output "transform_function_name" {
  description = "Transform Lambda."
  value       = module.streaming_inference.transform_function_name
}

output "publisher_function_name" {
  description = "Publisher Lambda (delivered objects -> latest documents)."
  value       = module.streaming_inference.publisher_function_name
}

output "latest_prefix" {
  description = "Key prefix of the latest documents in the recommendations bucket."
  value       = module.streaming_inference.latest_prefix
}

output "storefront_url" {
  description = "URL of the storefront page (CloudFront)."
  value       = module.storefront.storefront_url
}

output "site_bucket" {
  description = "Bucket of the storefront page files."
  value       = module.storefront.site_bucket
}

output "distribution_id" {
  description = "CloudFront distribution of the storefront (for invalidations)."
  value       = module.storefront.distribution_id
}

output "etl_function_name" {
  description = "ETL step of the daily loop."
  value       = module.etl.etl_function_name
}

output "train_function_name" {
  description = "Training step of the daily loop."
  value       = module.etl.train_function_name
}

output "pg_endpoint" {
  description = "Host of the PostgreSQL vector database (private)."
  value       = module.vector_db.endpoint
}

output "pg_port" {
  description = "Port of the PostgreSQL vector database."
  value       = module.vector_db.port
}

output "pg_database" {
  description = "Database holding the embeddings."
  value       = module.vector_db.database_name
}

output "pg_secret_arn" {
  description = "RDS-managed secret with the database master username and password (operators and the migration only)."
  value       = module.vector_db.master_secret_arn
}

output "pg_reader_secret_arn" {
  description = "Secret of the role reco_reader (the transform Lambda's credentials), written by the migration."
  value       = module.vector_db.reader_secret_arn
}

output "pg_loader_secret_arn" {
  description = "Secret of the role reco_loader (load-embeddings' credentials), written by the migration."
  value       = module.vector_db.loader_secret_arn
}

output "mysql_etl_secret_arn" {
  description = "Secret of the created source database's user reco_etl (the ETL's credentials), or null when the source database is the operator's."
  value       = try(module.source_db[0].etl_secret_arn, null)
}

output "db_migrate_function_name" {
  description = "Function that runs the database roles' migration ({\"step\":\"migrate\"}; add \"rotate\":true to rotate every role's password)."
  value       = module.db_roles.function_name
}

output "pg_s3_import_role_arn" {
  description = "Role used by aws_s3.table_import_from_s3 (sql/embeddings.sql)."
  value       = module.vector_db.s3_import_role_arn
}

output "mysql_secret_arn" {
  description = "Secret the ETL reads: the created database's reco_etl user, or the operator's source MySQL connection JSON (fill it when this stack created it empty)."
  value       = module.etl.mysql_secret_arn
}

output "source_db_endpoint" {
  description = "Host of the created source MySQL (private), or null when an existing one is used."
  value       = try(module.source_db[0].endpoint, null)
}

output "source_db_secret_arn" {
  description = "Connection secret of the created source MySQL, or null when an existing one is used."
  value       = try(module.source_db[0].connection_secret_arn, null)
}

output "kms_key_arn" {
  description = "Customer managed key of the stack."
  value       = module.kms.key_arn
}

output "vpc_id" {
  description = "VPC of the stack."
  value       = module.network.vpc_id
}

output "state_machine_arn" {
  description = "State machine of the daily loop (start an execution to run it now)."
  value       = module.pipeline.state_machine_arn
}

output "load_embeddings_function_name" {
  description = "Embeddings loader of the daily loop (steps load and publish)."
  value       = module.pipeline.load_embeddings_function_name
}

output "score_all_function_name" {
  description = "Batch scorer of the daily loop (steps plan and score)."
  value       = module.pipeline.score_all_function_name
}

output "notifications_topic_arn" {
  description = "SNS topic of every alarm and of the daily loop's messages."
  value       = module.notifications.topic_arn
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the stack's metrics."
  value       = module.pipeline.dashboard_name
}
