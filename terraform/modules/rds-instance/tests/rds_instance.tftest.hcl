# Shared AWS mock data: terraform/tests/mocks/aws.
mock_provider "aws" {
  source = "../../tests/mocks/aws"
}

# The vector-db shape: RDS-managed password, parameters with and without apply_method.
variables {
  name                    = "reco-test-db"
  description             = "reco test database"
  engine                  = "postgres"
  engine_version          = "17"
  instance_class          = "db.t4g.medium"
  parameter_group_family  = "postgres17"
  parameter_group_summary = "TLS only"
  parameters = [
    { name = "rds.force_ssl", value = "1", apply_method = "pending-reboot" },
    { name = "log_statement", value = "ddl" },
  ]
  database_name                = "reco"
  master_username              = "reco_admin"
  port                         = 5432
  manage_master_user_password  = true
  allocated_storage            = 20
  max_allocated_storage        = 100
  multi_az                     = true
  backup_retention_days        = 7
  backup_window                = "03:00-04:00"
  deletion_protection          = true
  skip_final_snapshot          = false
  apply_immediately            = false
  cloudwatch_logs_exports      = ["postgresql", "upgrade"]
  performance_insights_enabled = true
  monitoring_interval          = 60
  feature_roles                = { s3Import = "arn:aws:iam::123456789012:role/s3-import" }
  subnet_ids                   = ["subnet-a", "subnet-b"]
  security_group_ids           = ["sg-db"]
  kms_key_arn                  = "arn:aws:kms:us-east-1:123456789012:key/test"
  tags                         = { project = "reco" }
}

run "private_encrypted_backed_up_monitored" {
  command = plan

  assert {
    condition     = aws_db_instance.this.storage_encrypted && aws_db_instance.this.kms_key_id == var.kms_key_arn && aws_db_instance.this.storage_type == "gp3"
    error_message = "Storage must be gp3 and encrypted with the given key."
  }

  assert {
    condition     = !aws_db_instance.this.publicly_accessible && aws_db_instance.this.db_subnet_group_name == "reco-test-db" && aws_db_subnet_group.this.description == "reco test database: private subnets only"
    error_message = "The instance must be private, in its own subnet group."
  }

  assert {
    condition     = aws_db_instance.this.iam_database_authentication_enabled && aws_db_instance.this.deletion_protection && aws_db_instance.this.multi_az
    error_message = "IAM authentication, deletion protection and Multi-AZ expected."
  }

  assert {
    condition     = aws_db_instance.this.backup_retention_period == 7 && aws_db_instance.this.backup_window == "03:00-04:00" && aws_db_instance.this.maintenance_window == "sun:04:30-sun:05:30" && aws_db_instance.this.copy_tags_to_snapshot
    error_message = "Backups, their window and the maintenance window must be as given."
  }

  assert {
    condition     = aws_db_instance.this.final_snapshot_identifier == "reco-test-db-final" && !aws_db_instance.this.allow_major_version_upgrade && aws_db_instance.this.auto_minor_version_upgrade
    error_message = "A named final snapshot, minor upgrades only."
  }

  assert {
    condition     = aws_db_instance.this.performance_insights_enabled && aws_db_instance.this.performance_insights_kms_key_id == var.kms_key_arn && aws_db_instance.this.performance_insights_retention_period == 7
    error_message = "Performance Insights must be on for 7 days, encrypted with the given key."
  }

  assert {
    condition     = aws_db_instance.this.monitoring_interval == 60 && length(aws_iam_role.monitoring) == 1 && length(aws_iam_role_policy.monitoring) == 1 && aws_iam_role.monitoring[0].name == "reco-test-db-rds-monitoring"
    error_message = "Enhanced Monitoring needs its role."
  }

  assert {
    condition     = toset(aws_db_instance.this.enabled_cloudwatch_logs_exports) == toset(["postgresql", "upgrade"])
    error_message = "The given logs must be exported."
  }

  assert {
    condition     = aws_db_instance_role_association.this["s3Import"].feature_name == "s3Import" && aws_db_instance_role_association.this["s3Import"].role_arn == "arn:aws:iam::123456789012:role/s3-import"
    error_message = "Feature roles must be associated by feature name."
  }
}

run "managed_master_password" {
  command = plan

  assert {
    condition     = aws_db_instance.this.manage_master_user_password && aws_db_instance.this.master_user_secret_kms_key_id == var.kms_key_arn
    error_message = "RDS must manage the master password, its secret encrypted with the given key."
  }

  assert {
    condition     = aws_db_instance.this.password == null && aws_db_instance.this.password_wo_version == null
    error_message = "No password may be in the configuration."
  }
}

run "parameter_group_named_by_family" {
  command = plan

  assert {
    condition     = aws_db_parameter_group.this.name == "reco-test-db-postgres17" && aws_db_parameter_group.this.family == "postgres17" && aws_db_parameter_group.this.description == "reco test database: TLS only"
    error_message = "The parameter group is named and described from name, family and summary."
  }

  assert {
    condition     = one([for p in aws_db_parameter_group.this.parameter : p.apply_method if p.name == "rds.force_ssl"]) == "pending-reboot" && one([for p in aws_db_parameter_group.this.parameter : p.value if p.name == "log_statement"]) == "ddl"
    error_message = "Every parameter must be in the group, with its apply_method where given."
  }
}

# The source-db shape: a write-only password, a dotted family, no monitoring, no
# feature roles, no final snapshot.
run "write_only_password_and_options_off" {
  command = plan

  variables {
    engine                       = "mysql"
    engine_version               = "8.0"
    parameter_group_family       = "mysql8.0"
    parameters                   = [{ name = "require_secure_transport", value = "1" }]
    port                         = 3306
    manage_master_user_password  = false
    master_password              = "test-password-0123456789"
    password_version             = 2
    monitoring_interval          = 0
    performance_insights_enabled = false
    skip_final_snapshot          = true
    feature_roles                = {}
  }

  assert {
    condition     = aws_db_instance.this.manage_master_user_password == null
    error_message = "RDS must not manage a password the caller sends."
  }

  assert {
    condition     = aws_db_instance.this.password == null && aws_db_instance.this.password_wo_version == 2
    error_message = "The password must only be sent write-only, with its version."
  }

  assert {
    condition     = aws_db_parameter_group.this.name == "reco-test-db-mysql8-0"
    error_message = "Parameter group names may not contain dots."
  }

  assert {
    condition     = aws_db_instance.this.monitoring_interval == 0 && length(aws_iam_role.monitoring) == 0 && length(aws_iam_role_policy.monitoring) == 0 && output.monitoring_role_arn == null
    error_message = "No monitoring role without monitoring."
  }

  assert {
    condition     = !aws_db_instance.this.performance_insights_enabled
    error_message = "Performance Insights must be switchable off."
  }

  assert {
    condition     = aws_db_instance.this.final_snapshot_identifier == null && length(aws_db_instance_role_association.this) == 0
    error_message = "No final snapshot name when skipping it; no role associations."
  }
}

run "requires_a_password_when_rds_does_not_manage_it" {
  command = plan

  variables {
    manage_master_user_password = false
  }

  expect_failures = [aws_db_instance.this]
}
