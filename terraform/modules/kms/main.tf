data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_arn = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"
  log_groups  = "arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:*"
  # Any distribution of this account: naming the storefront's own would make the key
  # depend on the distribution, which depends on buckets encrypted with the key.
  distributions = "arn:${data.aws_partition.current.partition}:cloudfront::${data.aws_caller_identity.current.account_id}:distribution/*"
  alarms        = "arn:${data.aws_partition.current.partition}:cloudwatch:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:alarm:*"
}

# One customer managed key for the whole stack: buckets, stream, secrets, queues,
# log groups and Lambda environments. Services reach it through their callers' IAM
# roles, which the account statement below enables (so does the state machine, whose
# role publishes to the notifications topic); the services that act on their own
# (CloudWatch Logs, S3 notifications, CloudFront, CloudWatch alarms and EventBridge
# rules publishing to the encrypted topic) have statements of their own.
resource "aws_kms_key" "this" {
  description             = var.description
  enable_key_rotation     = true
  deletion_window_in_days = var.deletion_window_in_days

  # A key policy's Resource is always the key itself, written as "*".
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersKeyThroughIam"
        Effect    = "Allow"
        Principal = { AWS = local.account_arn }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsEncryptsThisAccountsLogGroups"
        Effect    = "Allow"
        Principal = { Service = "logs.${data.aws_region.current.name}.amazonaws.com" }
        Action = [
          "kms:Encrypt",
          "kms:Decrypt",
          "kms:ReEncrypt*",
          "kms:GenerateDataKey*",
          "kms:Describe*",
        ]
        Resource = "*"
        Condition = {
          ArnLike = { "kms:EncryptionContext:aws:logs:arn" = local.log_groups }
        }
      },
      {
        # S3 event notifications into the KMS-encrypted publisher queue.
        Sid       = "S3SendsNotificationsToEncryptedQueues"
        Effect    = "Allow"
        Principal = { Service = "s3.amazonaws.com" }
        Action    = ["kms:GenerateDataKey", "kms:Decrypt"]
        Resource  = "*"
        Condition = {
          StringEquals = { "aws:SourceAccount" = data.aws_caller_identity.current.account_id }
        }
      },
      {
        # The storefront's origin access control reads SSE-KMS objects (site, latest documents).
        Sid       = "CloudFrontReadsEncryptedOrigins"
        Effect    = "Allow"
        Principal = { Service = "cloudfront.amazonaws.com" }
        Action    = "kms:Decrypt"
        Resource  = "*"
        Condition = {
          ArnLike = { "AWS:SourceArn" = local.distributions }
        }
      },
      {
        # Alarm notifications into the KMS-encrypted notifications topic.
        Sid       = "CloudWatchAlarmsPublishToEncryptedTopics"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = {
          StringEquals = { "aws:SourceAccount" = data.aws_caller_identity.current.account_id }
          ArnLike      = { "aws:SourceArn" = local.alarms }
        }
      },
      {
        # EventBridge rules (the state machine's timed-out/aborted executions) into the
        # encrypted topic. EventBridge's KMS requests carry no aws:SourceAccount or
        # aws:SourceArn, so a condition on them would drop every message; the topic's
        # policy admits only this account's rules.
        Sid       = "EventBridgePublishesToEncryptedTopics"
        Effect    = "Allow"
        Principal = { Service = "events.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
      },
    ]
  })

  tags = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this.key_id
}
