# Every object Firehose delivers becomes the latest documents of the customers in it:
# S3 ObjectCreated -> SQS -> the publisher Lambda (newest wins, conditional puts).

locals {
  publisher_batch_window_seconds = 1
  # Lambda's advice for SQS sources: at least six times the function timeout (plus the
  # batching window), so a batch still being retried is not handed out again.
  publisher_visibility_timeout = 6 * var.publisher_timeout + local.publisher_batch_window_seconds
  publisher_queue_name         = "${var.name}-published-objects"
}

resource "aws_sqs_queue" "publisher_dead_letter" {
  name                      = "${local.publisher_queue_name}-dlq"
  kms_master_key_id         = var.kms_key_arn
  message_retention_seconds = 1209600 # 14 days, the SQS maximum
  tags                      = var.tags
}

resource "aws_sqs_queue" "publisher" {
  name                       = local.publisher_queue_name
  kms_master_key_id          = var.kms_key_arn
  visibility_timeout_seconds = local.publisher_visibility_timeout
  # Shorter than the dead-letter queue's: SQS keeps a moved message's original enqueue time.
  message_retention_seconds = 345600 # 4 days

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.publisher_dead_letter.arn
    maxReceiveCount     = var.publisher_max_receive_count
  })

  tags = var.tags
}

resource "aws_sqs_queue_policy" "publisher" {
  queue_url = aws_sqs_queue.publisher.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "RecommendationsBucketNotifies"
        Effect    = "Allow"
        Principal = { Service = "s3.amazonaws.com" }
        Action    = "sqs:SendMessage"
        Resource  = aws_sqs_queue.publisher.arn
        Condition = {
          ArnEquals    = { "aws:SourceArn" = module.recommendations.arn }
          StringEquals = { "aws:SourceAccount" = data.aws_caller_identity.current.account_id }
        }
      },
    ]
  })
}

resource "aws_s3_bucket_notification" "recommendations" {
  bucket = module.recommendations.bucket

  queue {
    id            = "delivered-recommendations"
    queue_arn     = aws_sqs_queue.publisher.arn
    events        = ["s3:ObjectCreated:*"]
    filter_prefix = "${local.recs_prefix}/"
  }

  # S3 checks at once that it may send to the queue.
  depends_on = [aws_sqs_queue_policy.publisher]
}

module "publisher" {
  source = "../lambda-function"

  function_name                  = "${var.name}-publisher"
  description                    = "reco publisher: delivered recommendation objects -> latest document per customer"
  zip_path                       = var.publisher_zip_path
  memory_size                    = var.publisher_memory_size
  timeout                        = var.publisher_timeout
  reserved_concurrent_executions = var.publisher_concurrency
  # No VPC: the publisher talks only to S3 and SQS.
  kms_key_arn        = var.kms_key_arn
  log_retention_days = var.log_retention_days
  alarm_actions      = var.alarm_actions
  policy_json        = data.aws_iam_policy_document.publisher.json
  tags               = var.tags

  environment = {
    RECO_RECS_BUCKET      = module.recommendations.bucket
    RECO_DATA_LAKE_BUCKET = var.data_lake_bucket_name
  }
}

resource "aws_lambda_event_source_mapping" "publisher" {
  event_source_arn                   = aws_sqs_queue.publisher.arn
  function_name                      = module.publisher.function_arn
  batch_size                         = 10
  maximum_batching_window_in_seconds = local.publisher_batch_window_seconds
  # Only the messages the handler lists are retried; the rest of the batch is deleted.
  function_response_types = ["ReportBatchItemFailures"]

  # Never more pollers than the function may run: throttled batches would count as
  # receives and end in the dead-letter queue unpublished.
  scaling_config {
    maximum_concurrency = var.publisher_concurrency
  }

  tags = var.tags
}

data "aws_iam_policy_document" "publisher" {
  statement {
    sid       = "ReadDeliveredObjects"
    actions   = ["s3:GetObject"]
    resources = ["${module.recommendations.arn}/${local.recs_prefix}/*"]
  }

  statement {
    sid       = "ReadAndWriteLatestDocuments"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${module.recommendations.arn}/${local.latest_prefix}*"]
  }

  # Without it S3 answers 403 instead of 404 for a customer's first document, and the
  # compare-and-set write reads before it creates.
  statement {
    sid       = "TellMissingDocumentsFromDenied"
    actions   = ["s3:ListBucket"]
    resources = [module.recommendations.arn]
  }

  statement {
    sid       = "ReadProductCatalogue"
    actions   = ["s3:GetObject"]
    resources = ["${var.data_lake_bucket_arn}/catalogue/products.json"] # reco_domain::serving::CATALOGUE_KEY
  }

  statement {
    sid = "ConsumeNotifications"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:GetQueueAttributes",
      "sqs:ChangeMessageVisibility",
    ]
    resources = [aws_sqs_queue.publisher.arn]
  }

  statement {
    sid       = "DecryptQueueAndObjects"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}
