# Shared AWS mock data: terraform/tests/mocks/aws.
mock_provider "aws" {
  source = "../../tests/mocks/aws"
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
  glue_database_name          = "reco_lake"
  publisher_zip_path          = "../../tests/fixtures/bootstrap.zip"
  data_lake_bucket_name       = "reco-123456789012-us-east-1-data-lake"
  data_lake_bucket_arn        = "arn:aws:s3:::reco-123456789012-us-east-1-data-lake"
}

run "kinesis_to_transform_to_time_partitions" {
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
    condition     = aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration[0].prefix == "recommendations/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/"
    error_message = "Recommendations must be partitioned by delivery date and hour only."
  }

  assert {
    condition     = !strcontains(aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration[0].prefix, "partitionKeyFrom")
    error_message = "No partition key may come from the records: the number of active partitions must stay bounded."
  }

  assert {
    condition     = aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration[0].error_output_prefix == "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/"
    error_message = "Failed records must go to the error prefix by error type."
  }

  assert {
    condition     = alltrue([for c in aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration[0].dynamic_partitioning_configuration : !c.enabled])
    error_message = "Dynamic partitioning must be off."
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
    condition     = aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration[0].compression_format == "UNCOMPRESSED" && local.transform_environment["RECO_RECORD_GZIP"] == "true"
    error_message = "With GZIP the transform gzips each record and Firehose stores them UNCOMPRESSED (never compressed twice)."
  }

  assert {
    condition     = local.transform_environment["RECO_PARTITION_KEYS"] == "false"
    error_message = "Without dynamic partitioning the transform sends no partition keys."
  }

  assert {
    condition = one([
      for p in aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration[0].processing_configuration[0].processors[0].parameters :
      p.parameter_value if p.parameter_name == "BufferSizeInMBs"
    ]) == "3"
    error_message = "The processor buffer defaults to Firehose's maximum, 3 MB (a full batch fits the response)."
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

run "delivered_log_table_with_partition_projection" {
  command = apply

  assert {
    condition     = aws_glue_catalog_table.delivered_log.database_name == "reco_lake" && output.delivered_log_table == "delivered_recommendations"
    error_message = "The delivered log's table must live in the given Glue database."
  }

  assert {
    condition     = aws_glue_catalog_table.delivered_log.storage_descriptor[0].location == "s3://${module.recommendations.bucket}/recommendations/"
    error_message = "The table must point at the delivered prefix."
  }

  assert {
    condition     = [for k in aws_glue_catalog_table.delivered_log.partition_keys : "${k.name}:${k.type}"] == ["dt:string", "hour:string"]
    error_message = "The table must be partitioned by dt and hour, the prefix's partitions."
  }

  assert {
    condition = alltrue([
      aws_glue_catalog_table.delivered_log.parameters["projection.enabled"] == "true",
      aws_glue_catalog_table.delivered_log.parameters["projection.dt.type"] == "date",
      aws_glue_catalog_table.delivered_log.parameters["projection.dt.format"] == "yyyy-MM-dd",
      aws_glue_catalog_table.delivered_log.parameters["projection.dt.range"] == "2024-01-01,NOW",
      aws_glue_catalog_table.delivered_log.parameters["projection.hour.type"] == "integer",
      aws_glue_catalog_table.delivered_log.parameters["projection.hour.range"] == "0,23",
      aws_glue_catalog_table.delivered_log.parameters["projection.hour.digits"] == "2",
      aws_glue_catalog_table.delivered_log.parameters["storage.location.template"] == "s3://${module.recommendations.bucket}/recommendations/dt=$${dt}/hour=$${hour}/",
    ])
    error_message = "Partition projection must derive dt and hour from the prefix template, so no partition is ever registered."
  }

  assert {
    condition     = aws_glue_catalog_table.delivered_log.storage_descriptor[0].ser_de_info[0].serialization_library == "org.openx.data.jsonserde.JsonSerDe" && aws_glue_catalog_table.delivered_log.storage_descriptor[0].input_format == "org.apache.hadoop.mapred.TextInputFormat"
    error_message = "The delivered log is NDJSON (GZIP or not), read with the OpenX JSON SerDe."
  }

  assert {
    condition = {
      for c in aws_glue_catalog_table.delivered_log.storage_descriptor[0].columns : c.name => c.type
      } == {
      session_id        = "string"
      customer_number   = "bigint"
      browsed_items     = "array<string>"
      event_id          = "string"
      event_time        = "string"
      recommended_items = "array<struct<id:string,score:float>>"
      similar_items     = "array<struct<id:string,score:float>>"
      recommendation_id = "string"
      model_version     = "string"
      embedding_version = "string"
      generated_at      = "string"
      experiment        = "string"
      variant           = "string"
    }
    error_message = "The columns must be the recommendation record's fields."
  }
}

run "raw_events_to_the_lake_as_parquet" {
  command = apply

  assert {
    condition     = aws_glue_catalog_table.click_events.name == "click_events" && aws_glue_catalog_table.click_events.database_name == "reco_lake"
    error_message = "The raw events table must be click_events in the data lake's Glue database."
  }

  assert {
    condition = alltrue([
      aws_glue_catalog_table.click_events.storage_descriptor[0].location == "s3://reco-123456789012-us-east-1-data-lake/events/",
      [for k in aws_glue_catalog_table.click_events.partition_keys : "${k.name}:${k.type}"] == ["dt:string"],
      [for c in aws_glue_catalog_table.click_events.storage_descriptor[0].columns : c.name] == ["event_id", "event_type", "session_id", "customer_number", "event_time", "arrival_time", "item", "recommendation_id", "experiment", "variant", "browsed_items", "cart_items"],
      aws_glue_catalog_table.click_events.parameters["storage.location.template"] == "s3://reco-123456789012-us-east-1-data-lake/events/dt=$${dt}/",
    ])
    error_message = "click_events must hold reco_domain::lake_events' columns under events/, partitioned by dt (projection)."
  }

  assert {
    condition = alltrue([
      aws_kinesis_firehose_delivery_stream.events.kinesis_source_configuration[0].kinesis_stream_arn == aws_kinesis_stream.clicks.arn,
      aws_kinesis_firehose_delivery_stream.events.extended_s3_configuration[0].bucket_arn == "arn:aws:s3:::reco-123456789012-us-east-1-data-lake",
      aws_kinesis_firehose_delivery_stream.events.extended_s3_configuration[0].prefix == "events/dt=!{timestamp:yyyy-MM-dd}/",
      aws_kinesis_firehose_delivery_stream.events.extended_s3_configuration[0].compression_format == "UNCOMPRESSED",
      aws_kinesis_firehose_delivery_stream.events.extended_s3_configuration[0].kms_key_arn == "arn:aws:kms:us-east-1:123456789012:key/test",
      aws_kinesis_firehose_delivery_stream.events.extended_s3_configuration[0].data_format_conversion_configuration[0].schema_configuration[0].table_name == "click_events",
      length(aws_kinesis_firehose_delivery_stream.events.extended_s3_configuration[0].data_format_conversion_configuration[0].output_format_configuration[0].serializer[0].parquet_ser_de) == 1,
    ])
    error_message = "A second delivery stream must read the click stream and write Parquet (KMS) under events/dt=."
  }

  assert {
    condition     = module.events_rows.function_name == "reco-event-rows" && output.events_delivery_stream_name == "reco-events"
    error_message = "The row processor and the events delivery stream must be named after the deployment."
  }
}

run "publisher_fed_by_bucket_notifications_through_a_queue" {
  command = apply

  variables {
    alarm_actions = ["arn:aws:sns:us-east-1:123456789012:alerts"]
  }

  assert {
    condition     = one(aws_s3_bucket_notification.recommendations.queue).queue_arn == aws_sqs_queue.publisher.arn && one(aws_s3_bucket_notification.recommendations.queue).events == toset(["s3:ObjectCreated:*"])
    error_message = "Every object created in the bucket must notify the publisher's queue."
  }

  assert {
    condition     = one(aws_s3_bucket_notification.recommendations.queue).filter_prefix == "recommendations/"
    error_message = "Only delivered objects may notify (latest documents the publisher writes must not)."
  }

  assert {
    condition     = jsondecode(aws_sqs_queue.publisher.redrive_policy).maxReceiveCount == 5 && jsondecode(aws_sqs_queue.publisher.redrive_policy).deadLetterTargetArn == aws_sqs_queue.publisher_dead_letter.arn
    error_message = "Notifications failing five times must move to the dead-letter queue."
  }

  assert {
    condition     = aws_sqs_queue.publisher_dead_letter.message_retention_seconds == 1209600 && aws_sqs_queue.publisher.message_retention_seconds < aws_sqs_queue.publisher_dead_letter.message_retention_seconds
    error_message = "The dead-letter queue keeps messages 14 days, longer than the queue."
  }

  assert {
    condition     = aws_sqs_queue.publisher.visibility_timeout_seconds >= 6 * 60
    error_message = "The visibility timeout must be at least six times the publisher's timeout."
  }

  assert {
    condition     = aws_sqs_queue.publisher.kms_master_key_id == var.kms_key_arn && aws_sqs_queue.publisher_dead_letter.kms_master_key_id == var.kms_key_arn
    error_message = "Both queues must be encrypted with the stack's key."
  }

  assert {
    condition     = jsondecode(aws_sqs_queue_policy.publisher.policy).Statement[0].Principal == { Service = "s3.amazonaws.com" } && jsondecode(aws_sqs_queue_policy.publisher.policy).Statement[0].Action == "sqs:SendMessage" && jsondecode(aws_sqs_queue_policy.publisher.policy).Statement[0].Condition.ArnEquals["aws:SourceArn"] == module.recommendations.arn && jsondecode(aws_sqs_queue_policy.publisher.policy).Statement[0].Condition.StringEquals["aws:SourceAccount"] == "123456789012"
    error_message = "Only the recommendations bucket of this account may send to the queue."
  }

  assert {
    condition     = aws_lambda_event_source_mapping.publisher.event_source_arn == aws_sqs_queue.publisher.arn && aws_lambda_event_source_mapping.publisher.function_name == module.publisher.function_arn
    error_message = "The queue must feed the publisher Lambda."
  }

  assert {
    condition     = aws_lambda_event_source_mapping.publisher.function_response_types == toset(["ReportBatchItemFailures"])
    error_message = "Only the failed messages of a batch may be retried."
  }

  assert {
    condition     = aws_lambda_event_source_mapping.publisher.batch_size == 10 && aws_lambda_event_source_mapping.publisher.maximum_batching_window_in_seconds == 1 && one(aws_lambda_event_source_mapping.publisher.scaling_config).maximum_concurrency == 5
    error_message = "Batches of 10 within 1 s, never more pollers than the reserved concurrency."
  }

  assert {
    condition     = module.publisher.function_name == "reco-publisher" && output.publisher_function_name == "reco-publisher"
    error_message = "The publisher Lambda must be named <name>-publisher."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.publisher_dead_letters.dimensions["QueueName"] == aws_sqs_queue.publisher_dead_letter.name && aws_cloudwatch_metric_alarm.publisher_dead_letters.threshold == 0 && aws_cloudwatch_metric_alarm.publisher_dead_letters.alarm_actions == toset(["arn:aws:sns:us-east-1:123456789012:alerts"])
    error_message = "A message in the dead-letter queue must raise an alarm to the alarm actions."
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.transform_failed_rate.threshold == 1
      && aws_cloudwatch_metric_alarm.transform_failed_rate.alarm_actions == toset(["arn:aws:sns:us-east-1:123456789012:alerts"])
      && one([for q in aws_cloudwatch_metric_alarm.transform_failed_rate.metric_query : q.expression if q.return_data == true]) == "IF(total > 0, 100 * FILL(failed, 0) / total, 0)"
      && toset(flatten([for q in aws_cloudwatch_metric_alarm.transform_failed_rate.metric_query : [for m in q.metric : "${m.namespace}/${m.metric_name}/${m.dimensions["Service"]}/${m.stat}"]])) == toset(["reco/RecordsOk/transform/Sum", "reco/RecordsFailed/transform/Sum", "reco/RecordsDropped/transform/Sum"])
    )
    error_message = "The processing-failed rate alarm must be RecordsFailed / (RecordsOk + RecordsFailed + RecordsDropped) of the transform's EMF metrics, above 1%, to the alarm actions."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.freshness.namespace == "reco" && aws_cloudwatch_metric_alarm.freshness.metric_name == "FreshnessSeconds" && aws_cloudwatch_metric_alarm.freshness.dimensions["Service"] == "publisher" && aws_cloudwatch_metric_alarm.freshness.statistic == "Maximum" && aws_cloudwatch_metric_alarm.freshness.threshold == 300 && aws_cloudwatch_metric_alarm.freshness.alarm_actions == toset(["arn:aws:sns:us-east-1:123456789012:alerts"])
    error_message = "The freshness alarm must watch the publisher's maximum FreshnessSeconds above 300 s, to the alarm actions."
  }
}

