output "endpoint" {
  description = "Host name of the source database."
  value       = aws_db_instance.this.address
}

output "port" {
  description = "Port of the source database."
  value       = aws_db_instance.this.port
}

output "database_name" {
  description = "Database holding the classicmodels tables."
  value       = aws_db_instance.this.db_name
}

output "connection_secret_arn" {
  description = "Secret with the connection JSON (host, port, username, password, dbname) for reco-etl."
  value       = aws_secretsmanager_secret.connection.arn
}

output "instance_identifier" {
  description = "Identifier of the DB instance."
  value       = aws_db_instance.this.identifier
}
