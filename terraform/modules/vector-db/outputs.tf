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
  description = "RDS-managed secret with the master username and password (RECO_PG_SECRET_ARN)."
  value       = module.rds.master_user_secret_arn
}

output "instance_identifier" {
  description = "Identifier of the DB instance."
  value       = module.rds.identifier
}

output "s3_import_role_arn" {
  description = "Role that aws_s3.table_import_from_s3 uses to read embeddings."
  value       = aws_iam_role.s3_import.arn
}
