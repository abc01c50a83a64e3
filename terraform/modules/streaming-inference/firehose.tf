resource "aws_cloudwatch_log_group" "firehose" {
  name              = "/aws/kinesisfirehose/${var.name}-recommendations"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_cloudwatch_log_stream" "firehose_delivery" {
  name           = "DestinationDelivery"
  log_group_name = aws_cloudwatch_log_group.firehose.name
}

# Kinesis -> transform Lambda -> S3 under time partitions (dt=, hour=) of the arrival
# time. No dynamic partitioning (the prefix needs no partition key; off is Firehose's
# default, so there is no block): Firehose cannot switch it in place, so a stream
# created with it is replaced.
resource "aws_kinesis_firehose_delivery_stream" "this" {
  #checkov:skip=CKV_AWS_240:Firehose refuses server-side encryption on a Kinesis-sourced stream; records are encrypted by the stream (KMS) and in S3 (KMS).
  #checkov:skip=CKV_AWS_241:Same as CKV_AWS_240: encryption at rest is the source stream's and the bucket's, both with the customer managed key.
  name        = "${var.name}-recommendations"
  destination = "extended_s3"

  kinesis_source_configuration {
    kinesis_stream_arn = aws_kinesis_stream.clicks.arn
    role_arn           = aws_iam_role.firehose.arn
  }

  extended_s3_configuration {
    role_arn    = aws_iam_role.firehose.arn
    bucket_arn  = module.recommendations.arn
    kms_key_arn = var.kms_key_arn

    prefix              = local.s3_prefix
    error_output_prefix = local.error_prefix
    file_extension      = local.file_extension
    # Always UNCOMPRESSED: with compression_format = GZIP the transform already gzips each
    # record (RECO_RECORD_GZIP), so the objects, concatenations of gzip members, are
    # .ndjson.gz files; Firehose compressing them again would make them gzip of gzip.
    compression_format = "UNCOMPRESSED"
    buffering_size     = var.buffering_size_mb
    buffering_interval = var.buffering_interval_seconds

    processing_configuration {
      enabled = true

      processors {
        type = "Lambda"

        parameters {
          parameter_name  = "LambdaArn"
          parameter_value = "${module.transform.function_arn}:$LATEST"
        }
        # Up to 3 MB per invocation (Firehose's maximum): compact, per-record gzipped records
        # keep a full batch's response under Lambda's 6 MB payload limit (reco-transform-lambda
        # test response_fits: ~5.2 MB for 3 MiB of events, every record Ok).
        parameters {
          parameter_name  = "BufferSizeInMBs"
          parameter_value = tostring(var.processor_buffer_size_mb)
        }
        parameters {
          parameter_name  = "BufferIntervalInSeconds"
          parameter_value = tostring(var.processor_buffer_interval_seconds)
        }
        parameters {
          parameter_name  = "NumberOfRetries"
          parameter_value = tostring(var.processor_retries)
        }
      }
    }

    cloudwatch_logging_options {
      enabled         = true
      log_group_name  = aws_cloudwatch_log_group.firehose.name
      log_stream_name = aws_cloudwatch_log_stream.firehose_delivery.name
    }
  }

  tags = var.tags

  # The role must carry its policy before Firehose validates the Kinesis source.
  depends_on = [aws_iam_role_policy.firehose]
}
