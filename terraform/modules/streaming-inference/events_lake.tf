# Raw click events in the data lake (reco_domain::lake_events): a second delivery stream
# reads the same Kinesis stream (its own shard iterators: Kinesis allows 5 reads per shard
# per second shared by both streams) and writes every valid event as Parquet under
# events/dt=YYYY-MM-DD/ of the data lake bucket, table click_events.
#
# Record format conversion needs the JSON keys to be the table's columns and cannot add
# any; the processor (the transform Lambda's artifact in RECO_LAMBDA_MODE=lake-events, no
# database, no model) turns each event into its row: arrival_time from the record's
# approximateArrivalTimestamp (arrival on Kinesis), event_type "view" for version 1 events,
# the browse history's codes, no personal field. Invalid events go under events-errors/.
# dt is Firehose's !{timestamp}: the arrival time of the oldest record of the file, so a file
# spanning midnight UTC keeps a few minutes of the next day in the earlier partition.
# Delivery is at least once (Firehose retries): readers dedupe on event_id.

locals {
  events_prefix       = "events"
  events_location     = "s3://${var.data_lake_bucket_name}/${local.events_prefix}/"
  events_error_prefix = "events-errors"

  # The columns of reco_domain::lake_events::HIVE_COLUMNS, in file order.
  click_events_columns = [
    { name = "event_id", type = "string", comment = "Producer's event id (dedupe key)" },
    { name = "event_type", type = "string", comment = "view, add_to_cart, purchase, rec_impression or rec_click (not null)" },
    { name = "session_id", type = "string", comment = "Session (not null)" },
    { name = "customer_number", type = "bigint", comment = "Customer (not null)" },
    { name = "event_time", type = "timestamp", comment = "Producer time (UTC), null when absent or not RFC 3339" },
    { name = "arrival_time", type = "timestamp", comment = "Approximate arrival on the stream (UTC, not null)" },
    { name = "item", type = "string", comment = "Product the event is about" },
    { name = "recommendation_id", type = "string", comment = "Recommendation shown or clicked" },
    { name = "experiment", type = "string", comment = "A/B experiment of the recommendation shown" },
    { name = "variant", type = "string", comment = "Variant of the recommendation shown" },
    { name = "browsed_items", type = "array<string>", comment = "Browse history's product codes, oldest first" },
    { name = "cart_items", type = "array<string>", comment = "Codes of history items in the cart" },
  ]
}

resource "aws_glue_catalog_table" "click_events" {
  name          = "click_events"
  database_name = var.glue_database_name
  description   = "reco raw click events, one row per event of the stream (at least once: dedupe on event_id)"
  table_type    = "EXTERNAL_TABLE"

  # Partition projection: Athena computes the dt partitions, nothing registers them on AWS
  # (reco firehose-local registers them locally, which projection ignores).
  parameters = {
    EXTERNAL                      = "TRUE"
    classification                = "parquet"
    "projection.enabled"          = "true"
    "projection.dt.type"          = "date"
    "projection.dt.format"        = "yyyy-MM-dd"
    "projection.dt.range"         = "${var.delivered_log_first_date},NOW"
    "projection.dt.interval"      = "1"
    "projection.dt.interval.unit" = "DAYS"
    "storage.location.template"   = "${local.events_location}dt=$${dt}/"
  }

  storage_descriptor {
    location      = local.events_location
    input_format  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"

    ser_de_info {
      name                  = "parquet"
      serialization_library = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
      parameters            = { "serialization.format" = "1" }
    }

    dynamic "columns" {
      for_each = local.click_events_columns
      content {
        name    = columns.value.name
        type    = columns.value.type
        comment = columns.value.comment
      }
    }
  }

  partition_keys {
    name    = "dt"
    type    = "string"
    comment = "Arrival date (UTC), yyyy-MM-dd"
  }
}

# The processor: the transform's artifact in lake-events mode. It reads nothing (no
# database, no S3); attached to the VPC like the transform.
module "events_rows" {
  source = "../lambda-function"

  function_name                  = "${var.name}-event-rows"
  description                    = "reco raw events: Firehose records -> click_events rows (no database)"
  zip_path                       = var.transform_zip_path
  memory_size                    = 256
  timeout                        = 60
  reserved_concurrent_executions = var.events_rows_reserved_concurrency
  subnet_ids                     = var.subnet_ids
  security_group_ids             = var.security_group_ids
  kms_key_arn                    = var.kms_key_arn
  log_retention_days             = var.log_retention_days
  alarm_actions                  = var.alarm_actions
  policy_json                    = data.aws_iam_policy_document.events_rows.json
  tags                           = var.tags

  environment = {
    RECO_LAMBDA_MODE = "lake-events"
  }
}

