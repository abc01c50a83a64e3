# Shared AWS mock data: terraform/tests/mocks/aws.
mock_provider "aws" {
  source = "../../tests/mocks/aws"
}

variables {
  name        = "reco"
  kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/test"
}

run "encrypted_topic_without_subscription" {
  command = plan

  assert {
    condition     = aws_sns_topic.this.name == "reco-notifications" && aws_sns_topic.this.kms_master_key_id == "arn:aws:kms:us-east-1:123456789012:key/test"
    error_message = "The topic must be <name>-notifications, encrypted with the stack's key."
  }

  assert {
    condition     = length(aws_sns_topic_subscription.email) == 0
    error_message = "No e-mail subscription without notification_email."
  }
}

run "alarms_and_rules_of_this_account_publish" {
  command = apply

  assert {
    condition = one([
      for s in jsondecode(aws_sns_topic_policy.this.policy).Statement : s
      if s.Principal == { Service = "cloudwatch.amazonaws.com" }
    ]).Condition.ArnLike["aws:SourceArn"] == "arn:aws:cloudwatch:us-east-1:123456789012:alarm:*"
    error_message = "CloudWatch may publish only for this account's alarms."
  }

  assert {
    condition = one([
      for s in jsondecode(aws_sns_topic_policy.this.policy).Statement : s
      if s.Principal == { Service = "events.amazonaws.com" }
    ]).Condition.StringEquals["aws:SourceAccount"] == "123456789012"
    error_message = "EventBridge may publish only for this account's rules."
  }

  assert {
    condition     = !strcontains(aws_sns_topic_policy.this.policy, "\"AWS\":\"*\"")
    error_message = "The topic policy must not grant a wildcard principal."
  }

  assert {
    condition     = output.topic_arn == aws_sns_topic.this.arn
    error_message = "The topic ARN must be an output."
  }
}

run "email_subscription" {
  command = plan

  variables {
    email = "ops@example.com"
  }

  assert {
    condition     = length(aws_sns_topic_subscription.email) == 1 && aws_sns_topic_subscription.email[0].protocol == "email" && aws_sns_topic_subscription.email[0].endpoint == "ops@example.com"
    error_message = "notification_email must subscribe that address by e-mail."
  }
}

run "rejects_bad_email" {
  command = plan

  variables {
    email = "not an address"
  }

  expect_failures = [var.email]
}
