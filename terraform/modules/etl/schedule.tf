locals {
  schedules = {
    etl = {
      expression  = var.etl_schedule_expression
      description = "Daily snapshot of the source database into the data lake"
      arn         = module.etl_job.function_arn
      name        = module.etl_job.function_name
    }
    train = {
      expression  = var.train_schedule_expression
      description = "Daily training on the newest snapshot"
      arn         = module.train_job.function_arn
      name        = module.train_job.function_name
    }
  }
}

resource "aws_cloudwatch_event_rule" "schedule" {
  for_each = local.schedules

  name                = "${var.name}-${each.key}-schedule"
  description         = each.value.description
  schedule_expression = each.value.expression
  state               = var.enable_schedules ? "ENABLED" : "DISABLED"
  tags                = var.tags
}

resource "aws_cloudwatch_event_target" "schedule" {
  for_each = local.schedules

  rule = aws_cloudwatch_event_rule.schedule[each.key].name
  arn  = each.value.arn

  retry_policy {
    maximum_retry_attempts       = 2
    maximum_event_age_in_seconds = 3600
  }
}

resource "aws_lambda_permission" "schedule" {
  for_each = local.schedules

  statement_id  = "AllowEventBridgeSchedule"
  action        = "lambda:InvokeFunction"
  function_name = each.value.name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.schedule[each.key].arn
}
