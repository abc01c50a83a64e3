data "aws_iam_policy_document" "etl" {
  statement {
    sid       = "ReadSourceDatabaseSecret"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = [local.mysql_secret_arn]
  }

  statement {
    sid       = "ListTrainingSnapshots"
    actions   = ["s3:ListBucket"]
    resources = [module.data_lake.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.training_prefix}/*"]
    }
  }

  # Delete is needed to replace a re-run snapshot instead of appending to it.
  statement {
    sid       = "WriteTrainingSnapshots"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${module.data_lake.arn}/${local.training_prefix}/*"]
  }

  # The raw click events of the last days (events/dt=YYYY-MM-DD/), read-only: they become
  # `events` training rows.
  statement {
    sid       = "ListClickEvents"
    actions   = ["s3:ListBucket"]
    resources = [module.data_lake.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["events/*"]
    }
  }

  statement {
    sid       = "ReadClickEvents"
    actions   = ["s3:GetObject"]
    resources = ["${module.data_lake.arn}/events/*"]
  }

  # The product catalogue the publisher and score-all read display fields from
  # (reco_domain::serving::CATALOGUE_KEY), written by every run.
  statement {
    sid       = "WriteProductCatalogue"
    actions   = ["s3:PutObject"]
    resources = ["${module.data_lake.arn}/catalogue/products.json"]
  }

  statement {
    sid = "RegisterSnapshotPartitions"
    actions = [
      "glue:GetDatabase",
      "glue:GetTable",
      "glue:UpdateTable",
      "glue:GetPartition",
      "glue:GetPartitions",
      "glue:CreatePartition",
      "glue:BatchCreatePartition",
      "glue:UpdatePartition",
      "glue:DeletePartition",
      "glue:BatchDeletePartition",
    ]
    resources = [local.catalog_arn, local.database_arn, local.table_arn]
  }
}

data "aws_iam_policy_document" "train" {
  statement {
    sid       = "ListTrainingSnapshots"
    actions   = ["s3:ListBucket"]
    resources = [module.data_lake.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.training_prefix}/*"]
    }
  }

  statement {
    sid       = "ReadTrainingSnapshots"
    actions   = ["s3:GetObject"]
    resources = ["${module.data_lake.arn}/${local.training_prefix}/*"]
  }

  statement {
    sid       = "ListModelVersions"
    actions   = ["s3:ListBucket"]
    resources = [module.artifacts.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.model_prefix}/*"]
    }
  }

  statement {
    sid       = "WriteModelVersions"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"]
    resources = ["${module.artifacts.arn}/${local.model_prefix}/*"]
  }

  # A/B experiments (<model prefix>/experiments/: current.json and the audit trail) are
  # changed by operators only (`reco experiment`); the Lambdas and the loader read them
  # through their model-prefix read rights.
  statement {
    sid       = "OperatorsOnlyChangeExperiments"
    effect    = "Deny"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = ["${module.artifacts.arn}/${local.model_prefix}/experiments/*"]
  }

  statement {
    sid       = "FindNewestSnapshot"
    actions   = ["glue:GetTable", "glue:GetPartitions"]
    resources = [local.catalog_arn, local.database_arn, local.table_arn]
  }
}
