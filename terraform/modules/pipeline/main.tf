data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name

  model_prefix    = trimsuffix(var.model_prefix, "/")
  training_prefix = trimsuffix(var.training_prefix, "/")
  latest_prefix   = trimsuffix(var.latest_prefix, "/")

  state_machine_name = "${var.name}-pipeline"
  # Known before the state machine exists, so its role's policy (which the state
  # machine needs first) can name it and its executions.
  state_machine_arn = "arn:${local.partition}:states:${local.region}:${local.account}:stateMachine:${local.state_machine_name}"
  executions_arn    = "arn:${local.partition}:states:${local.region}:${local.account}:execution:${local.state_machine_name}"

  # The four functions the definition invokes; the template's variables are exactly
  # these, the topic and the three numbers (the contract of crates/reco-pipeline).
  function_arns = {
    etl_function_arn   = var.etl_function_arn
    train_function_arn = var.train_function_arn
    load_function_arn  = module.load_embeddings.function_arn
    score_function_arn = module.score_all.function_arn
  }
  definition = templatefile("${path.module}/state-machine.asl.json.tftpl", merge(local.function_arns, {
    topic_arn             = var.topic_arn
    score_max_concurrency = var.score_max_concurrency
    customers_per_shard   = var.customers_per_shard
    max_shards            = var.max_shards
  }))
}

# Execution history is in Step Functions itself; the log group keeps the errors
# (level ERROR, without execution data: payloads stay out of the logs). The
# /aws/vendedlogs/ prefix keeps CloudWatch Logs' resource policy small.
resource "aws_cloudwatch_log_group" "state_machine" {
  name              = "/aws/vendedlogs/states/${local.state_machine_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

# The daily loop: ETL -> train -> gate -> load embeddings -> plan shards -> score every
# customer (Distributed Map) -> publish -> notify. Generated from the step description
# in crates/reco-pipeline (`reco pipeline definition`), which the local runner
# `reco pipeline run` follows too.
resource "aws_sfn_state_machine" "this" {
  #checkov:skip=CKV_AWS_285:Step Functions keeps every execution's history and data itself (90 days); the log group gets errors without execution data on purpose, so model and customer payloads stay out of CloudWatch Logs.
  name       = local.state_machine_name
  role_arn   = aws_iam_role.state_machine.arn
  type       = "STANDARD"
  definition = local.definition

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.state_machine.arn}:*"
    include_execution_data = false
    level                  = "ERROR"
  }

  tracing_configuration {
    enabled = true
  }

  tags = var.tags

  # Step Functions checks at creation that the role may deliver logs and invoke.
  depends_on = [aws_iam_role_policy.state_machine]
}
