# The daily loop did not finish. A refused model is a failed execution too (and has
# its own NotifyRefused message); timed-out executions also reach the topic through
# EventBridge (schedule.tf).
locals {
  execution_alarms = {
    failed = {
      metric      = "ExecutionsFailed"
      description = "The daily loop failed (a step failed after its retries, or the model was refused): see the NotifyFailure/NotifyRefused message and the execution's history."
    }
    timed-out = {
      metric      = "ExecutionsTimedOut"
      description = "The daily loop timed out: the live version may lag; see the execution's history."
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "executions" {
  for_each = local.execution_alarms

  alarm_name          = "${local.state_machine_name}-executions-${each.key}"
  alarm_description   = each.value.description
  namespace           = "AWS/States"
  metric_name         = each.value.metric
  dimensions          = { StateMachineArn = aws_sfn_state_machine.this.arn }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}
