# --- the state machine's role ---
data "aws_iam_policy_document" "state_machine_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "state_machine" {
  name               = "${local.state_machine_name}-states"
  assume_role_policy = data.aws_iam_policy_document.state_machine_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "state_machine" {
  statement {
    sid     = "InvokeSteps"
    actions = ["lambda:InvokeFunction"]
    resources = flatten([
      for arn in values(local.function_arns) : [arn, "${arn}:*"]
    ])
  }

  statement {
    sid       = "Notify"
    actions   = ["sns:Publish"]
    resources = [var.topic_arn]
  }

  # The topic is encrypted with the stack's key; publishing needs a data key.
  statement {
    sid       = "EncryptNotifications"
    actions   = ["kms:GenerateDataKey*", "kms:Decrypt"]
    resources = [var.kms_key_arn]
  }

  # The Distributed Map runs each shard as a child execution of this state machine.
  statement {
    sid       = "RunMapChildExecutions"
    actions   = ["states:StartExecution"]
    resources = [local.state_machine_arn]
  }

  statement {
    sid       = "TrackMapChildExecutions"
    actions   = ["states:DescribeExecution", "states:StopExecution"]
    resources = ["${local.executions_arn}/*"]
  }

  # Redriving a failed Map Run (re-running only its failed shards).
  statement {
    sid       = "RedriveMapRuns"
    actions   = ["states:RedriveExecution"]
    resources = ["${local.executions_arn}/*:*"]
  }

  # Log delivery to CloudWatch Logs is configured through these account-level APIs,
  # which take no resource.
  statement {
    sid = "DeliverLogs"
    actions = [
      "logs:CreateLogDelivery",
      "logs:GetLogDelivery",
      "logs:UpdateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:DescribeResourcePolicies",
      "logs:DescribeLogGroups",
    ]
    resources = ["*"]
  }

  # Tracing actions accept no resource scoping.
  statement {
    sid       = "WriteTraces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "state_machine" {
  name   = "run-daily-loop"
  role   = aws_iam_role.state_machine.id
  policy = data.aws_iam_policy_document.state_machine.json
}

# --- the schedule's role ---
data "aws_iam_policy_document" "schedule_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "schedule" {
  name               = "${local.state_machine_name}-schedule"
  assume_role_policy = data.aws_iam_policy_document.schedule_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "schedule" {
  statement {
    sid       = "StartDailyLoop"
    actions   = ["states:StartExecution"]
    resources = [aws_sfn_state_machine.this.arn]
  }
}

resource "aws_iam_role_policy" "schedule" {
  name   = "start-daily-loop"
  role   = aws_iam_role.schedule.id
  policy = data.aws_iam_policy_document.schedule.json
}
