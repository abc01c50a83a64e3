# Shared AWS mock data: terraform/tests/mocks/aws.
mock_provider "aws" {
  source = "../../tests/mocks/aws"
}

variables {
  function_name                  = "reco-transform"
  description                    = "test"
  zip_path                       = "../../tests/fixtures/bootstrap.zip"
  memory_size                    = 512
  timeout                        = 60
  reserved_concurrent_executions = 5
  kms_key_arn                    = "arn:aws:kms:us-east-1:123456789012:key/test"
  log_retention_days             = 30
  policy_json                    = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
  environment                    = { RECO_KNN_K = "10" }
}

run "provided_al2023_with_log_group_and_alarms" {
  command = plan

  assert {
    condition     = aws_lambda_function.this.runtime == "provided.al2023" && aws_lambda_function.this.handler == "bootstrap"
    error_message = "Functions run the bootstrap binary on provided.al2023."
  }

  assert {
    condition     = aws_cloudwatch_log_group.this.name == "/aws/lambda/reco-transform" && aws_cloudwatch_log_group.this.retention_in_days == 30
    error_message = "The function's log group must be created with retention."
  }

  assert {
    condition     = aws_lambda_function.this.reserved_concurrent_executions == 5
    error_message = "Reserved concurrency must be passed through."
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables["RECO_KNN_K"] == "10"
    error_message = "The environment must be passed through."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.errors.alarm_name == "reco-transform-errors" && aws_cloudwatch_metric_alarm.throttles.alarm_name == "reco-transform-throttles"
    error_message = "Errors and throttles alarms expected."
  }

  assert {
    condition     = aws_lambda_function.this.logging_config[0].log_format == "JSON" && aws_lambda_function.this.logging_config[0].application_log_level == "INFO" && aws_lambda_function.this.logging_config[0].log_group == "/aws/lambda/reco-transform"
    error_message = "Logs are JSON at INFO into the function's own log group (the runtime's subscriber follows AWS_LAMBDA_LOG_FORMAT/LEVEL)."
  }

  assert {
    condition     = length(aws_lambda_function.this.vpc_config) == 0 && length(aws_iam_role_policy_attachment.vpc_access) == 0
    error_message = "No VPC attachment without subnets."
  }

  assert {
    condition     = length(aws_sqs_queue.dead_letter) == 0 && length(aws_lambda_function.this.dead_letter_config) == 0
    error_message = "No dead-letter queue unless enabled."
  }
}

run "vpc_attachment_and_dead_letter_queue" {
  command = plan

  variables {
    subnet_ids               = ["subnet-a", "subnet-b"]
    security_group_ids       = ["sg-1"]
    enable_dead_letter_queue = true
  }

  assert {
    condition     = length(aws_lambda_function.this.vpc_config) == 1 && length(aws_iam_role_policy_attachment.vpc_access) == 1
    error_message = "Subnets must attach the function to the VPC, with ENI permissions."
  }

  assert {
    condition     = aws_sqs_queue.dead_letter[0].name == "reco-transform-dlq" && length(aws_lambda_function.this.dead_letter_config) == 1
    error_message = "The dead-letter queue must be created and wired."
  }
}

run "rejects_too_little_memory" {
  command = plan

  variables {
    memory_size = 64
  }

  expect_failures = [var.memory_size]
}

run "rejects_timeout_over_15_minutes" {
  command = plan

  variables {
    timeout = 901
  }

  expect_failures = [var.timeout]
}

run "rejects_zero_concurrency" {
  command = plan

  variables {
    reserved_concurrent_executions = 0
  }

  expect_failures = [var.reserved_concurrent_executions]
}

run "rejects_unsupported_retention" {
  command = plan

  variables {
    log_retention_days = 2
  }

  expect_failures = [var.log_retention_days]
}
