data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name

  training_prefix = trimsuffix(var.training_prefix, "/")
  model_prefix    = trimsuffix(var.model_prefix, "/")

  catalog_arn  = "arn:${local.partition}:glue:${local.region}:${local.account}:catalog"
  database_arn = "arn:${local.partition}:glue:${local.region}:${local.account}:database/${aws_glue_catalog_database.this.name}"
  table_arn    = "arn:${local.partition}:glue:${local.region}:${local.account}:table/${aws_glue_catalog_database.this.name}/${aws_glue_catalog_table.training.name}"

  mysql_secret_arn = var.create_mysql_secret ? aws_secretsmanager_secret.mysql[0].arn : var.mysql_secret_arn
}

module "data_lake" {
  source = "../s3-bucket"

  bucket_name   = var.data_lake_bucket_name
  kms_key_arn   = var.kms_key_arn
  force_destroy = var.force_destroy

  deny_insecure_transport = var.deny_insecure_transport
  lifecycle_rules = [
    {
      id                    = "training-snapshots"
      prefix                = "${local.training_prefix}/"
      transition_to_ia_days = var.snapshot_transition_to_ia_days
      expiration_days       = var.snapshot_retention_days
    },
  ]
  tags = var.tags
}

module "artifacts" {
  source = "../s3-bucket"

  bucket_name   = var.artifacts_bucket_name
  kms_key_arn   = var.kms_key_arn
  force_destroy = var.force_destroy

  deny_insecure_transport = var.deny_insecure_transport
  lifecycle_rules = [
    {
      id                    = "model-versions"
      prefix                = "${local.model_prefix}/"
      transition_to_ia_days = var.model_transition_to_ia_days
    },
  ]
  tags = var.tags
}

# Connection settings of the source MySQL as JSON: host, port, username, password,
# dbname. With create_mysql_secret it is created empty, so no password ever passes
# through Terraform state: the operator writes the value once with
#   aws secretsmanager put-secret-value --secret-id <arn> --secret-string file://mysql.json
resource "aws_secretsmanager_secret" "mysql" {
  #checkov:skip=CKV2_AWS_57:The source database belongs to the operator; its credentials rotate with that database, not with this stack.
  count = var.create_mysql_secret ? 1 : 0

  name                    = "${var.name}/source-mysql"
  description             = "Source MySQL for reco-etl: JSON with host, port, username, password, dbname"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.secret_recovery_window_days
  tags                    = var.tags
}
