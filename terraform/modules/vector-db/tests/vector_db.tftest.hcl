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
  name                 = "reco-vector-db"
  subnet_ids           = ["subnet-a", "subnet-b"]
  security_group_ids   = ["sg-postgres"]
  kms_key_arn          = "arn:aws:kms:us-east-1:123456789012:key/test"
  artifacts_bucket_arn = "arn:aws:s3:::reco-123456789012-us-east-1-artifacts"
}

run "private_encrypted_tls_only_with_managed_password" {
  command = plan

  assert {
    condition     = aws_db_instance.this.manage_master_user_password && aws_db_instance.this.password == null
    error_message = "RDS must manage the master password; none may be in the configuration."
  }

  assert {
    condition     = aws_db_instance.this.storage_encrypted && !aws_db_instance.this.publicly_accessible
    error_message = "The database must be encrypted and private."
  }

  assert {
    condition     = aws_db_instance.this.backup_retention_period >= 1 && aws_db_instance.this.deletion_protection
    error_message = "Backups and deletion protection must be on by default."
  }

  assert {
    condition     = aws_db_instance.this.engine_version == "17" && aws_db_parameter_group.this.family == "postgres17"
    error_message = "The major version must drive engine and parameter group family."
  }

  assert {
    condition     = one([for p in aws_db_parameter_group.this.parameter : p.value if p.name == "rds.force_ssl"]) == "1"
    error_message = "The parameter group must force TLS."
  }

  assert {
    condition     = length(aws_db_instance_role_association.s3_import) == 1 && aws_db_instance_role_association.s3_import[0].feature_name == "s3Import"
    error_message = "The s3Import role must be attached."
  }
}

run "minor_version_and_options" {
  command = plan

  variables {
    engine_version           = "16.4"
    associate_s3_import_role = false
    monitoring_interval      = 0
    skip_final_snapshot      = true
  }

  assert {
    condition     = aws_db_parameter_group.this.family == "postgres16"
    error_message = "16.4 must use the postgres16 family."
  }

  assert {
    condition     = length(aws_db_instance_role_association.s3_import) == 0 && length(aws_iam_role.monitoring) == 0
    error_message = "Role association and monitoring role must be switchable off."
  }

  assert {
    condition     = aws_db_instance.this.final_snapshot_identifier == null
    error_message = "No final snapshot name when skipping the final snapshot."
  }
}

run "rejects_old_postgres" {
  command = plan

  variables {
    engine_version = "12"
  }

  expect_failures = [var.engine_version]
}

run "rejects_non_numeric_version" {
  command = plan

  variables {
    engine_version = "latest"
  }

  expect_failures = [var.engine_version]
}

run "rejects_backups_off" {
  command = plan

  variables {
    backup_retention_days = 0
  }

  expect_failures = [var.backup_retention_days]
}

run "rejects_single_subnet" {
  command = plan

  variables {
    subnet_ids = ["subnet-a"]
  }

  expect_failures = [var.subnet_ids]
}

run "rejects_unsupported_monitoring_interval" {
  command = plan

  variables {
    monitoring_interval = 7
  }

  expect_failures = [var.monitoring_interval]
}