# The row processor needs no data access: an explicit deny keeps it so.
data "aws_iam_policy_document" "events_rows" {
  statement {
    sid       = "NoDataAccess"
    effect    = "Deny"
    actions   = ["s3:*", "secretsmanager:*", "glue:*"]
    resources = ["*"]
  }
}

resource "aws_cloudwatch_log_stream" "events_delivery" {
  name           = "EventsDelivery"
  log_group_name = aws_cloudwatch_log_group.firehose.name
}

resource "aws_iam_role" "events_firehose" {
  name               = "${var.name}-events-firehose"
  assume_role_policy = data.aws_iam_policy_document.firehose_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "events_firehose" {
  source_policy_documents = [data.aws_iam_policy_document.firehose_common.json]

  statement {
    sid     = "InvokeRowProcessor"
    actions = ["lambda:InvokeFunction", "lambda:GetFunctionConfiguration"]
    resources = [
      module.events_rows.function_arn,
      "${module.events_rows.function_arn}:*",
    ]
  }

  statement {
    sid       = "LocateDataLakeBucket"
    actions   = ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"]
    resources = [var.data_lake_bucket_arn]
  }

  statement {
    sid     = "DeliverEvents"
    actions = ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"]
    resources = [
      "${var.data_lake_bucket_arn}/${local.events_prefix}/*",
      "${var.data_lake_bucket_arn}/${local.events_error_prefix}/*",
    ]
  }

  # Record format conversion reads the table's schema.
  statement {
    sid     = "ReadEventsSchema"
    actions = ["glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"]
    resources = [
      "arn:${data.aws_partition.current.partition}:glue:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:catalog",
      "arn:${data.aws_partition.current.partition}:glue:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:database/${var.glue_database_name}",
      "arn:${data.aws_partition.current.partition}:glue:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:table/${var.glue_database_name}/${aws_glue_catalog_table.click_events.name}",
    ]
  }
}

resource "aws_iam_role_policy" "events_firehose" {
  name   = "deliver-raw-events"
  role   = aws_iam_role.events_firehose.id
  policy = data.aws_iam_policy_document.events_firehose.json
}

resource "aws_kinesis_firehose_delivery_stream" "events" {
  #checkov:skip=CKV_AWS_240:Firehose refuses server-side encryption on a Kinesis-sourced stream; records are encrypted by the stream (KMS) and in S3 (KMS).
  #checkov:skip=CKV_AWS_241:Same as CKV_AWS_240: encryption at rest is the source stream's and the bucket's, both with the customer managed key.
  name        = "${var.name}-events"
  destination = "extended_s3"

  kinesis_source_configuration {
    kinesis_stream_arn = aws_kinesis_stream.clicks.arn
    role_arn           = aws_iam_role.events_firehose.arn
  }

  extended_s3_configuration {
    role_arn    = aws_iam_role.events_firehose.arn
    bucket_arn  = var.data_lake_bucket_arn
    kms_key_arn = var.kms_key_arn

    prefix              = "${local.events_prefix}/dt=!{timestamp:yyyy-MM-dd}/"
    error_output_prefix = "${local.events_error_prefix}/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/"
    # Parquet compresses its pages (Snappy); the stream must not compress the files again.
    compression_format = "UNCOMPRESSED"
    # Format conversion needs at least 64 MiB.
    buffering_size     = var.events_buffering_size_mb
    buffering_interval = var.events_buffering_interval_seconds

    processing_configuration {
      enabled = true

      processors {
        type = "Lambda"

        parameters {
          parameter_name  = "LambdaArn"
          parameter_value = "${module.events_rows.function_arn}:$LATEST"
        }
        parameters {
          parameter_name  = "BufferSizeInMBs"
          parameter_value = "3"
        }
        parameters {
          parameter_name  = "BufferIntervalInSeconds"
          parameter_value = "60"
        }
      }
    }

    data_format_conversion_configuration {
      input_format_configuration {
        deserializer {
          hive_json_ser_de {
            # The processor writes timestamps as Unix milliseconds.
            timestamp_formats = ["millis"]
          }
        }
      }

      output_format_configuration {
        serializer {
          parquet_ser_de {
            compression = "SNAPPY"
          }
        }
      }

      schema_configuration {
        database_name = aws_glue_catalog_table.click_events.database_name
        table_name    = aws_glue_catalog_table.click_events.name
        role_arn      = aws_iam_role.events_firehose.arn
        region        = data.aws_region.current.name
        version_id    = "LATEST"
      }
    }

    cloudwatch_logging_options {
      enabled         = true
      log_group_name  = aws_cloudwatch_log_group.firehose.name
      log_stream_name = aws_cloudwatch_log_stream.events_delivery.name
    }
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.events_firehose]
}
