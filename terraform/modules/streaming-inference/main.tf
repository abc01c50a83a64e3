data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  recs_prefix = trimsuffix(var.recommendations_prefix, "/")
  # Time partitions only (Hive-style, read by the Glue table's partition projection): the
  # number of prefixes Firehose writes at once stays bounded, whatever the number of
  # customers (a per-customer partition breaks past Firehose's 500 active partitions).
  s3_prefix        = "${local.recs_prefix}/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/"
  error_prefix     = "${trimsuffix(var.error_prefix, "/")}/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/"
  error_prefix_key = split("/", var.error_prefix)[0]
  file_extension   = var.compression_format == "GZIP" ? ".ndjson.gz" : ".ndjson"
  # Where the publisher writes each customer's latest document
  # (reco_domain::serving::LATEST_PREFIX); no lifecycle rule may expire it.
  latest_prefix = "latest/"
  # Namespace of the Embedded Metric Format metrics the Lambda binaries emit.
  metrics_namespace = "reco"

  # Delivered objects and failed records expire; latest documents never do (only their
  # replaced versions, by the bucket module's rule for noncurrent versions).
  recommendations_lifecycle_rules = [
    {
      id              = "recommendations"
      prefix          = "${local.recs_prefix}/"
      expiration_days = var.recommendations_retention_days
    },
    {
      id              = "failed-records"
      prefix          = "${local.error_prefix_key}/"
      expiration_days = var.error_retention_days
    },
  ]
}

# Click events from the front end.
resource "aws_kinesis_stream" "clicks" {
  name             = "${var.name}-clicks"
  shard_count      = var.stream_mode == "PROVISIONED" ? var.shard_count : null
  retention_period = var.stream_retention_hours
  encryption_type  = "KMS"
  kms_key_id       = var.kms_key_arn

  stream_mode_details {
    stream_mode = var.stream_mode
  }

  tags = var.tags
}

module "recommendations" {
  source = "../s3-bucket"

  bucket_name   = var.recommendations_bucket_name
  kms_key_arn   = var.kms_key_arn
  force_destroy = var.force_destroy

  deny_insecure_transport = var.deny_insecure_transport
  policy_statements       = var.recommendations_bucket_policy_statements
  lifecycle_rules         = local.recommendations_lifecycle_rules
  tags                    = var.tags
}
