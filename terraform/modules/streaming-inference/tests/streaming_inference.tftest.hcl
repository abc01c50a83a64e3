mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_region" {
    defaults = { name = "us-east-1" }
  }
  mock_data "aws_availability_zones" {
    defaults = { names = ["us-east-1a", "us-east-1b", "us-east-1c"] }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/mock" }
  }
  mock_resource "aws_sqs_queue" {
    defaults = { arn = "arn:aws:sqs:us-east-1:123456789012:mock" }
  }
  mock_resource "aws_lambda_function" {
    defaults = { arn = "arn:aws:lambda:us-east-1:123456789012:function:mock" }
  }
  mock_resource "aws_kinesis_stream" {
    defaults = { arn = "arn:aws:kinesis:us-east-1:123456789012:stream/mock" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:mock" }
  }
  mock_resource "aws_cloudwatch_event_rule" {
    defaults = { arn = "arn:aws:events:us-east-1:123456789012:rule/mock" }
  }
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::mock" }
  }
  mock_resource "aws_secretsmanager_secret" {
    defaults = { arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:mock" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:us-east-1:123456789012:key/mock" }
  }
}

variables {
  name                        = "reco"
  kms_key_arn                 = "arn:aws:kms:us-east-1:123456789012:key/test"
  transform_zip_path          = "../../tests/fixtures/bootstrap.zip"
  subnet_ids                  = ["subnet-a", "subnet-b"]
  security_group_ids          = ["sg-transform"]
  pg_host                     = "reco-vector-db.example.internal"
  pg_database                 = "reco"
  pg_secret_arn               = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1"
  artifacts_bucket_name       = "reco-123456789012-us-east-1-artifacts"
  artifacts_bucket_arn        = "arn:aws:s3:::reco-123456789012-us-east-1-artifacts"
  recommendations_bucket_name = "reco-123456789012-us-east-1-recommendations"
}

run "kinesis_to_transform_to_per_customer_prefixes" {
  command = apply

  assert {
    condition     = aws_kinesis_stream.clicks.stream_mode_details[0].stream_mode == "ON_DEMAND" && aws_kinesis_stream.clicks.shard_count == null
    error_message = "On-demand streams take no shard count."
  }

  assert {
    condition     = aws_kinesis_stream.clicks.encryption_type == "KMS"
    error_message = "The click stream must be encrypted."
  }

  assert {
    condition     = aws_kinesis_firehose_delivery_stream.this.kinesis_source_configuration[0].kinesis_stream_arn == aws_kinesis_stream.clicks.arn
    error_message = "Firehose must read the click stream."
  }

  assert {
    condition = one([
      for p in aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration[0].processing_configuration[0].processors[0].parameters :
      p.parameter_value if p.parameter_name == "LambdaArn"
    ]) == "${module.transform.function_arn}:$LATEST"
    error_message = "Firehose's processor must be the transform Lambda."
  }

  assert {
    condition     = aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration[0].prefix == "recommendations/customer=!{partitionKeyFromLambda:customer_number}/!{timestamp:yyyy/MM/dd/HH}/"
    error_message = "Recommendations must be partitioned by customer, then time."
  }

  assert {
    condition     = aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration[0].error_output_prefix == "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/"
    error_message = "Failed records must go to the error prefix by error type."
  }

  assert {
    condition     = aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration[0].dynamic_partitioning_configuration[0].enabled
    error_message = "Dynamic partitioning must be on."
  }

  assert {
    condition     = aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration[0].cloudwatch_logging_options[0].log_group_name == aws_cloudwatch_log_group.firehose.name
    error_message = "Firehose must log to its own log group."
  }

  assert {
    condition     = aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration[0].file_extension == ".ndjson.gz"
    error_message = "GZIP objects must end in .ndjson.gz."
  }

  assert {
    condition     = module.transform.function_name == "reco-transform" && output.transform_function_name == "reco-transform"
    error_message = "The transform Lambda must be named <name>-transform."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.iterator_age.metric_name == "GetRecords.IteratorAgeMilliseconds" && aws_cloudwatch_metric_alarm.processing_failures.metric_name == "ExecuteProcessing.Success"
    error_message = "Iterator-age and processing-failure alarms expected."
  }
}

run "provisioned_uncompressed" {
  command = plan

  variables {
    stream_mode        = "PROVISIONED"
    shard_count        = 4
    compression_format = "UNCOMPRESSED"
  }

  assert {
    condition     = aws_kinesis_stream.clicks.shard_count == 4
    error_message = "Provisioned streams take shard_count."
  }

  assert {
    condition     = aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration[0].file_extension == ".ndjson"
    error_message = "Uncompressed objects must end in .ndjson."
  }
}

run "rejects_buffer_below_dynamic_partitioning_minimum" {
  command = plan

  variables {
    buffering_size_mb = 5
  }

  expect_failures = [var.buffering_size_mb]
}

run "rejects_short_buffer_interval" {
  command = plan

  variables {
    buffering_interval_seconds = 30
  }

  expect_failures = [var.buffering_interval_seconds]
}

run "rejects_processor_batches_over_lambda_payload" {
  command = plan

  variables {
    processor_buffer_size_mb = 6
  }

  expect_failures = [var.processor_buffer_size_mb]
}

run "rejects_zero_shards" {
  command = plan

  variables {
    stream_mode = "PROVISIONED"
    shard_count = 0
  }

  expect_failures = [var.shard_count]
}

run "rejects_short_retention" {
  command = plan

  variables {
    stream_retention_hours = 12
  }

  expect_failures = [var.stream_retention_hours]
}

run "rejects_transform_timeout_beyond_firehose_limit" {
  command = plan

  variables {
    transform_timeout = 600
  }

  expect_failures = [var.transform_timeout]
}

run "rejects_bad_compression" {
  command = plan

  variables {
    compression_format = "ZIP"
  }

  expect_failures = [var.compression_format]
}
