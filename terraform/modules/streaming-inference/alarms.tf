# Firehose could not call the transform Lambda successfully (Average < 1 means some
# invocations failed and their records went to the error prefix).
resource "aws_cloudwatch_metric_alarm" "processing_failures" {
  alarm_name          = "${var.name}-firehose-processing-failures"
  alarm_description   = "Firehose's calls to the transform Lambda failed; records are going to the error prefix."
  namespace           = "AWS/Firehose"
  metric_name         = "ExecuteProcessing.Success"
  dimensions          = { DeliveryStreamName = aws_kinesis_firehose_delivery_stream.this.name }
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "delivery_failures" {
  alarm_name          = "${var.name}-firehose-delivery-failures"
  alarm_description   = "Firehose could not write recommendations to S3."
  namespace           = "AWS/Firehose"
  metric_name         = "DeliveryToS3.Success"
  dimensions          = { DeliveryStreamName = aws_kinesis_firehose_delivery_stream.this.name }
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}

# Records waiting in the stream longer than the threshold: Firehose (or the
# transform behind it) is not keeping up.
resource "aws_cloudwatch_metric_alarm" "iterator_age" {
  alarm_name          = "${var.name}-clicks-iterator-age"
  alarm_description   = "Click events wait in Kinesis longer than ${var.iterator_age_alarm_ms} ms before Firehose reads them."
  namespace           = "AWS/Kinesis"
  metric_name         = "GetRecords.IteratorAgeMilliseconds"
  dimensions          = { StreamName = aws_kinesis_stream.clicks.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 2
  threshold           = var.iterator_age_alarm_ms
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}

# Notifications the publisher failed on publisher_max_receive_count times: some latest
# documents are stale until the messages are redriven.
resource "aws_cloudwatch_metric_alarm" "publisher_dead_letters" {
  alarm_name          = "${var.name}-publisher-dead-letters"
  alarm_description   = "Delivered objects the publisher could not publish are in ${aws_sqs_queue.publisher_dead_letter.name}; redrive them once the cause is fixed."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.publisher_dead_letter.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}

# Records the transform answered ProcessingFailed (they go to Firehose's error prefix),
# as a share of every record it answered, from its Embedded Metric Format metrics
# (namespace "reco", Service "transform").
resource "aws_cloudwatch_metric_alarm" "transform_failed_rate" {
  alarm_name          = "${var.name}-transform-processing-failed-rate"
  alarm_description   = "More than ${var.processing_failed_percent_alarm}% of the transform's records were answered ProcessingFailed (see the error prefix and the transform's logs)."
  evaluation_periods  = 1
  threshold           = var.processing_failed_percent_alarm
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags

  metric_query {
    id          = "rate"
    label       = "processing-failed rate (%)"
    expression  = "IF(total > 0, 100 * FILL(failed, 0) / total, 0)"
    return_data = true
  }

  metric_query {
    id         = "total"
    expression = "FILL(ok, 0) + FILL(failed, 0) + FILL(dropped, 0)"
  }

  dynamic "metric_query" {
    for_each = { ok = "RecordsOk", failed = "RecordsFailed", dropped = "RecordsDropped" }
    content {
      id = metric_query.key
      metric {
        namespace   = local.metrics_namespace
        metric_name = metric_query.value
        dimensions  = { Service = "transform" }
        stat        = "Sum"
        period      = 300
      }
    }
  }
}

# Latest documents written long after their click event: the stream, Firehose's
# buffering or the publisher is behind.
resource "aws_cloudwatch_metric_alarm" "freshness" {
  alarm_name          = "${var.name}-publisher-freshness"
  alarm_description   = "Latest documents were written more than ${var.freshness_alarm_seconds} s after their click event (publisher's FreshnessSeconds, maximum)."
  namespace           = local.metrics_namespace
  metric_name         = "FreshnessSeconds"
  dimensions          = { Service = "publisher" }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 2
  datapoints_to_alarm = 2
  threshold           = var.freshness_alarm_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}
