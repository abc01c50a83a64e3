# S3 traffic (data lake, artifacts, recommendations) stays on the AWS network for free.
# Its policy lets the VPC reach the project's buckets and no other: a function (or
# anything else in the VPC) with stolen or broader credentials cannot copy data to a
# bucket outside the stack, nor read one. Actions are what the functions call:
# ListObjectsV2 (s3:ListBucket); GetObject and HeadObject (s3:GetObject); PutObject,
# multipart parts and conditional puts with If-None-Match / If-Match (s3:PutObject);
# DeleteObject(s) (s3:DeleteObject, the ETL replacing a re-run snapshot); aborting a
# multipart upload (s3:AbortMultipartUpload). Requests must be signed by the stack's
# account. Each function's IAM policy narrows this further to its own prefixes.
locals {
  s3_endpoint_bucket_actions = ["s3:ListBucket"]
  s3_endpoint_object_actions = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
  s3_endpoint_account_only = {
    StringEquals = { "aws:PrincipalAccount" = data.aws_caller_identity.current.account_id }
  }
  s3_endpoint_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "ListProjectBuckets"
        Effect    = "Allow"
        Principal = "*"
        Action    = local.s3_endpoint_bucket_actions
        Resource  = sort(distinct(var.s3_bucket_arns))
        Condition = local.s3_endpoint_account_only
      },
      {
        Sid       = "ReadWriteProjectObjects"
        Effect    = "Allow"
        Principal = "*"
        Action    = local.s3_endpoint_object_actions
        Resource  = [for arn in sort(distinct(var.s3_bucket_arns)) : "${arn}/*"]
        Condition = local.s3_endpoint_account_only
      },
    ]
  })
}

resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${data.aws_region.current.name}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.private.id]
  policy            = local.s3_endpoint_policy
  tags              = merge(var.tags, { Name = "${var.name}-s3" })
}

# The AWS APIs the functions call from inside the VPC (Secrets Manager, Glue).
resource "aws_vpc_endpoint" "interface" {
  for_each = var.egress_mode == "endpoints" ? toset(var.interface_endpoint_services) : toset([])

  vpc_id              = aws_vpc.this.id
  service_name        = "com.amazonaws.${data.aws_region.current.name}.${each.key}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = aws_subnet.private[*].id
  security_group_ids  = [aws_security_group.endpoints.id]
  private_dns_enabled = true
  tags                = merge(var.tags, { Name = "${var.name}-${each.key}" })
}
