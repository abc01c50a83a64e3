# Enhanced Monitoring: RDS assumes this role to publish the OS metrics.
data "aws_iam_policy_document" "monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "monitoring" {
  count = var.monitoring_interval > 0 ? 1 : 0

  name               = "${var.name}-rds-monitoring"
  assume_role_policy = data.aws_iam_policy_document.monitoring_assume.json
  tags               = var.tags
}

# The statements of AWS's AmazonRDSEnhancedMonitoringRole, scoped to this account
# and region: the OS metrics go to the RDSOSMetrics log group.
data "aws_iam_policy_document" "monitoring" {
  statement {
    sid       = "CreateMetricsLogGroup"
    actions   = ["logs:CreateLogGroup", "logs:PutRetentionPolicy"]
    resources = ["arn:${local.partition}:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:RDS*"]
  }

  statement {
    sid = "WriteMetrics"
    actions = [
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "logs:DescribeLogStreams",
      "logs:GetLogEvents",
    ]
    resources = ["arn:${local.partition}:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:RDS*:log-stream:*"]
  }
}

resource "aws_iam_role_policy" "monitoring" {
  count = var.monitoring_interval > 0 ? 1 : 0

  name   = "enhanced-monitoring"
  role   = aws_iam_role.monitoring[0].id
  policy = data.aws_iam_policy_document.monitoring.json
}

# Roles the instance assumes for RDS features (e.g. PostgreSQL's s3Import), by
# feature name.
resource "aws_db_instance_role_association" "this" {
  for_each = var.feature_roles

  db_instance_identifier = aws_db_instance.this.identifier
  feature_name           = each.key
  role_arn               = each.value
}
