# The RDS skeleton moved into modules/rds-instance: existing state follows the
# resources to their new addresses (no replacement of the instance).

moved {
  from = aws_db_subnet_group.this
  to   = module.rds.aws_db_subnet_group.this
}

moved {
  from = aws_db_parameter_group.this
  to   = module.rds.aws_db_parameter_group.this
}

moved {
  from = aws_db_instance.this
  to   = module.rds.aws_db_instance.this
}

moved {
  from = aws_iam_role.monitoring
  to   = module.rds.aws_iam_role.monitoring
}

moved {
  from = aws_iam_role_policy.monitoring
  to   = module.rds.aws_iam_role_policy.monitoring
}

moved {
  from = aws_db_instance_role_association.s3_import[0]
  to   = module.rds.aws_db_instance_role_association.this["s3Import"]
}
