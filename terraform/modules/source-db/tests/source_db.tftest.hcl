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
  name               = "reco-source-db"
  subnet_ids         = ["subnet-a", "subnet-b"]
  security_group_ids = ["sg-mysql"]
  kms_key_arn        = "arn:aws:kms:us-east-1:123456789012:key/test"
  master_password    = "test-password-0123456789"
}

run "private_encrypted_tls_only_with_connection_secret" {
  command = plan

  assert {
    condition     = aws_db_instance.this.engine == "mysql" && aws_db_instance.this.engine_version == "8.0" && aws_db_parameter_group.this.family == "mysql8.0"
    error_message = "MySQL 8.0 with the matching parameter group family expected."
  }

  assert {
    condition     = aws_db_instance.this.password == null && aws_db_instance.this.password_wo_version == 1
    error_message = "The password must only be set write-only."
  }

  assert {
    condition     = aws_db_instance.this.storage_encrypted && !aws_db_instance.this.publicly_accessible && aws_db_instance.this.deletion_protection
    error_message = "The source database must be encrypted, private and protected."
  }

  assert {
    condition     = one([for p in aws_db_parameter_group.this.parameter : p.value if p.name == "require_secure_transport"]) == "1"
    error_message = "The parameter group must require TLS."
  }

  assert {
    condition     = aws_secretsmanager_secret.connection.name == "reco-source-db/connection" && aws_secretsmanager_secret_version.connection.secret_string_wo_version == 1
    error_message = "The connection secret must be written write-only, once per password_version."
  }

  assert {
    condition     = aws_db_parameter_group.this.name == "reco-source-db-mysql8-0"
    error_message = "Parameter group names may not contain dots."
  }
}

run "rejects_unsupported_engine" {
  command = plan

  variables {
    engine_version = "5.7"
  }

  expect_failures = [var.engine_version]
}

run "rejects_reserved_user" {
  command = plan

  variables {
    master_username = "admin"
  }

  expect_failures = [var.master_username]
}

run "rejects_short_password" {
  command = plan

  variables {
    master_password = "short"
  }

  expect_failures = [var.master_password]
}

run "rejects_fractional_password_version" {
  command = plan

  variables {
    password_version = 1.5
  }

  expect_failures = [var.password_version]
}
