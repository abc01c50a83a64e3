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
  description = "Secret with the connection JSON (host, port, username, password, dbname) for reco-etl."
  value       = aws_secretsmanager_secret.connection.arn
}

output "instance_identifier" {
  description = "Identifier of the DB instance."
  value       = module.rds.identifier
}
