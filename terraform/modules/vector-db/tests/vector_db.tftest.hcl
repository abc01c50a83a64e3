# Shared AWS mock data: terraform/tests/mocks/aws.
mock_provider "aws" {
  source = "../../tests/mocks/aws"
}

variables {
  name                 = "reco-vector-db"
  subnet_ids           = ["subnet-a", "subnet-b"]
  security_group_ids   = ["sg-postgres"]
  kms_key_arn          = "arn:aws:kms:us-east-1:123456789012:key/test"
  artifacts_bucket_arn = "arn:aws:s3:::reco-123456789012-us-east-1-artifacts"
}

run "private_encrypted_tls_only_with_managed_password" {
  command = plan

  assert {
    condition     = module.rds.instance.manage_master_user_password && module.rds.instance.password == null
    error_message = "RDS must manage the master password; none may be in the configuration."
  }

  assert {
    condition     = module.rds.instance.storage_encrypted && !module.rds.instance.publicly_accessible
    error_message = "The database must be encrypted and private."
  }

  assert {
    condition     = module.rds.instance.backup_retention_period >= 1 && module.rds.instance.deletion_protection
    error_message = "Backups and deletion protection must be on by default."
  }

  assert {
    condition     = module.rds.instance.engine_version == "17" && module.rds.parameter_group.family == "postgres17"
    error_message = "The major version must drive engine and parameter group family."
  }

  assert {
    condition     = one([for p in module.rds.parameter_group.parameter : p.value if p.name == "rds.force_ssl"]) == "1"
    error_message = "The parameter group must force TLS."
  }

  assert {
    condition     = length(module.rds.feature_roles) == 1 && contains(keys(module.rds.feature_roles), "s3Import")
    error_message = "The s3Import role must be attached."
  }
}

run "role_secrets_without_a_value" {
  command = plan

  assert {
    condition     = aws_secretsmanager_secret.role["reader"].name == "reco-vector-db/roles/reco_reader" && aws_secretsmanager_secret.role["loader"].name == "reco-vector-db/roles/reco_loader"
    error_message = "One secret per PostgreSQL role, named after it."
  }

  assert {
    condition     = alltrue([for s in aws_secretsmanager_secret.role : s.kms_key_id == var.kms_key_arn && s.recovery_window_in_days == 30])
    error_message = "The role secrets must be encrypted with the stack's key and recoverable."
  }

  # The migration writes the values: no secret version (and no password) in Terraform.
  assert {
    condition     = length(keys(aws_secretsmanager_secret.role)) == 2
    error_message = "Exactly the reader's and the loader's secrets."
  }
}

run "minor_version_and_options" {
  command = plan

  variables {
    engine_version           = "16.4"
    associate_s3_import_role = false
    monitoring_interval      = 0
    skip_final_snapshot      = true
  }

  assert {
    condition     = module.rds.parameter_group.family == "postgres16"
    error_message = "16.4 must use the postgres16 family."
  }

  assert {
    condition     = length(module.rds.feature_roles) == 0 && module.rds.monitoring_role_arn == null
    error_message = "Role association and monitoring role must be switchable off."
  }

  assert {
    condition     = module.rds.instance.final_snapshot_identifier == null
    error_message = "No final snapshot name when skipping the final snapshot."
  }
}

run "rejects_old_postgres" {
  command = plan

  variables {
    engine_version = "12"
  }

  expect_failures = [var.engine_version]
}

run "rejects_non_numeric_version" {
  command = plan

  variables {
    engine_version = "latest"
  }

  expect_failures = [var.engine_version]
}

run "rejects_backups_off" {
  command = plan

  variables {
    backup_retention_days = 0
  }

  expect_failures = [var.backup_retention_days]
}

run "rejects_single_subnet" {
  command = plan

  variables {
    subnet_ids = ["subnet-a"]
  }

  expect_failures = [var.subnet_ids]
}

run "rejects_unsupported_monitoring_interval" {
  command = plan

  variables {
    monitoring_interval = 7
  }

  expect_failures = [var.monitoring_interval]
}
