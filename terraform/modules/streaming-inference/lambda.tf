# The Firehose transformation: embeds each click event and answers with k-NN
# recommendations from the vector database.
module "transform" {
  source = "../lambda-function"

  function_name                  = "${var.name}-transform"
  description                    = "reco transform: Firehose records -> recommendations (embed, batched k-NN)"
  zip_path                       = var.transform_zip_path
  memory_size                    = var.transform_memory_size
  timeout                        = var.transform_timeout
  reserved_concurrent_executions = var.transform_reserved_concurrency
  subnet_ids                     = var.subnet_ids
  security_group_ids             = var.security_group_ids
  kms_key_arn                    = var.kms_key_arn
  log_retention_days             = var.log_retention_days
  alarm_actions                  = var.alarm_actions
  policy_json                    = data.aws_iam_policy_document.transform.json
  tags                           = var.tags

  environment = local.transform_environment
}

locals {
  transform_environment = {
    RECO_PG_SECRET_ARN         = var.pg_secret_arn
    RECO_PG_HOST               = var.pg_host
    RECO_PG_PORT               = tostring(var.pg_port)
    RECO_PG_DATABASE           = var.pg_database
    RECO_KNN_K                 = tostring(var.knn_k)
    RECO_EF_SEARCH             = tostring(var.ef_search)
    RECO_EXACT_KNN_MAX_ITEMS   = tostring(var.exact_knn_max_items)
    RECO_KNN_CACHE_ITEMS       = tostring(var.knn_cache_items)
    RECO_CUSTOMER_VECTOR_CACHE = tostring(var.customer_vector_cache)
    RECO_MEMORY_INDEX_MAX_MB   = tostring(var.memory_index_max_mb)
    RECO_KNN_RECALL_TARGET     = tostring(var.knn_recall_target)
    RECO_ARTIFACTS_BUCKET      = var.artifacts_bucket_name
    RECO_MODEL_PREFIX          = "${trimsuffix(var.model_prefix, "/")}/"
    # The transform gzips each record (one gzip member per record) and the delivery stream
    # stores them UNCOMPRESSED: compressed records keep a full 3 MB processor batch inside
    # Lambda's 6 MB response, and the objects are still valid .ndjson.gz files.
    RECO_RECORD_GZIP = var.compression_format == "GZIP" ? "true" : "false"
    # No dynamic partitioning (time partitions only): no partition keys in the response.
    RECO_PARTITION_KEYS = "false"
  }
}

data "aws_iam_policy_document" "transform" {
  statement {
    sid       = "ReadDatabaseCredentials"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.pg_secret_arn]
  }

  statement {
    sid       = "ListModelVersions"
    actions   = ["s3:ListBucket"]
    resources = [var.artifacts_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${trimsuffix(var.model_prefix, "/")}/*"]
    }
  }

  statement {
    sid       = "ReadModel"
    actions   = ["s3:GetObject"]
    resources = ["${var.artifacts_bucket_arn}/${trimsuffix(var.model_prefix, "/")}/*"]
  }
}
