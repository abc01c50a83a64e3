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
