# The one daily schedule of the loop (it replaces the former ETL and training crons).
resource "aws_cloudwatch_event_rule" "schedule" {
  name                = "${local.state_machine_name}-schedule"
  description         = "Daily loop: ETL, training, embeddings, scoring of every customer, publish"
  schedule_expression = var.schedule_expression
  state               = var.enable_schedule ? "ENABLED" : "DISABLED"
  tags                = var.tags
}

resource "aws_cloudwatch_event_target" "schedule" {
  rule     = aws_cloudwatch_event_rule.schedule.name
  arn      = aws_sfn_state_machine.this.arn
  role_arn = aws_iam_role.schedule.arn
  # The loop takes no input: every step reads what it needs from the previous one.
  input = jsonencode({})

  retry_policy {
    maximum_retry_attempts       = 2
    maximum_event_age_in_seconds = 3600
  }
}

# Executions that end without reaching a Catch (timed out, aborted) cannot notify
# from inside the definition; EventBridge tells the topic instead. Failures and
# refusals notify from the definition itself (NotifyFailure, NotifyRefused).
resource "aws_cloudwatch_event_rule" "execution_ended_abnormally" {
  name        = "${local.state_machine_name}-timed-out-or-aborted"
  description = "The daily loop's execution timed out or was aborted"
  event_pattern = jsonencode({
    source        = ["aws.states"]
    "detail-type" = ["Step Functions Execution Status Change"]
    detail = {
      status          = ["TIMED_OUT", "ABORTED"]
      stateMachineArn = [aws_sfn_state_machine.this.arn]
    }
  })
  tags = var.tags
}

resource "aws_cloudwatch_event_target" "execution_ended_abnormally" {
  rule = aws_cloudwatch_event_rule.execution_ended_abnormally.name
  arn  = var.topic_arn

  input_transformer {
    input_paths = {
      execution = "$.detail.executionArn"
      status    = "$.detail.status"
    }
    input_template = "\"reco daily loop: execution <execution> ended <status> (its history in Step Functions shows the last step). Re-running it is safe: every step is idempotent.\""
  }
}
