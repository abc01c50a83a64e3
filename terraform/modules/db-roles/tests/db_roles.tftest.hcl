# Shared AWS mock data: terraform/tests/mocks/aws.
mock_provider "aws" {
  source = "../../tests/mocks/aws"

  mock_resource "aws_lambda_invocation" {
    defaults = { result = "{\"roles\":[{\"role\":\"reco_reader\",\"engine\":\"postgres\",\"password\":\"set\",\"secret\":\"arn:r\"}]}" }
  }
}

variables {
  name                    = "reco"
  kms_key_arn             = "arn:aws:kms:us-east-1:123456789012:key/test"
  pipeline_zip_path       = "../../tests/fixtures/bootstrap.zip"
  subnet_ids              = ["subnet-a", "subnet-b"]
  security_group_ids      = ["sg-loader", "sg-jobs"]
  pg_host                 = "reco-vector-db.abc.us-east-1.rds.amazonaws.com"
  pg_database             = "reco"
  pg_master_secret_arn    = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-master"
  pg_reader_secret_arn    = "arn:aws:secretsmanager:us-east-1:123456789012:secret:reco-vector-db/roles/reco_reader-AbCdEf"
  pg_loader_secret_arn    = "arn:aws:secretsmanager:us-east-1:123456789012:secret:reco-vector-db/roles/reco_loader-AbCdEf"
  mysql_master_secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:reco-source-db/connection-AbCdEf"
  mysql_etl_secret_arn    = "arn:aws:secretsmanager:us-east-1:123456789012:secret:reco-source-db/roles/reco_etl-AbCdEf"
}

run "the_function_reads_the_masters_and_writes_only_the_role_secrets" {
  command = plan

  assert {
    condition     = module.migrate.function_name == "reco-db-migrate"
    error_message = "The function must be <name>-db-migrate."
  }

  assert {
    condition = local.environment == {
      RECO_PG_SECRET_ARN        = var.pg_master_secret_arn
      RECO_PG_HOST              = var.pg_host
      RECO_PG_PORT              = "5432"
      RECO_PG_DATABASE          = "reco"
      RECO_PG_READER_SECRET_ARN = var.pg_reader_secret_arn
      RECO_PG_LOADER_SECRET_ARN = var.pg_loader_secret_arn
      RECO_MYSQL_SECRET_ARN     = var.mysql_master_secret_arn
      RECO_MYSQL_ETL_SECRET_ARN = var.mysql_etl_secret_arn
    }
    error_message = "The migration connects as the masters and writes the three role secrets."
  }

  assert {
    condition = (
      data.aws_iam_policy_document.migrate.statement[0].actions == toset(["secretsmanager:GetSecretValue"])
      && data.aws_iam_policy_document.migrate.statement[0].resources == toset([var.pg_master_secret_arn, var.mysql_master_secret_arn])
      && data.aws_iam_policy_document.migrate.statement[1].actions == toset(["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"])
      && data.aws_iam_policy_document.migrate.statement[1].resources == toset([var.pg_reader_secret_arn, var.pg_loader_secret_arn, var.mysql_etl_secret_arn])
      && length(data.aws_iam_policy_document.migrate.statement) == 2
    )
    error_message = "The policy must read exactly the master secrets and write exactly the role secrets."
  }
}

run "terraform_runs_the_migration_after_apply" {
  command = apply

  assert {
    condition     = length(aws_lambda_invocation.migrate) == 1 && jsondecode(aws_lambda_invocation.migrate[0].input) == { step = "migrate" }
    error_message = "Apply must invoke the function with {\"step\":\"migrate\"}."
  }

  assert {
    condition     = aws_lambda_invocation.migrate[0].function_name == module.migrate.function_name && aws_lambda_invocation.migrate[0].triggers.code == filebase64sha256(var.pipeline_zip_path)
    error_message = "New code (hence new SQL) must run the migration again."
  }

  assert {
    condition     = output.result.roles[0].role == "reco_reader"
    error_message = "The migration's answer must be an output."
  }
}

run "the_emulator_runs_it_from_the_cli_and_an_operator_database_gets_no_user" {
  command = plan

  variables {
    run_migration           = false
    mysql_master_secret_arn = null
    mysql_etl_secret_arn    = null
  }

  assert {
    condition     = length(aws_lambda_invocation.migrate) == 0 && output.result == null
    error_message = "run_migration = false must not invoke the function."
  }

  assert {
    condition     = !contains(keys(local.environment), "RECO_MYSQL_SECRET_ARN") && !contains(keys(local.environment), "RECO_MYSQL_ETL_SECRET_ARN") && local.role_secret_arns == tolist([var.pg_reader_secret_arn, var.pg_loader_secret_arn])
    error_message = "Without the source database's secrets the function must not touch MySQL."
  }
}

run "rejects_half_a_mysql_configuration" {
  command = plan

  variables {
    mysql_master_secret_arn = null
  }

  expect_failures = [var.mysql_etl_secret_arn]
}
