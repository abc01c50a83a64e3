# reco-etl: source MySQL -> training Parquet on the data lake + Glue partitions.
module "etl_job" {
  source = "../lambda-function"

  function_name                  = "${var.name}-etl"
  description                    = "reco-etl: extracts the source database into training Parquet and registers it in Glue"
  zip_path                       = var.etl_zip_path
  memory_size                    = var.etl_memory_size
  timeout                        = var.etl_timeout
  reserved_concurrent_executions = 1 # one snapshot at a time: a second run would race the first
  subnet_ids                     = var.subnet_ids
  security_group_ids             = var.security_group_ids
  kms_key_arn                    = var.kms_key_arn
  log_retention_days             = var.log_retention_days
  enable_dead_letter_queue       = true
  alarm_actions                  = var.alarm_actions
  policy_json                    = data.aws_iam_policy_document.etl.json
  tags                           = var.tags

  environment = {
    RECO_MYSQL_SECRET_ARN = local.mysql_secret_arn
    RECO_DATA_LAKE_BUCKET = module.data_lake.bucket
    RECO_GLUE_DATABASE    = aws_glue_catalog_database.this.name
    RECO_GLUE_TABLE       = aws_glue_catalog_table.training.name
    RECO_ARTIFACTS_BUCKET = module.artifacts.bucket
    RECO_MODEL_PREFIX     = "${local.model_prefix}/"
  }
}

# reco-train: training Parquet -> model artifact + embeddings CSV.
module "train_job" {
  source = "../lambda-function"

  function_name                  = "${var.name}-train"
  description                    = "reco-train: trains the two-tower model and writes the model artifact and embeddings"
  zip_path                       = var.train_zip_path
  memory_size                    = var.train_memory_size
  timeout                        = var.train_timeout
  reserved_concurrent_executions = 1 # one training run at a time: versions are written in order
  subnet_ids                     = var.subnet_ids
  security_group_ids             = var.security_group_ids
  kms_key_arn                    = var.kms_key_arn
  log_retention_days             = var.log_retention_days
  enable_dead_letter_queue       = true
  alarm_actions                  = var.alarm_actions
  policy_json                    = data.aws_iam_policy_document.train.json
  tags                           = var.tags

  environment = {
    RECO_DATA_LAKE_BUCKET = module.data_lake.bucket
    RECO_ARTIFACTS_BUCKET = module.artifacts.bucket
    RECO_MODEL_PREFIX     = "${local.model_prefix}/"
    RECO_GLUE_DATABASE    = aws_glue_catalog_database.this.name
    RECO_GLUE_TABLE       = aws_glue_catalog_table.training.name
  }
}
