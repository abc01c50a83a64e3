# Shared AWS mock data: terraform/tests/mocks/aws.
mock_provider "aws" {
  source = "../../tests/mocks/aws"
}

variables {
  name                        = "reco"
  kms_key_arn                 = "arn:aws:kms:us-east-1:123456789012:key/test"
  pipeline_zip_path           = "../../tests/fixtures/bootstrap.zip"
  subnet_ids                  = ["subnet-a", "subnet-b"]
  loader_security_group_ids   = ["sg-loader"]
  scoring_security_group_ids  = ["sg-scoring"]
  etl_function_arn            = "arn:aws:lambda:us-east-1:123456789012:function:reco-etl"
  train_function_arn          = "arn:aws:lambda:us-east-1:123456789012:function:reco-train"
  topic_arn                   = "arn:aws:sns:us-east-1:123456789012:reco-notifications"
  artifacts_bucket_name       = "reco-123456789012-us-east-1-artifacts"
  artifacts_bucket_arn        = "arn:aws:s3:::reco-123456789012-us-east-1-artifacts"
  data_lake_bucket_name       = "reco-123456789012-us-east-1-data-lake"
  data_lake_bucket_arn        = "arn:aws:s3:::reco-123456789012-us-east-1-data-lake"
  recommendations_bucket_name = "reco-123456789012-us-east-1-recommendations"
  recommendations_bucket_arn  = "arn:aws:s3:::reco-123456789012-us-east-1-recommendations"
  pg_secret_arn               = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds-AbCdEf"
  pg_host                     = "reco-vector-db.abc.us-east-1.rds.amazonaws.com"
  pg_database                 = "reco"
  transform_function_name     = "reco-transform"
  alarm_actions               = ["arn:aws:sns:us-east-1:123456789012:reco-notifications"]
}

run "state_machine_from_the_generated_definition" {
  command = apply

  assert {
    condition     = aws_sfn_state_machine.this.name == "reco-pipeline" && aws_sfn_state_machine.this.type == "STANDARD"
    error_message = "The daily loop must be a STANDARD state machine named <name>-pipeline."
  }

  assert {
    condition     = one(aws_sfn_state_machine.this.logging_configuration).level == "ERROR" && one(aws_sfn_state_machine.this.logging_configuration).include_execution_data == false && one(aws_sfn_state_machine.this.logging_configuration).log_destination == "${aws_cloudwatch_log_group.state_machine.arn}:*"
    error_message = "The state machine must log errors, without execution data, to its own log group."
  }

  assert {
    condition     = one(aws_sfn_state_machine.this.tracing_configuration).enabled
    error_message = "X-Ray tracing must be on."
  }

  assert {
    condition     = jsondecode(aws_sfn_state_machine.this.definition).StartAt == "Etl"
    error_message = "The loop starts with the ETL."
  }

  assert {
    condition     = jsondecode(aws_sfn_state_machine.this.definition).States.Etl.Parameters.FunctionName == var.etl_function_arn && jsondecode(aws_sfn_state_machine.this.definition).States.Train.Parameters.FunctionName == var.train_function_arn
    error_message = "The Etl and Train tasks must invoke the etl module's functions."
  }

  assert {
    condition     = jsondecode(aws_sfn_state_machine.this.definition).States.ScoreAll.ItemProcessor.ProcessorConfig.Mode == "DISTRIBUTED" && jsondecode(aws_sfn_state_machine.this.definition).States.ScoreAll.MaxConcurrency == 10
    error_message = "ScoreAll must be a Distributed Map with score_max_concurrency (10) shards at once."
  }

  assert {
    condition     = jsondecode(aws_sfn_state_machine.this.definition).States.NotifyFailure.Parameters.TopicArn == var.topic_arn && jsondecode(aws_sfn_state_machine.this.definition).States.LoadEmbeddings.Parameters.FunctionName == module.load_embeddings.function_arn
    error_message = "The topic and the module's own functions must be rendered into the definition."
  }

  assert {
    condition     = aws_cloudwatch_log_group.state_machine.name == "/aws/vendedlogs/states/reco-pipeline" && aws_cloudwatch_log_group.state_machine.kms_key_id == var.kms_key_arn
    error_message = "The state machine's log group must be KMS-encrypted under /aws/vendedlogs/states/."
  }
}

