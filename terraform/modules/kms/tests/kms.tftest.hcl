# Shared AWS mock data: terraform/tests/mocks/aws.
mock_provider "aws" {
  source = "../../tests/mocks/aws"
}

run "creates_key_with_rotation_and_alias" {
  command = plan

  variables {
    name = "reco"
  }

  assert {
    condition     = aws_kms_key.this.enable_key_rotation
    error_message = "Key rotation must be on."
  }

  assert {
    condition     = aws_kms_alias.this.name == "alias/reco"
    error_message = "The alias must be alias/<name>."
  }

  assert {
    condition     = !strcontains(aws_kms_key.this.policy, "\"Principal\":\"*\"") && !strcontains(aws_kms_key.this.policy, "\"AWS\":\"*\"")
    error_message = "The key policy must not grant a wildcard principal."
  }

  assert {
    condition = one([
      for s in jsondecode(aws_kms_key.this.policy).Statement : s
      if s.Principal == { Service = "s3.amazonaws.com" }
    ]).Condition.StringEquals["aws:SourceAccount"] == "123456789012"
    error_message = "S3 may use the key for queue notifications only on behalf of this account."
  }

  assert {
    condition = one([
      for s in jsondecode(aws_kms_key.this.policy).Statement : s
      if s.Principal == { Service = "cloudfront.amazonaws.com" }
    ]).Condition.ArnLike["AWS:SourceArn"] == "arn:aws:cloudfront::123456789012:distribution/*"
    error_message = "CloudFront may decrypt only for this account's distributions."
  }

  assert {
    condition = one([
      for s in jsondecode(aws_kms_key.this.policy).Statement : s.Action
      if s.Principal == { Service = "cloudfront.amazonaws.com" }
    ]) == "kms:Decrypt"
    error_message = "CloudFront only decrypts."
  }
}

run "rejects_reserved_alias" {
  command = plan

  variables {
    name = "aws/reco"
  }

  expect_failures = [var.name]
}

run "rejects_short_deletion_window" {
  command = plan

  variables {
    name                    = "reco"
    deletion_window_in_days = 3
  }

  expect_failures = [var.deletion_window_in_days]
}

run "lets_alarms_and_rules_publish_to_encrypted_topics" {
  command = plan

  variables {
    name = "reco"
  }

  assert {
    condition = one([
      for s in jsondecode(aws_kms_key.this.policy).Statement : s
      if s.Principal == { Service = "cloudwatch.amazonaws.com" }
    ]).Condition.ArnLike["aws:SourceArn"] == "arn:aws:cloudwatch:us-east-1:123456789012:alarm:*"
    error_message = "CloudWatch may use the key only for this account's alarms."
  }

  assert {
    condition = one([
      for s in jsondecode(aws_kms_key.this.policy).Statement : s.Action
      if s.Principal == { Service = "events.amazonaws.com" }
    ]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    error_message = "EventBridge only encrypts messages for the topic (decrypt and data keys)."
  }
}
