# Shared AWS mock data: terraform/tests/mocks/aws.
mock_provider "aws" {
  source = "../../tests/mocks/aws"
}

variables {
  bucket_name = "reco-123456789012-us-east-1-test"
  kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/test"
}

run "private_encrypted_versioned_by_default" {
  command = apply

  variables {
    lifecycle_rules = [
      { id = "recs", prefix = "recommendations/", expiration_days = 30 },
      { id = "errors", prefix = "errors/", expiration_days = 90, transition_to_ia_days = 30 },
    ]
  }

  assert {
    condition = alltrue([
      aws_s3_bucket_public_access_block.this.block_public_acls,
      aws_s3_bucket_public_access_block.this.block_public_policy,
      aws_s3_bucket_public_access_block.this.ignore_public_acls,
      aws_s3_bucket_public_access_block.this.restrict_public_buckets,
    ])
    error_message = "All four public access blocks must be on."
  }

  assert {
    condition     = one([for r in aws_s3_bucket_server_side_encryption_configuration.this.rule : one(r.apply_server_side_encryption_by_default).sse_algorithm]) == "aws:kms"
    error_message = "Default encryption must be SSE-KMS."
  }

  assert {
    condition     = one(aws_s3_bucket_versioning.this.versioning_configuration).status == "Enabled"
    error_message = "Versioning must be enabled."
  }

  assert {
    condition     = length(aws_s3_bucket_lifecycle_configuration.this.rule) == 3
    error_message = "The bucket-wide rule plus one rule per caller rule expected."
  }

  assert {
    condition     = strcontains(aws_s3_bucket_policy.this[0].policy, "aws:SecureTransport")
    error_message = "The bucket policy must deny non-TLS requests."
  }

  assert {
    condition     = length(aws_s3_bucket_logging.this) == 0 && !aws_s3_bucket.this.force_destroy
    error_message = "No access logging and no force_destroy unless asked."
  }
}

run "access_logging_when_target_given" {
  command = plan

  variables {
    access_log_bucket = "central-logs"
  }

  assert {
    condition     = length(aws_s3_bucket_logging.this) == 1
    error_message = "Access logging must be configured when access_log_bucket is set."
  }
}

run "grants_share_the_one_policy_with_the_tls_deny" {
  command = apply

  variables {
    policy_statements = [{
      sid         = "CloudFrontReadsLatestDocuments"
      principals  = { Service = ["cloudfront.amazonaws.com"] }
      actions     = ["s3:GetObject"]
      object_keys = ["latest/*"]
      condition   = { StringEquals = { "AWS:SourceArn" = ["arn:aws:cloudfront::123456789012:distribution/E1"] } }
    }]
  }

  assert {
    condition     = [for s in jsondecode(aws_s3_bucket_policy.this[0].policy).Statement : s.Sid] == ["DenyInsecureTransport", "CloudFrontReadsLatestDocuments"]
    error_message = "The TLS-only deny and the caller's grant must be statements of one policy."
  }

  assert {
    condition     = jsondecode(aws_s3_bucket_policy.this[0].policy).Statement[1].Resource == ["${aws_s3_bucket.this.arn}/latest/*"] && jsondecode(aws_s3_bucket_policy.this[0].policy).Statement[1].Condition.StringEquals["AWS:SourceArn"] == ["arn:aws:cloudfront::123456789012:distribution/E1"]
    error_message = "A grant must cover only its object keys, under its condition."
  }
}

run "grants_without_the_tls_deny_on_an_emulator" {
  command = plan

  variables {
    deny_insecure_transport = false
    policy_statements = [{
      sid         = "CloudFrontReadsSite"
      principals  = { Service = ["cloudfront.amazonaws.com"] }
      actions     = ["s3:GetObject"]
      object_keys = ["*"]
    }]
  }

  assert {
    condition     = length(aws_s3_bucket_policy.this) == 1 && !strcontains(aws_s3_bucket_policy.this[0].policy, "aws:SecureTransport") && !strcontains(aws_s3_bucket_policy.this[0].policy, "Condition")
    error_message = "Grants alone still make a policy, without the TLS deny and without an empty condition."
  }
}

run "no_policy_without_deny_or_grants" {
  command = plan

  variables {
    deny_insecure_transport = false
  }

  assert {
    condition     = length(aws_s3_bucket_policy.this) == 0
    error_message = "No policy when there is nothing to say."
  }
}

run "rejects_wildcard_principal" {
  command = plan

  variables {
    policy_statements = [{
      sid         = "Everyone"
      principals  = { AWS = ["*"] }
      actions     = ["s3:GetObject"]
      object_keys = ["*"]
    }]
  }

  expect_failures = [var.policy_statements]
}

run "rejects_invalid_bucket_name" {
  command = plan

  variables {
    bucket_name = "Reco_Bucket"
  }

  expect_failures = [var.bucket_name]
}

run "rejects_transition_before_30_days" {
  command = plan

  variables {
    lifecycle_rules = [{ id = "x", prefix = "x/", transition_to_ia_days = 10 }]
  }

  expect_failures = [var.lifecycle_rules]
}
