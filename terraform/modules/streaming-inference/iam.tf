data "aws_iam_policy_document" "firehose_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["firehose.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "firehose" {
  name               = "${var.name}-firehose"
  assume_role_policy = data.aws_iam_policy_document.firehose_assume.json
  tags               = var.tags
}

# What the role of each delivery stream (recommendations here, raw events in events_lake.tf)
# needs whatever it delivers: read the click stream, use the key, write its delivery logs.
data "aws_iam_policy_document" "firehose_common" {
  statement {
    sid = "ReadClickStream"
    actions = [
      "kinesis:DescribeStream",
      "kinesis:DescribeStreamSummary",
      "kinesis:GetShardIterator",
      "kinesis:GetRecords",
      "kinesis:ListShards",
    ]
    resources = [aws_kinesis_stream.clicks.arn]
  }

  statement {
    sid       = "EncryptDeliveriesAndDecryptStream"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }

  statement {
    sid       = "WriteDeliveryLogs"
    actions   = ["logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.firehose.arn}:*"]
  }
}

data "aws_iam_policy_document" "firehose" {
  source_policy_documents = [data.aws_iam_policy_document.firehose_common.json]

  statement {
    sid     = "InvokeTransform"
    actions = ["lambda:InvokeFunction", "lambda:GetFunctionConfiguration"]
    resources = [
      module.transform.function_arn,
      "${module.transform.function_arn}:*",
    ]
  }

  statement {
    sid       = "LocateRecommendationsBucket"
    actions   = ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"]
    resources = [module.recommendations.arn]
  }

  statement {
    sid       = "DeliverRecommendations"
    actions   = ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"]
    resources = ["${module.recommendations.arn}/*"]
  }
}

resource "aws_iam_role_policy" "firehose" {
  name   = "deliver-recommendations"
  role   = aws_iam_role.firehose.id
  policy = data.aws_iam_policy_document.firehose.json
}
