output "endpoint" {
  description = "Host name of the source database."
  value       = module.rds.address
}

output "port" {
  description = "Port of the source database."
  value       = module.rds.port
}

output "database_name" {
  description = "Database holding the classicmodels tables."
  value       = module.rds.database_name
}

output "connection_secret_arn" {
  description = "Secret with the master user's connection JSON (host, port, username, password, dbname): only the migration (modules/db-roles) reads it."
  value       = aws_secretsmanager_secret.connection.arn
}

output "instance_identifier" {
  description = "Identifier of the DB instance."
  value       = module.rds.identifier
}

output "etl_secret_arn" {
  description = "Secret of the user reco_etl (JSON host, port, username, password, dbname), written by the migration: the ETL's RECO_MYSQL_SECRET_ARN."
  value       = aws_secretsmanager_secret.etl_user.arn
}
