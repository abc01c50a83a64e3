output "endpoint" {
  description = "Host name of the instance (RECO_PG_HOST)."
  value       = module.rds.address
}

output "port" {
  description = "Port of the instance (RECO_PG_PORT)."
  value       = module.rds.port
}

output "database_name" {
  description = "Database holding the embeddings (RECO_PG_DATABASE)."
  value       = module.rds.database_name
}

output "master_secret_arn" {
  description = "RDS-managed secret with the master username and password: only the migration (modules/db-roles) reads it."
  value       = module.rds.master_user_secret_arn
}

output "reader_secret_arn" {
  description = "Secret of the role reco_reader (JSON username, password), written by the migration: the transform Lambda's RECO_PG_SECRET_ARN."
  value       = aws_secretsmanager_secret.role["reader"].arn
}

output "loader_secret_arn" {
  description = "Secret of the role reco_loader (JSON username, password), written by the migration: load-embeddings' RECO_PG_SECRET_ARN."
  value       = aws_secretsmanager_secret.role["loader"].arn
}

output "instance_identifier" {
  description = "Identifier of the DB instance."
  value       = module.rds.identifier
}

output "s3_import_role_arn" {
  description = "Role that aws_s3.table_import_from_s3 uses to read embeddings."
  value       = aws_iam_role.s3_import.arn
}
