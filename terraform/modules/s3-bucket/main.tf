data "aws_partition" "current" {}

# A private, encrypted, versioned bucket with a TLS-only policy and lifecycle
# rules; every bucket of the pipeline is one of these.
resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_144:Cross-region replication is not needed: every object is derived from the source database and can be regenerated; replication would double storage cost.
  #checkov:skip=CKV2_AWS_62:Notifications belong to the caller that consumes them (streaming-inference notifies the publisher's queue of delivered objects); the other buckets have no consumer of object-created events.
  #checkov:skip=CKV_AWS_18:Server access logging is switched by var.access_log_bucket (aws_s3_bucket_logging below); the target bucket belongs to the account's central logging, not to this stack.
  bucket        = var.bucket_name
  force_destroy = var.force_destroy
  tags          = var.tags
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket = aws_s3_bucket.this.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    # Bucket keys cut KMS requests (and cost) for Firehose's many small objects.
    bucket_key_enabled = true
  }
}

locals {
  deny_insecure_transport = {
    Sid       = "DenyInsecureTransport"
    Effect    = "Deny"
    Principal = "*"
    Action    = "s3:*"
    Resource = [
      aws_s3_bucket.this.arn,
      "${aws_s3_bucket.this.arn}/*",
    ]
    Condition = {
      Bool = { "aws:SecureTransport" = "false" }
    }
  }
  # The caller's grants, on object keys relative to this bucket.
  extra_statements = [
    for s in var.policy_statements : merge(
      {
        Sid       = s.sid
        Effect    = "Allow"
        Principal = s.principals
        Action    = s.actions
        Resource  = [for k in s.object_keys : "${aws_s3_bucket.this.arn}/${k}"]
      },
      length(s.condition) > 0 ? { Condition = s.condition } : {},
    )
  ]
  policy_statements = concat(var.deny_insecure_transport ? [local.deny_insecure_transport] : [], local.extra_statements)
}

# A bucket has one policy: the TLS-only deny and the caller's grants live in it together.
resource "aws_s3_bucket_policy" "this" {
  count  = var.deny_insecure_transport || length(var.policy_statements) > 0 ? 1 : 0
  bucket = aws_s3_bucket.this.id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.policy_statements
  })

  # S3 rejects policy writes that race the public access block.
  depends_on = [aws_s3_bucket_public_access_block.this]
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  #checkov:skip=CKV_AWS_300:False positive: the first rule below aborts incomplete uploads after 7 days for the whole bucket; checkov misreads rules mixed with nested dynamic blocks.
  bucket = aws_s3_bucket.this.id

  # Applies to every object: old versions and abandoned uploads only cost money.
  rule {
    id     = "noncurrent-versions-and-incomplete-uploads"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  dynamic "rule" {
    for_each = var.lifecycle_rules
    content {
      id     = rule.value.id
      status = "Enabled"

      filter {
        prefix = rule.value.prefix
      }

      dynamic "transition" {
        for_each = rule.value.transition_to_ia_days == null ? [] : [rule.value.transition_to_ia_days]
        content {
          days          = transition.value
          storage_class = "STANDARD_IA"
        }
      }

      dynamic "expiration" {
        for_each = rule.value.expiration_days == null ? [] : [rule.value.expiration_days]
        content {
          days = expiration.value
        }
      }
    }
  }

  # Lifecycle configuration needs versioning settled first.
  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_logging" "this" {
  count = var.access_log_bucket == null ? 0 : 1

  bucket        = aws_s3_bucket.this.id
  target_bucket = var.access_log_bucket
  target_prefix = "s3/${var.bucket_name}/"
}
