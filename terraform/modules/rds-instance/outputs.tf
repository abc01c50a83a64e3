output "address" {
  description = "Host name of the instance."
  value       = aws_db_instance.this.address
}

output "port" {
  description = "Port of the instance."
  value       = aws_db_instance.this.port
}

output "database_name" {
  description = "Database created with the instance."
  value       = aws_db_instance.this.db_name
}

output "username" {
  description = "Master user name."
  value       = aws_db_instance.this.username
}

output "identifier" {
  description = "Identifier of the DB instance."
  value       = aws_db_instance.this.identifier
}

output "master_user_secret_arn" {
  description = "RDS-managed secret with the master username and password (null unless manage_master_user_password)."
  value       = try(aws_db_instance.this.master_user_secret[0].secret_arn, null)
}

output "monitoring_role_arn" {
  description = "Enhanced Monitoring role (null when monitoring_interval is 0)."
  value       = try(aws_iam_role.monitoring[0].arn, null)
}

output "feature_roles" {
  description = "Roles associated with the instance, by feature name."
  value       = { for feature, association in aws_db_instance_role_association.this : feature => association.role_arn }
}

# The resources themselves, so the callers' tests can check what they configure.
output "instance" {
  description = "The DB instance (all its arguments and attributes)."
  value       = aws_db_instance.this
  sensitive   = true # its schema has the (unset) password
}

output "parameter_group" {
  description = "The DB parameter group (name, family, parameters)."
  value       = aws_db_parameter_group.this
}
