data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  recs_prefix = trimsuffix(var.recommendations_prefix, "/")
  # Per-customer prefixes (so `reco recs --customer N` lists one prefix), then time.
  s3_prefix        = "${local.recs_prefix}/customer=!{partitionKeyFromLambda:customer_number}/!{timestamp:yyyy/MM/dd/HH}/"
  error_prefix     = "${trimsuffix(var.error_prefix, "/")}/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/"
  error_prefix_key = split("/", var.error_prefix)[0]
  file_extension   = var.compression_format == "GZIP" ? ".ndjson.gz" : ".ndjson"
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
  lifecycle_rules = [
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
  tags = var.tags
}
