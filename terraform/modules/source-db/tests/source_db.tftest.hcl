# Shared AWS mock data: terraform/tests/mocks/aws.
mock_provider "aws" {
  source = "../../tests/mocks/aws"
}

variables {
  name               = "reco-source-db"
  subnet_ids         = ["subnet-a", "subnet-b"]
  security_group_ids = ["sg-mysql"]
  kms_key_arn        = "arn:aws:kms:us-east-1:123456789012:key/test"
  master_password    = "test-password-0123456789"
}

run "private_encrypted_tls_only_with_connection_secret" {
  command = plan

  assert {
    condition     = module.rds.instance.engine == "mysql" && module.rds.instance.engine_version == "8.0" && module.rds.parameter_group.family == "mysql8.0"
    error_message = "MySQL 8.0 with the matching parameter group family expected."
  }

  assert {
    condition     = module.rds.instance.password == null && module.rds.instance.password_wo_version == 1
    error_message = "The password must only be set write-only."
  }

  assert {
    condition     = module.rds.instance.storage_encrypted && !module.rds.instance.publicly_accessible && module.rds.instance.deletion_protection
    error_message = "The source database must be encrypted, private and protected."
  }

  assert {
    condition     = one([for p in module.rds.parameter_group.parameter : p.value if p.name == "require_secure_transport"]) == "1"
    error_message = "The parameter group must require TLS."
  }

  assert {
    condition     = aws_secretsmanager_secret.connection.name == "reco-source-db/connection" && aws_secretsmanager_secret_version.connection.secret_string_wo_version == 1
    error_message = "The connection secret must be written write-only, once per password_version."
  }

  assert {
    condition     = aws_secretsmanager_secret.etl_user.name == "reco-source-db/roles/reco_etl" && aws_secretsmanager_secret.etl_user.kms_key_id == var.kms_key_arn
    error_message = "The ETL user's secret must be <name>/roles/reco_etl, encrypted with the stack's key (its value is the migration's)."
  }

  assert {
    condition     = module.rds.parameter_group.name == "reco-source-db-mysql8-0"
    error_message = "Parameter group names may not contain dots."
  }
}

run "rejects_unsupported_engine" {
  command = plan

  variables {
    engine_version = "5.7"
  }

  expect_failures = [var.engine_version]
}

run "rejects_reserved_user" {
  command = plan

  variables {
    master_username = "admin"
  }

  expect_failures = [var.master_username]
}

run "rejects_short_password" {
  command = plan

  variables {
    master_password = "short"
  }

  expect_failures = [var.master_password]
}

run "rejects_fractional_password_version" {
  command = plan

  variables {
    password_version = 1.5
  }

  expect_failures = [var.password_version]
}
