# The migration of the least-privilege database roles (reco_reader, reco_loader in
# PostgreSQL; reco_etl in MySQL when the stack created the source database): the
# pipeline zip's {"step":"migrate"} run by a function inside the VPC, the only one
# that reads the master secrets, invoked by Terraform after apply. It creates the
# roles from sql/roles/*.sql (built into the binary), sets random passwords and writes
# them to the role secrets (created empty by vector-db and source-db).

locals {
  migrate_mysql      = var.mysql_etl_secret_arn != null
  master_secret_arns = compact([var.pg_master_secret_arn, var.mysql_master_secret_arn])
  role_secret_arns   = compact([var.pg_reader_secret_arn, var.pg_loader_secret_arn, var.mysql_etl_secret_arn])

  environment = merge(
    {
      RECO_PG_SECRET_ARN        = var.pg_master_secret_arn
      RECO_PG_HOST              = var.pg_host
      RECO_PG_PORT              = tostring(var.pg_port)
      RECO_PG_DATABASE          = var.pg_database
      RECO_PG_READER_SECRET_ARN = var.pg_reader_secret_arn
      RECO_PG_LOADER_SECRET_ARN = var.pg_loader_secret_arn
    },
    local.migrate_mysql ? {
      RECO_MYSQL_SECRET_ARN     = var.mysql_master_secret_arn
      RECO_MYSQL_ETL_SECRET_ARN = var.mysql_etl_secret_arn
    } : {},
  )
}

module "migrate" {
  source = "../lambda-function"

  function_name                  = "${var.name}-db-migrate"
  description                    = "reco pipeline step migrate: least-privilege database roles from sql/roles/*.sql and their secrets, as the master users"
  zip_path                       = var.pipeline_zip_path
  memory_size                    = 256
  timeout                        = var.timeout
  reserved_concurrent_executions = 1 # one migration at a time
  subnet_ids                     = var.subnet_ids
  security_group_ids             = var.security_group_ids
  kms_key_arn                    = var.kms_key_arn
  log_retention_days             = var.log_retention_days
  alarm_actions                  = var.alarm_actions
  policy_json                    = data.aws_iam_policy_document.migrate.json
  tags                           = var.tags

  environment = local.environment
}

data "aws_iam_policy_document" "migrate" {
  statement {
    sid       = "ReadMasterCredentials"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = local.master_secret_arns
  }

  # The value is staged (AWSPENDING), the password set and proven, then made current.
  statement {
    sid = "WriteRoleCredentials"
    actions = [
      "secretsmanager:GetSecretValue",
      "secretsmanager:PutSecretValue",
      "secretsmanager:UpdateSecretVersionStage",
    ]
    resources = local.role_secret_arns
  }
}

# Runs the migration when the function, its code or a secret changes (the SQL is built
# into the code). A failed migration fails the apply with the migration's message; the
# answer kept in state names the roles and what was done, never a password.
resource "aws_lambda_invocation" "migrate" {
  count = var.run_migration ? 1 : 0

  function_name = module.migrate.function_name
  input         = jsonencode({ step = "migrate" })

  triggers = {
    function = module.migrate.function_arn
    code     = filebase64sha256(var.pipeline_zip_path)
    secrets  = join(",", concat(local.master_secret_arns, local.role_secret_arns))
    database = "${var.pg_host}:${var.pg_port}/${var.pg_database}"
  }
}
