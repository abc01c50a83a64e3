# The daily loop's first two steps (modules/pipeline runs them in order). Both are the
# one pipeline binary; the state machine's payload ({"step":"etl"}, {"step":"train"})
# selects the work. Invoked synchronously by Step Functions, which retries and reports
# failures, so there is no dead-letter queue.

# ETL: source MySQL -> training Parquet on the data lake + Glue partitions.
module "etl_job" {
  source = "../lambda-function"

  function_name                  = "${var.name}-etl"
  description                    = "reco pipeline step etl: extracts the source database into training Parquet and registers it in Glue"
  zip_path                       = var.pipeline_zip_path
  memory_size                    = var.etl_memory_size
  timeout                        = var.etl_timeout
  reserved_concurrent_executions = 1 # one snapshot at a time: a second run would race the first
  subnet_ids                     = var.subnet_ids
  security_group_ids             = var.security_group_ids
  kms_key_arn                    = var.kms_key_arn
  log_retention_days             = var.log_retention_days
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
    # Raw click events (events/dt=...) turned into `events` training rows.
    RECO_EVENTS_LOOKBACK_DAYS        = tostring(var.events_lookback_days)
    RECO_EVENTS_HALF_LIFE_DAYS       = tostring(var.events_half_life_days)
    RECO_EVENTS_MAX_PAIR_WEIGHT      = tostring(var.events_max_pair_weight)
    RECO_EVENT_WEIGHT_VIEW           = tostring(var.event_weights.view)
    RECO_EVENT_WEIGHT_ADD_TO_CART    = tostring(var.event_weights.add_to_cart)
    RECO_EVENT_WEIGHT_PURCHASE       = tostring(var.event_weights.purchase)
    RECO_EVENT_WEIGHT_REC_CLICK      = tostring(var.event_weights.rec_click)
    RECO_EVENT_WEIGHT_REC_IMPRESSION = tostring(var.event_weights.rec_impression)
  }
}

# Training: training Parquet -> model version (artifact + embeddings), behind the
# quality gate; it never moves LATEST (the loop's publish step does).
module "train_job" {
  source = "../lambda-function"

  function_name                  = "${var.name}-train"
  description                    = "reco pipeline step train: trains the two-tower model and writes a model version (artifact, embeddings)"
  zip_path                       = var.pipeline_zip_path
  memory_size                    = var.train_memory_size
  timeout                        = var.train_timeout
  reserved_concurrent_executions = 1 # one training run at a time: versions are written in order
  subnet_ids                     = var.subnet_ids
  security_group_ids             = var.security_group_ids
  kms_key_arn                    = var.kms_key_arn
  log_retention_days             = var.log_retention_days
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
