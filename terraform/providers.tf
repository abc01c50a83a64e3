locals {
  # Set only for the local emulator (moto): every AWS API goes to one endpoint.
  emulated = var.aws_endpoint_url != null
  emulated_services = [
    "cloudfront", "cloudwatch", "ec2", "events", "firehose", "glue", "iam", "kinesis", "kms",
    "lambda", "logs", "rds", "s3", "secretsmanager", "sfn", "sns", "sqs", "sts",
  ]
}

provider "aws" {
  region = var.aws_region

  # The emulator accepts any credentials and has no metadata service.
  skip_credentials_validation = local.emulated
  skip_metadata_api_check     = local.emulated
  skip_region_validation      = local.emulated
  s3_use_path_style           = local.emulated

  dynamic "endpoints" {
    for_each = local.emulated ? [var.aws_endpoint_url] : []
    content {
      cloudfront     = endpoints.value
      cloudwatch     = endpoints.value
      ec2            = endpoints.value
      events         = endpoints.value
      firehose       = endpoints.value
      glue           = endpoints.value
      iam            = endpoints.value
      kinesis        = endpoints.value
      kms            = endpoints.value
      lambda         = endpoints.value
      logs           = endpoints.value
      rds            = endpoints.value
      s3             = endpoints.value
      secretsmanager = endpoints.value
      sfn            = endpoints.value
      sns            = endpoints.value
      sqs            = endpoints.value
      sts            = endpoints.value
    }
  }

  default_tags {
    tags = merge({ Project = "reco", Stack = var.name_prefix, ManagedBy = "terraform" }, var.tags)
  }
}