run "latest_documents_never_expire" {
  command = plan

  assert {
    condition     = output.latest_prefix == "latest/" && alltrue([for r in local.recommendations_lifecycle_rules : !startswith("latest/", r.prefix) && !startswith(r.prefix, "latest/")])
    error_message = "No lifecycle rule may cover latest/: latest documents must never expire."
  }

  assert {
    condition     = [for r in local.recommendations_lifecycle_rules : r.prefix] == ["recommendations/", "errors/"]
    error_message = "Only delivered objects and failed records expire."
  }
}

run "publisher_memory_and_timeout_bounds" {
  command = plan

  variables {
    publisher_memory_size = 64
    publisher_timeout     = 901
    publisher_concurrency = 1
  }

  expect_failures = [var.publisher_memory_size, var.publisher_timeout, var.publisher_concurrency]
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

  assert {
    condition     = aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration[0].compression_format == "UNCOMPRESSED" && local.transform_environment["RECO_RECORD_GZIP"] == "false"
    error_message = "Uncompressed: plain NDJSON lines from the transform, stored as they are."
  }
}

run "smallest_processor_batches_and_no_wait" {
  command = plan

  variables {
    processor_buffer_size_mb          = 0.2
    processor_buffer_interval_seconds = 0
  }

  assert {
    condition = {
      for p in aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration[0].processing_configuration[0].processors[0].parameters :
      p.parameter_name => p.parameter_value if contains(["BufferSizeInMBs", "BufferIntervalInSeconds"], p.parameter_name)
    } == { BufferSizeInMBs = "0.2", BufferIntervalInSeconds = "0" }
    error_message = "Firehose takes processor buffers from 0.2 MB and intervals from 0 s."
  }
}

run "rejects_processor_batches_under_firehose_minimum" {
  command = plan

  variables {
    processor_buffer_size_mb = 0.1
  }

  expect_failures = [var.processor_buffer_size_mb]
}

run "rejects_processor_interval_over_firehose_maximum" {
  command = plan

  variables {
    processor_buffer_interval_seconds = 901
  }

  expect_failures = [var.processor_buffer_interval_seconds]
}

run "small_buffers_without_dynamic_partitioning" {
  command = plan

  variables {
    buffering_size_mb = 5
  }

  assert {
    condition     = aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration[0].buffering_size == 5
    error_message = "Without dynamic partitioning, buffers from 1 MB are allowed."
  }
}

run "rejects_buffer_over_firehose_maximum" {
  command = plan

  variables {
    buffering_size_mb = 129
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

run "rejects_processing_failed_percent_above_100" {
  command = plan

  variables {
    processing_failed_percent_alarm = 150
  }

  expect_failures = [var.processing_failed_percent_alarm]
}
