locals {
  family = "mysql${var.engine_version}"
}

# Subnet group, parameter group, instance and monitoring role: the RDS skeleton shared
# with vector-db. The password goes write-only, once per password_version.
module "rds" {
  source = "../rds-instance"

  name                    = var.name
  description             = "reco source database"
  engine                  = "mysql"
  engine_version          = var.engine_version
  instance_class          = var.instance_class
  parameter_group_family  = local.family
  parameter_group_summary = "TLS only"
  parameters = [
    { name = "require_secure_transport", value = "1" },
  ]

  database_name               = var.database_name
  master_username             = var.master_username
  port                        = 3306
  manage_master_user_password = false
  master_password             = var.master_password
  password_version            = var.password_version

  allocated_storage            = var.allocated_storage
  max_allocated_storage        = var.max_allocated_storage
  multi_az                     = var.multi_az
  backup_retention_days        = var.backup_retention_days
  backup_window                = "01:00-02:00" # before the ETL's 02:00 snapshot
  deletion_protection          = var.deletion_protection
  skip_final_snapshot          = var.skip_final_snapshot
  apply_immediately            = var.apply_immediately
  cloudwatch_logs_exports      = ["error", "slowquery"]
  performance_insights_enabled = var.performance_insights_enabled
  monitoring_interval          = var.monitoring_interval

  subnet_ids         = var.subnet_ids
  security_group_ids = var.security_group_ids
  kms_key_arn        = var.kms_key_arn
  tags               = var.tags
}

# The connection JSON reco-etl reads (RECO_MYSQL_SECRET_ARN): host, port, username,
# password, dbname. Written once per password_version, never stored in state.
resource "aws_secretsmanager_secret" "connection" {
  #checkov:skip=CKV2_AWS_57:Rotation is by password_version (a new apply writes DB and secret together); RDS-managed rotation would drop host and dbname from the JSON reco-etl reads.
  name                    = "${var.name}/connection"
  description             = "Source MySQL for reco-etl: JSON with host, port, username, password, dbname"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.secret_recovery_window_days
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_version" "connection" {
  secret_id = aws_secretsmanager_secret.connection.id
  secret_string_wo = jsonencode({
    host     = module.rds.address
    port     = module.rds.port
    username = module.rds.username
    password = var.master_password
    dbname   = module.rds.database_name
  })
  secret_string_wo_version = var.password_version
}

# The ETL's credentials: the user reco_etl (SELECT on the source database only), in
# the same JSON shape as the connection secret so reco-etl reads either. Created
# empty: the migration (modules/db-roles, `reco db migrate`) creates the user from
# sql/roles/mysql.sql as the master user and writes the value; the master connection
# secret above is then read by the migration only.
resource "aws_secretsmanager_secret" "etl_user" {
  #checkov:skip=CKV2_AWS_57:Rotated by the migration (`reco db migrate --rotate`, the db-roles function with {"step":"migrate","rotate":true}), which stages the value like a rotation function does.
  name                    = "${var.name}/roles/reco_etl"
  description             = "Source MySQL user reco_etl for reco-etl: JSON host, port, username, password, dbname (written by the migration)"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.secret_recovery_window_days
  tags                    = var.tags
}
