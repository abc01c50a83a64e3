data "aws_partition" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  vpc_attach = length(var.subnet_ids) > 0
}

# Created before the function so Lambda never creates it without retention or KMS.
resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/lambda/${var.function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_sqs_queue" "dead_letter" {
  count = var.enable_dead_letter_queue ? 1 : 0

  name                      = "${var.function_name}-dlq"
  kms_master_key_id         = var.kms_key_arn
  message_retention_seconds = 1209600 # 14 days, the SQS maximum
  tags                      = var.tags
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_272:Zips are built from the repository by `make build-lambda` in CI; AWS Signer is not used by this project.
  #checkov:skip=CKV_AWS_116:A dead-letter queue is created (var.enable_dead_letter_queue) for the asynchronously invoked scheduled jobs; the Firehose transform and the SQS-fed publisher are invoked synchronously, where a function DLQ never receives anything: failures go to Firehose's error prefix and to the queue's own dead-letter queue.
  function_name = var.function_name
  description   = var.description
  role          = aws_iam_role.this.arn

  filename         = var.zip_path
  source_code_hash = filebase64sha256(var.zip_path)
  handler          = "bootstrap"
  runtime          = "provided.al2023"
  architectures    = [var.architecture]

  memory_size                    = var.memory_size
  timeout                        = var.timeout
  reserved_concurrent_executions = var.reserved_concurrent_executions
  kms_key_arn                    = var.kms_key_arn

  environment {
    variables = var.environment
  }

  dynamic "vpc_config" {
    for_each = local.vpc_attach ? [1] : []
    content {
      subnet_ids         = var.subnet_ids
      security_group_ids = var.security_group_ids
    }
  }

  dynamic "dead_letter_config" {
    for_each = var.enable_dead_letter_queue ? [1] : []
    content {
      target_arn = aws_sqs_queue.dead_letter[0].arn
    }
  }

  tracing_config {
    mode = var.tracing_mode
  }

  # Structured logs: the Rust runtime's subscriber writes JSON at the level Lambda passes it
  # (AWS_LAMBDA_LOG_FORMAT / AWS_LAMBDA_LOG_LEVEL come from this block).
  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.this.name
    application_log_level = var.log_level
    system_log_level      = "WARN"
  }

  tags = var.tags

  depends_on = [
    aws_cloudwatch_log_group.this,
    aws_iam_role_policy.runtime,
    aws_iam_role_policy_attachment.vpc_access,
  ]
}

resource "aws_cloudwatch_metric_alarm" "errors" {
  alarm_name          = "${var.function_name}-errors"
  alarm_description   = "${var.function_name} returned errors (invocation failures, not per-record results)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.this.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.error_alarm_threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "throttles" {
  alarm_name          = "${var.function_name}-throttles"
  alarm_description   = "${var.function_name} was throttled: reserved concurrency is too low for the load."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = aws_lambda_function.this.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}
