output "function_name" {
  description = "Name of the migration function (invoke it with {\"step\":\"migrate\",\"rotate\":true} to rotate every role's password)."
  value       = module.migrate.function_name
}

output "function_arn" {
  description = "ARN of the migration function."
  value       = module.migrate.function_arn
}

output "role_secret_arns" {
  description = "The role secrets the migration writes."
  value       = local.role_secret_arns
}

output "result" {
  description = "The last migration's answer (roles and what was done to their passwords), or null when it is not run by Terraform."
  value       = try(jsondecode(aws_lambda_invocation.migrate[0].result), null)
}
