output "state_machine_arn" {
  description = "ARN of the daily loop's state machine."
  value       = aws_sfn_state_machine.this.arn
}

output "state_machine_name" {
  description = "Name of the daily loop's state machine."
  value       = aws_sfn_state_machine.this.name
}

output "state_machine_log_group_name" {
  description = "Log group of the state machine (errors only, without execution data)."
  value       = aws_cloudwatch_log_group.state_machine.name
}

output "schedule_rule_name" {
  description = "EventBridge rule that starts the daily loop."
  value       = aws_cloudwatch_event_rule.schedule.name
}

output "load_embeddings_function_name" {
  description = "Name of the embeddings loader (steps load and publish)."
  value       = module.load_embeddings.function_name
}

output "score_all_function_name" {
  description = "Name of the batch scorer (steps plan and score)."
  value       = module.score_all.function_name
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the stack's metrics."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}
