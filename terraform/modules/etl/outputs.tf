output "data_lake_bucket" {
  description = "Name of the data lake bucket."
  value       = module.data_lake.bucket
}

output "data_lake_bucket_arn" {
  description = "ARN of the data lake bucket."
  value       = module.data_lake.arn
}

output "artifacts_bucket" {
  description = "Name of the model artifacts bucket."
  value       = module.artifacts.bucket
}

output "artifacts_bucket_arn" {
  description = "ARN of the model artifacts bucket."
  value       = module.artifacts.arn
}

output "glue_database" {
  description = "Glue Data Catalog database."
  value       = aws_glue_catalog_database.this.name
}

output "glue_table" {
  description = "Glue table of the training rows."
  value       = aws_glue_catalog_table.training.name
}

output "training_location" {
  description = "S3 location of the training rows table."
  value       = "s3://${module.data_lake.bucket}/${local.training_prefix}/"
}

output "model_prefix" {
  description = "Key prefix of model versions in the artifacts bucket."
  value       = "${local.model_prefix}/"
}

output "mysql_secret_arn" {
  description = "Secret with the source MySQL connection JSON (fill it if this module created it)."
  value       = local.mysql_secret_arn
}

output "etl_function_name" {
  description = "Name of the ETL job's function."
  value       = module.etl_job.function_name
}

output "train_function_name" {
  description = "Name of the training job's function."
  value       = module.train_job.function_name
}

output "etl_function_arn" {
  description = "ARN of the ETL job's function (the state machine's Etl task)."
  value       = module.etl_job.function_arn
}

output "train_function_arn" {
  description = "ARN of the training job's function (the state machine's Train task)."
  value       = module.train_job.function_arn
}

output "training_prefix" {
  description = "Key prefix of the training Parquet in the data lake bucket."
  value       = "${local.training_prefix}/"
}
