locals {
  major_version = split(".", var.engine_version)[0]
  model_prefix  = trimsuffix(var.model_prefix, "/")
  # The PostgreSQL roles of sql/roles/postgres.sql, by use.
  roles = { reader = "reco_reader", loader = "reco_loader" }
}

# Subnet group, parameter group, instance, monitoring role and the s3Import role's
# association: the RDS skeleton shared with source-db. RDS generates the master
# password and keeps it in Secrets Manager: it never appears in Terraform state or
# outputs.
module "rds" {
  source = "../rds-instance"

  name                    = var.name
  description             = "reco vector database"
  engine                  = "postgres"
  engine_version          = var.engine_version
  instance_class          = var.instance_class
  parameter_group_family  = "postgres${local.major_version}"
  parameter_group_summary = "TLS only, slow and DDL statements logged"
  parameters = [
    # Clients without TLS are refused.
    { name = "rds.force_ssl", value = "1", apply_method = "pending-reboot" },
    # Schema changes (embedding version swaps) are auditable.
    { name = "log_statement", value = "ddl" },
    # k-NN queries slower than this show up in the logs.
    { name = "log_min_duration_statement", value = tostring(var.log_min_duration_ms) },
  ]

  database_name               = var.database_name
  master_username             = var.master_username
  port                        = var.port
  manage_master_user_password = true

  allocated_storage            = var.allocated_storage
  max_allocated_storage        = var.max_allocated_storage
  multi_az                     = var.multi_az
  backup_retention_days        = var.backup_retention_days
  backup_window                = "03:00-04:00"
  deletion_protection          = var.deletion_protection
  skip_final_snapshot          = var.skip_final_snapshot
  apply_immediately            = var.apply_immediately
  cloudwatch_logs_exports      = ["postgresql", "upgrade"]
  performance_insights_enabled = var.performance_insights_enabled
  monitoring_interval          = var.monitoring_interval
  feature_roles                = var.associate_s3_import_role ? { s3Import = aws_iam_role.s3_import.arn } : {}

  subnet_ids         = var.subnet_ids
  security_group_ids = var.security_group_ids
  kms_key_arn        = var.kms_key_arn
  tags               = var.tags
}

resource "aws_cloudwatch_metric_alarm" "free_storage" {
  alarm_name          = "${var.name}-free-storage"
  alarm_description   = "The vector database has less than 2 GiB of free storage."
  namespace           = "AWS/RDS"
  metric_name         = "FreeStorageSpace"
  dimensions          = { DBInstanceIdentifier = module.rds.identifier }
  statistic           = "Minimum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 2147483648
  comparison_operator = "LessThanThreshold"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "cpu" {
  alarm_name          = "${var.name}-cpu"
  alarm_description   = "The vector database's CPU is above 80% for 15 minutes: k-NN queries will slow down."
  namespace           = "AWS/RDS"
  metric_name         = "CPUUtilization"
  dimensions          = { DBInstanceIdentifier = module.rds.identifier }
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 3
  threshold           = 80
  comparison_operator = "GreaterThanThreshold"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}