run "functions_of_the_loop" {
  command = plan

  assert {
    condition     = module.load_embeddings.function_name == "reco-load-embeddings" && module.score_all.function_name == "reco-score-all"
    error_message = "The new functions must be <name>-load-embeddings and <name>-score-all."
  }

  assert {
    condition = local.load_embeddings_environment == {
      RECO_PG_SECRET_ARN    = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds-AbCdEf"
      RECO_PG_HOST          = "reco-vector-db.abc.us-east-1.rds.amazonaws.com"
      RECO_PG_PORT          = "5432"
      RECO_PG_DATABASE      = "reco"
      RECO_ARTIFACTS_BUCKET = "reco-123456789012-us-east-1-artifacts"
      RECO_MODEL_PREFIX     = "models/"
    }
    error_message = "The loader's environment must be the contract's."
  }

  assert {
    condition = local.score_all_environment == {
      RECO_ARTIFACTS_BUCKET = "reco-123456789012-us-east-1-artifacts"
      RECO_MODEL_PREFIX     = "models/"
      RECO_DATA_LAKE_BUCKET = "reco-123456789012-us-east-1-data-lake"
      RECO_RECS_BUCKET      = "reco-123456789012-us-east-1-recommendations"
    }
    error_message = "The scorer's environment must be the contract's."
  }

}

run "one_schedule_starts_the_loop" {
  command = apply

  assert {
    condition     = aws_cloudwatch_event_rule.schedule.schedule_expression == "cron(0 2 * * ? *)" && aws_cloudwatch_event_rule.schedule.state == "ENABLED"
    error_message = "The loop runs daily at 02:00 UTC by default."
  }

  assert {
    condition     = aws_cloudwatch_event_target.schedule.arn == aws_sfn_state_machine.this.arn && aws_cloudwatch_event_target.schedule.role_arn == aws_iam_role.schedule.arn
    error_message = "The schedule must start the state machine through its own role."
  }

  assert {
    condition     = aws_cloudwatch_event_target.execution_ended_abnormally.arn == var.topic_arn && jsondecode(aws_cloudwatch_event_rule.execution_ended_abnormally.event_pattern).detail.status == ["TIMED_OUT", "ABORTED"]
    error_message = "Timed-out and aborted executions must reach the topic."
  }

  assert {
    condition     = toset([for a in aws_cloudwatch_metric_alarm.executions : a.metric_name]) == toset(["ExecutionsFailed", "ExecutionsTimedOut"]) && alltrue([for a in aws_cloudwatch_metric_alarm.executions : a.alarm_actions == toset(var.alarm_actions) && a.dimensions["StateMachineArn"] == aws_sfn_state_machine.this.arn])
    error_message = "Failed and timed-out executions must raise alarms to the alarm actions."
  }
}

run "dashboard_shows_every_metric" {
  command = plan

  assert {
    condition = alltrue([
      for m in [
        "RecordsOk", "RecordsFailed", "RecordsDropped", "ResponseFull", "BatchRecords", "KnnMilliseconds",
        "DocumentsPublished", "DocumentsKept", "FreshnessSeconds", "RowsExtracted", "RowsRejected", "EtlSeconds",
        "EventsRead", "EventRowsWritten",
        "TrainingSeconds", "NdcgAt10", "PopularityNdcgAt10", "ModelAccepted", "CustomersScored", "ShardSeconds",
        "ItemsLoaded", "UsersLoaded", "LoadSeconds", "ExecutionsFailed", "ExecutionsTimedOut",
      ] : strcontains(aws_cloudwatch_dashboard.this.dashboard_body, "\"${m}\"")
    ])
    error_message = "The dashboard must show every EMF metric of the contract and the executions."
  }

  assert {
    condition     = toset(flatten([for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : [for m in w.properties.metrics : m[3] if length(m) > 3 && m[0] == "reco"]])) == toset(["transform", "publisher", "etl", "train", "score-all", "load-embeddings"])
    error_message = "EMF widgets must use namespace reco with the Service of each binary."
  }

  assert {
    condition     = strcontains(aws_cloudwatch_dashboard.this.dashboard_body, "\"FunctionName\",\"reco-transform\"")
    error_message = "The dashboard must show the transform Lambda's errors."
  }
}

run "disabled_schedule_and_other_sizes" {
  command = plan

  variables {
    enable_schedule       = false
    schedule_expression   = "cron(30 1 * * ? *)"
    score_max_concurrency = 40
    customers_per_shard   = 50000
    max_shards            = 200
  }

  assert {
    condition     = aws_cloudwatch_event_rule.schedule.state == "DISABLED" && aws_cloudwatch_event_rule.schedule.schedule_expression == "cron(30 1 * * ? *)"
    error_message = "enable_schedule = false must disable the schedule."
  }

  assert {
    condition     = jsondecode(local.definition).States.ScoreAll.MaxConcurrency == 40
    error_message = "score_max_concurrency must reach the map."
  }

  assert {
    condition     = strcontains(local.definition, "50000") && strcontains(local.definition, "200")
    error_message = "customers_per_shard and max_shards must reach the plan step."
  }
}

run "rejects_bad_schedule" {
  command = plan

  variables {
    schedule_expression = "every day"
  }

  expect_failures = [var.schedule_expression]
}

run "rejects_zero_concurrency" {
  command = plan

  variables {
    score_max_concurrency = 0
  }

  expect_failures = [var.score_max_concurrency]
}

run "rejects_fractional_shards" {
  command = plan

  variables {
    max_shards = 2.5
  }

  expect_failures = [var.max_shards]
}
