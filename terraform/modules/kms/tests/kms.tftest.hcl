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

run "creates_key_with_rotation_and_alias" {
  command = plan

  variables {
    name = "reco"
  }

  assert {
    condition     = aws_kms_key.this.enable_key_rotation
    error_message = "Key rotation must be on."
  }

  assert {
    condition     = aws_kms_alias.this.name == "alias/reco"
    error_message = "The alias must be alias/<name>."
  }

  assert {
    condition     = !strcontains(aws_kms_key.this.policy, "\"Principal\":\"*\"") && !strcontains(aws_kms_key.this.policy, "\"AWS\":\"*\"")
    error_message = "The key policy must not grant a wildcard principal."
  }

  assert {
    condition = one([
      for s in jsondecode(aws_kms_key.this.policy).Statement : s
      if s.Principal == { Service = "s3.amazonaws.com" }
    ]).Condition.StringEquals["aws:SourceAccount"] == "123456789012"
    error_message = "S3 may use the key for queue notifications only on behalf of this account."
  }

  assert {
    condition = one([
      for s in jsondecode(aws_kms_key.this.policy).Statement : s
      if s.Principal == { Service = "cloudfront.amazonaws.com" }
    ]).Condition.ArnLike["AWS:SourceArn"] == "arn:aws:cloudfront::123456789012:distribution/*"
    error_message = "CloudFront may decrypt only for this account's distributions."
  }

  assert {
    condition = one([
      for s in jsondecode(aws_kms_key.this.policy).Statement : s.Action
      if s.Principal == { Service = "cloudfront.amazonaws.com" }
    ]) == "kms:Decrypt"
    error_message = "CloudFront only decrypts."
  }
}

run "rejects_reserved_alias" {
  command = plan

  variables {
    name = "aws/reco"
  }

  expect_failures = [var.name]
}

run "rejects_short_deletion_window" {
  command = plan

  variables {
    name                    = "reco"
    deletion_window_in_days = 3
  }

  expect_failures = [var.deletion_window_in_days]
}
