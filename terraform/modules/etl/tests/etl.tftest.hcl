# Shared AWS mock data: terraform/tests/mocks/aws.
mock_provider "aws" {
  source = "../../tests/mocks/aws"
}

variables {
  name                  = "reco"
  data_lake_bucket_name = "reco-123456789012-us-east-1-data-lake"
  artifacts_bucket_name = "reco-123456789012-us-east-1-artifacts"
  glue_database_name    = "reco_lake"
  kms_key_arn           = "arn:aws:kms:us-east-1:123456789012:key/test"
  subnet_ids            = ["subnet-a", "subnet-b"]
  security_group_ids    = ["sg-jobs"]
  pipeline_zip_path     = "../../tests/fixtures/bootstrap.zip"
  mysql_secret_arn      = "arn:aws:secretsmanager:us-east-1:123456789012:secret:classicmodels-AbCdEf"
}

run "jobs_buckets_and_catalog" {
  command = apply

  variables {
    create_mysql_secret = true
    mysql_secret_arn    = null
  }

  assert {
    condition     = module.etl_job.function_name == "reco-etl" && module.train_job.function_name == "reco-train"
    error_message = "The jobs must be named <name>-etl and <name>-train."
  }

  assert {
    condition     = output.data_lake_bucket == "reco-123456789012-us-east-1-data-lake" && output.artifacts_bucket == "reco-123456789012-us-east-1-artifacts"
    error_message = "Bucket names must be passed through."
  }

  assert {
    condition     = [for k in aws_glue_catalog_table.training.partition_keys : k.name] == ["snapshot"]
    error_message = "Training rows must be partitioned by snapshot only (never per customer)."
  }

  assert {
    condition     = aws_glue_catalog_table.training.storage_descriptor[0].location == "s3://reco-123456789012-us-east-1-data-lake/training_ratings/"
    error_message = "The table must point at the training prefix of the data lake."
  }

  assert {
    condition     = length(aws_secretsmanager_secret.mysql) == 1 && output.mysql_secret_arn == aws_secretsmanager_secret.mysql[0].arn
    error_message = "With create_mysql_secret an empty secret must be created and used."
  }

  assert {
    condition     = module.etl_job.dead_letter_queue_arn == null && module.train_job.dead_letter_queue_arn == null
    error_message = "The jobs are invoked synchronously by the state machine (which retries and reports): no dead-letter queue."
  }

  assert {
    condition     = output.etl_function_arn == module.etl_job.function_arn && output.train_function_arn == module.train_job.function_arn
    error_message = "The jobs' ARNs must be outputs (the state machine invokes them)."
  }
}

run "existing_secret" {
  command = plan

  assert {
    condition     = length(aws_secretsmanager_secret.mysql) == 0 && output.mysql_secret_arn == "arn:aws:secretsmanager:us-east-1:123456789012:secret:classicmodels-AbCdEf"
    error_message = "An existing secret must be used as is."
  }
}

run "rejects_both_secret_and_created_secret" {
  command = plan

  variables {
    mysql_secret_arn    = "arn:aws:secretsmanager:us-east-1:123456789012:secret:classicmodels-AbCdEf"
    create_mysql_secret = true
  }

  expect_failures = [var.mysql_secret_arn]
}

run "rejects_no_secret_at_all" {
  command = plan

  variables {
    mysql_secret_arn = null
  }

  expect_failures = [var.mysql_secret_arn]
}

run "rejects_athena_incompatible_database_name" {
  command = plan

  variables {
    glue_database_name = "Reco-Lake"
  }

  expect_failures = [var.glue_database_name]
}

run "rejects_too_little_memory" {
  command = plan

  variables {
    train_memory_size = 64
  }

  expect_failures = [var.train_memory_size]
}

run "rejects_bad_secret_recovery_window" {
  command = plan

  variables {
    secret_recovery_window_days = 3
  }

  expect_failures = [var.secret_recovery_window_days]
}

run "rejects_negative_event_weight" {
  command = plan

  variables {
    event_weights = { purchase = -1 }
  }

  expect_failures = [var.event_weights]
}
