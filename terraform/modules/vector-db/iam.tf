# s3Import: lets `aws_s3.table_import_from_s3` (sql/embeddings.sql) read the
# embeddings CSVs of the artifacts bucket, and nothing else.
data "aws_iam_policy_document" "rds_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "s3_import" {
  name               = "${var.name}-s3-import"
  assume_role_policy = data.aws_iam_policy_document.rds_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "s3_import" {
  statement {
    sid       = "ListModelVersions"
    actions   = ["s3:ListBucket"]
    resources = [var.artifacts_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.model_prefix}/*"]
    }
  }

  statement {
    sid       = "ReadEmbeddings"
    actions   = ["s3:GetObject"]
    resources = ["${var.artifacts_bucket_arn}/${local.model_prefix}/*"]
  }

  statement {
    sid       = "DecryptArtifacts"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "s3_import" {
  name   = "read-embeddings"
  role   = aws_iam_role.s3_import.id
  policy = data.aws_iam_policy_document.s3_import.json
}

resource "aws_db_instance_role_association" "s3_import" {
  count = var.associate_s3_import_role ? 1 : 0

  db_instance_identifier = aws_db_instance.this.identifier
  feature_name           = "s3Import"
  role_arn               = aws_iam_role.s3_import.arn
}

data "aws_iam_policy_document" "monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "monitoring" {
  count = var.monitoring_interval > 0 ? 1 : 0

  name               = "${var.name}-rds-monitoring"
  assume_role_policy = data.aws_iam_policy_document.monitoring_assume.json
  tags               = var.tags
}

# The statements of AWS's AmazonRDSEnhancedMonitoringRole, scoped to this account
# and region: the OS metrics go to the RDSOSMetrics log group.
data "aws_iam_policy_document" "monitoring" {
  statement {
    sid       = "CreateMetricsLogGroup"
    actions   = ["logs:CreateLogGroup", "logs:PutRetentionPolicy"]
    resources = ["arn:${local.partition}:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:RDS*"]
  }

  statement {
    sid = "WriteMetrics"
    actions = [
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "logs:DescribeLogStreams",
      "logs:GetLogEvents",
    ]
    resources = ["arn:${local.partition}:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:RDS*:log-stream:*"]
  }
}

resource "aws_iam_role_policy" "monitoring" {
  count = var.monitoring_interval > 0 ? 1 : 0

  name   = "enhanced-monitoring"
  role   = aws_iam_role.monitoring[0].id
  policy = data.aws_iam_policy_document.monitoring.json
}
