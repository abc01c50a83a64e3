# The two steps of the daily loop that live here (ETL and training are in modules/etl).
# All four deploy the one pipeline binary; the payload's `step` selects the work, and
# the state machine invokes them synchronously (it retries and reports failures, so
# no dead-letter queue).

locals {
  load_embeddings_environment = {
    RECO_PG_SECRET_ARN    = var.pg_secret_arn
    RECO_PG_HOST          = var.pg_host
    RECO_PG_PORT          = tostring(var.pg_port)
    RECO_PG_DATABASE      = var.pg_database
    RECO_ARTIFACTS_BUCKET = var.artifacts_bucket_name
    RECO_MODEL_PREFIX     = "${local.model_prefix}/"
  }
  score_all_environment = {
    RECO_ARTIFACTS_BUCKET = var.artifacts_bucket_name
    RECO_MODEL_PREFIX     = "${local.model_prefix}/"
    RECO_DATA_LAKE_BUCKET = var.data_lake_bucket_name
    RECO_RECS_BUCKET      = var.recommendations_bucket_name
  }
}

# {"step":"load"}: COPY of a version's embeddings into pgvector and atomic swap;
# {"step":"publish"}: <model prefix>LATEST = the version.
module "load_embeddings" {
  source = "../lambda-function"

  function_name                  = "${var.name}-load-embeddings"
  description                    = "reco pipeline steps load and publish: embeddings into pgvector (COPY + swap), then LATEST"
  zip_path                       = var.pipeline_zip_path
  memory_size                    = var.load_memory_size
  timeout                        = var.load_timeout
  reserved_concurrent_executions = 1 # one load (swap) at a time
  subnet_ids                     = var.subnet_ids
  security_group_ids             = var.loader_security_group_ids
  kms_key_arn                    = var.kms_key_arn
  log_retention_days             = var.log_retention_days
  alarm_actions                  = var.alarm_actions
  policy_json                    = data.aws_iam_policy_document.load_embeddings.json
  tags                           = var.tags

  environment = local.load_embeddings_environment
}

# {"step":"plan"}: the shards of every customer; {"step":"score"}: one shard's latest
# documents (newest wins, conditional puts), one function instance per shard.
module "score_all" {
  source = "../lambda-function"

  function_name                  = "${var.name}-score-all"
  description                    = "reco pipeline steps plan and score: every customer's latest document, one shard per invocation"
  zip_path                       = var.pipeline_zip_path
  memory_size                    = var.score_memory_size
  timeout                        = var.score_timeout
  reserved_concurrent_executions = var.score_max_concurrency # the Distributed Map's concurrency
  subnet_ids                     = var.subnet_ids
  security_group_ids             = var.scoring_security_group_ids
  kms_key_arn                    = var.kms_key_arn
  log_retention_days             = var.log_retention_days
  alarm_actions                  = var.alarm_actions
  policy_json                    = data.aws_iam_policy_document.score_all.json
  tags                           = var.tags

  environment = local.score_all_environment
}

# Both functions read model versions (files and listing); each policy adds its own rights.
data "aws_iam_policy_document" "read_model_versions" {
  statement {
    sid       = "ListModelVersions"
    actions   = ["s3:ListBucket"]
    resources = [var.artifacts_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.model_prefix}/*"]
    }
  }

  statement {
    sid       = "ReadModelVersions"
    actions   = ["s3:GetObject"]
    resources = ["${var.artifacts_bucket_arn}/${local.model_prefix}/*"]
  }
}

data "aws_iam_policy_document" "load_embeddings" {
  source_policy_documents = [data.aws_iam_policy_document.read_model_versions.json]

  statement {
    sid       = "ReadDatabaseCredentials"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.pg_secret_arn]
  }

  # The publish step: the object that says which version is live, and the copy of its
  # model.bin next to it (written just before it; the transform's cold start reads it).
  statement {
    sid     = "MoveLatest"
    actions = ["s3:PutObject"]
    resources = [
      "${var.artifacts_bucket_arn}/${local.model_prefix}/LATEST",
      "${var.artifacts_bucket_arn}/${local.model_prefix}/LATEST.model.bin",
    ]
  }
}

data "aws_iam_policy_document" "score_all" {
  source_policy_documents = [data.aws_iam_policy_document.read_model_versions.json]

  statement {
    sid       = "ListTrainingSnapshots"
    actions   = ["s3:ListBucket"]
    resources = [var.data_lake_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.training_prefix}/*"]
    }
  }

  statement {
    sid       = "ReadTrainingSnapshots"
    actions   = ["s3:GetObject"]
    resources = ["${var.data_lake_bucket_arn}/${local.training_prefix}/*"]
  }

  statement {
    sid       = "ReadProductCatalogue"
    actions   = ["s3:GetObject"]
    resources = ["${var.data_lake_bucket_arn}/catalogue/products.json"] # reco_domain::serving::CATALOGUE_KEY
  }

  statement {
    sid       = "ReadAndWriteLatestDocuments"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${var.recommendations_bucket_arn}/${local.latest_prefix}/*"]
  }

  # Without it S3 answers 403 instead of 404 for a customer's first document, and the
  # compare-and-set write reads before it creates (as the publisher's).
  statement {
    sid       = "TellMissingDocumentsFromDenied"
    actions   = ["s3:ListBucket"]
    resources = [var.recommendations_bucket_arn]
  }
}
