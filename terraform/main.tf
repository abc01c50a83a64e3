data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  # Bucket names are global: account and region make them unique per deployment.
  bucket_prefix = "${var.name_prefix}-${data.aws_caller_identity.current.account_id}-${data.aws_region.current.name}"
  glue_database = "${replace(var.name_prefix, "-", "_")}_lake"
  # Named here so vector-db gets the artifacts bucket's ARN from its name rather than
  # from module.etl's output: checkov cannot render a module (vector-db's RDS instance)
  # nested in a module whose inputs come from another module's nested module, and
  # would skip its checks.
  artifacts_bucket     = "${local.bucket_prefix}-artifacts"
  artifacts_bucket_arn = "arn:${data.aws_partition.current.partition}:s3:::${local.artifacts_bucket}"
  # Every bucket something in the VPC reads or writes: the S3 gateway endpoint allows
  # these and no other (names, not module outputs: the network comes first).
  vpc_bucket_arns = [
    for b in ["data-lake", "artifacts", "recommendations"] :
    "arn:${data.aws_partition.current.partition}:s3:::${local.bucket_prefix}-${b}"
  ]

  dist_dir       = abspath("${path.root}/../dist/lambda")
  transform_zip  = coalesce(var.transform_lambda_zip, "${local.dist_dir}/transform.zip")
  pipeline_zip   = coalesce(var.pipeline_lambda_zip, "${local.dist_dir}/pipeline.zip")
  publisher_zip  = coalesce(var.publisher_lambda_zip, "${local.dist_dir}/publisher.zip")
  web_dir        = coalesce(var.storefront_web_dir, abspath("${path.root}/../web"))
  model_prefix   = "models/"
  retention_days = var.log_retention_days
  # Every alarm of every module tells the stack's topic, and whatever else is given.
  alarm_actions = concat([module.notifications.topic_arn], var.alarm_actions)
}

module "kms" {
  source = "./modules/kms"

  name                    = var.name_prefix
  deletion_window_in_days = var.kms_deletion_window_days
}

# The operators' topic: alarms, and the daily loop's messages (new version live,
# refused model, failure). Depends on the key only, so every module can use it.
module "notifications" {
  source = "./modules/notifications"

  name        = var.name_prefix
  kms_key_arn = module.kms.key_arn
  email       = var.notification_email
}

module "network" {
  source = "./modules/network"

  name                        = var.name_prefix
  vpc_cidr                    = var.vpc_cidr
  egress_mode                 = var.vpc_egress_mode
  mysql_cidr_blocks           = var.mysql_cidr_blocks
  postgres_client_cidr_blocks = var.postgres_client_cidr_blocks
  mysql_client_cidr_blocks    = var.mysql_client_cidr_blocks
  enable_flow_logs            = var.enable_flow_logs
  s3_bucket_arns              = local.vpc_bucket_arns
  log_retention_days          = local.retention_days
  kms_key_arn                 = module.kms.key_arn
}

# The source MySQL, for accounts without one (create_source_db); otherwise the jobs
# read an existing database through var.mysql_secret_arn.
# Its master password is generated anew in every plan/apply and never stored; the
# module sends it (write-only) only when source_db_password_version changes.
ephemeral "aws_secretsmanager_random_password" "source_db" {
  count = var.create_source_db ? 1 : 0

  password_length     = 32
  exclude_punctuation = true # it also goes into connection URLs
}

module "source_db" {
  source = "./modules/source-db"
  count  = var.create_source_db ? 1 : 0

  name                        = "${var.name_prefix}-source-db"
  engine_version              = var.source_db_engine_version
  instance_class              = var.source_db_instance_class
  multi_az                    = var.source_db_multi_az
  deletion_protection         = var.source_db_deletion_protection
  skip_final_snapshot         = var.source_db_skip_final_snapshot
  apply_immediately           = var.source_db_apply_immediately
  secret_recovery_window_days = var.secret_recovery_window_days
  master_password             = ephemeral.aws_secretsmanager_random_password.source_db[0].random_password
  password_version            = var.source_db_password_version
  subnet_ids                  = module.network.private_subnet_ids
  security_group_ids          = [module.network.mysql_security_group_id]
  kms_key_arn                 = module.kms.key_arn
}

module "etl" {
  source = "./modules/etl"

  name                        = var.name_prefix
  data_lake_bucket_name       = "${local.bucket_prefix}-data-lake"
  artifacts_bucket_name       = local.artifacts_bucket
  glue_database_name          = local.glue_database
  model_prefix                = local.model_prefix
  kms_key_arn                 = module.kms.key_arn
  subnet_ids                  = module.network.private_subnet_ids
  security_group_ids          = [module.network.jobs_security_group_id]
  mysql_secret_arn            = var.create_source_db ? module.source_db[0].etl_secret_arn : var.mysql_secret_arn # created: reco_etl, SELECT only
  create_mysql_secret         = !var.create_source_db && var.mysql_secret_arn == null
  secret_recovery_window_days = var.secret_recovery_window_days
  pipeline_zip_path           = local.pipeline_zip
  log_retention_days          = local.retention_days
  force_destroy               = var.force_destroy_buckets
  deny_insecure_transport     = var.buckets_deny_insecure_transport
  alarm_actions               = local.alarm_actions
}

module "vector_db" {
  source = "./modules/vector-db"

  name                         = "${var.name_prefix}-vector-db"
  engine_version               = var.pg_engine_version
  instance_class               = var.pg_instance_class
  multi_az                     = var.pg_multi_az
  deletion_protection          = var.pg_deletion_protection
  skip_final_snapshot          = var.pg_skip_final_snapshot
  apply_immediately            = var.pg_apply_immediately
  associate_s3_import_role     = var.pg_associate_s3_import_role
  secret_recovery_window_days  = var.secret_recovery_window_days
  performance_insights_enabled = var.pg_performance_insights_enabled
  subnet_ids                   = module.network.private_subnet_ids
  security_group_ids           = [module.network.postgres_security_group_id]
  kms_key_arn                  = module.kms.key_arn
  artifacts_bucket_arn         = local.artifacts_bucket_arn
  model_prefix                 = local.model_prefix
  alarm_actions                = local.alarm_actions
}

module "streaming_inference" {
  source = "./modules/streaming-inference"

  name                           = var.name_prefix
  kms_key_arn                    = module.kms.key_arn
  stream_mode                    = var.stream_mode
  shard_count                    = var.stream_shard_count
  transform_zip_path             = local.transform_zip
  transform_reserved_concurrency = var.transform_reserved_concurrency
  subnet_ids                     = module.network.private_subnet_ids
  security_group_ids             = [module.network.transform_security_group_id]
  pg_host                        = module.vector_db.endpoint
  pg_port                        = module.vector_db.port
  pg_database                    = module.vector_db.database_name
  pg_secret_arn                  = module.vector_db.reader_secret_arn # reco_reader: SELECT only
  artifacts_bucket_name          = module.etl.artifacts_bucket
  artifacts_bucket_arn           = module.etl.artifacts_bucket_arn
  model_prefix                   = local.model_prefix
  knn_k                          = var.knn_k
  ef_search                      = var.ef_search
  exact_knn_max_items            = var.exact_knn_max_items
  knn_cache_items                = var.knn_cache_items
  customer_vector_cache          = var.customer_vector_cache
  memory_index_max_mb            = var.memory_index_max_mb
  knn_recall_target              = var.knn_recall_target
  recommendations_bucket_name    = "${local.bucket_prefix}-recommendations"
  glue_database_name             = module.etl.glue_database
  data_lake_bucket_name          = module.etl.data_lake_bucket
  data_lake_bucket_arn           = module.etl.data_lake_bucket_arn
  publisher_zip_path             = local.publisher_zip
  # The storefront reads latest/* of the bucket (one bucket policy, built in the module).
  recommendations_bucket_policy_statements = module.storefront.recommendations_bucket_policy_statements
  buffering_size_mb                        = var.firehose_buffering_size_mb
  buffering_interval_seconds               = var.firehose_buffering_interval_seconds
  compression_format                       = var.firehose_compression_format
  log_retention_days                       = local.retention_days
  force_destroy                            = var.force_destroy_buckets
  deny_insecure_transport                  = var.buckets_deny_insecure_transport
  alarm_actions                            = local.alarm_actions
  processing_failed_percent_alarm          = var.processing_failed_percent_alarm
  freshness_alarm_seconds                  = var.freshness_alarm_seconds
}

# The storefront: the page and the customers' latest documents behind one CloudFront
# distribution (one origin for the browser).
module "storefront" {
  source = "./modules/storefront"

  name                                        = var.name_prefix
  site_bucket_name                            = "${local.bucket_prefix}-site"
  kms_key_arn                                 = module.kms.key_arn
  web_dir                                     = local.web_dir
  recommendations_bucket_regional_domain_name = module.streaming_inference.recommendations_bucket_regional_domain_name
  latest_prefix                               = module.streaming_inference.latest_prefix
  price_class                                 = var.storefront_price_class
  latest_default_ttl_seconds                  = var.storefront_latest_ttl_seconds
  use_cache_policies                          = var.storefront_cache_policies
  access_log_bucket                           = var.storefront_access_log_bucket
  web_acl_arn                                 = var.storefront_web_acl_arn
  aliases                                     = var.storefront_aliases
  acm_certificate_arn                         = var.storefront_acm_certificate_arn
  force_destroy                               = var.force_destroy_buckets
  deny_insecure_transport                     = coalesce(var.site_bucket_deny_insecure_transport, var.buckets_deny_insecure_transport)
}

# The least-privilege database roles (reco_reader, reco_loader; reco_etl in the created
# source database) and their secrets: a function inside the VPC, the only reader of the
# master secrets, runs the migration (sql/roles/*.sql) and Terraform invokes it after
# apply. The emulator cannot run Lambdas: there `reco db migrate` runs it.
module "db_roles" {
  source = "./modules/db-roles"

  name                    = var.name_prefix
  kms_key_arn             = module.kms.key_arn
  pipeline_zip_path       = local.pipeline_zip
  subnet_ids              = module.network.private_subnet_ids
  security_group_ids      = [module.network.loader_security_group_id, module.network.jobs_security_group_id]
  pg_host                 = module.vector_db.endpoint
  pg_port                 = module.vector_db.port
  pg_database             = module.vector_db.database_name
  pg_master_secret_arn    = module.vector_db.master_secret_arn
  pg_reader_secret_arn    = module.vector_db.reader_secret_arn
  pg_loader_secret_arn    = module.vector_db.loader_secret_arn
  mysql_master_secret_arn = var.create_source_db ? module.source_db[0].connection_secret_arn : null
  mysql_etl_secret_arn    = var.create_source_db ? module.source_db[0].etl_secret_arn : null
  run_migration           = var.run_database_migration
  log_retention_days      = local.retention_days
  alarm_actions           = local.alarm_actions

  # The master connection secret's value and the instances must exist before it runs.
  depends_on = [module.source_db, module.vector_db]
}

# The daily loop: one schedule starts the state machine (ETL -> train -> gate -> load
# embeddings -> score every customer -> publish -> notify), the two functions of its
# own (load-embeddings, score-all), the executions' alarms and the stack's dashboard.
module "pipeline" {
  source = "./modules/pipeline"

  name                        = var.name_prefix
  kms_key_arn                 = module.kms.key_arn
  pipeline_zip_path           = local.pipeline_zip
  subnet_ids                  = module.network.private_subnet_ids
  loader_security_group_ids   = [module.network.loader_security_group_id]
  scoring_security_group_ids  = [module.network.scoring_security_group_id]
  etl_function_arn            = module.etl.etl_function_arn
  train_function_arn          = module.etl.train_function_arn
  topic_arn                   = module.notifications.topic_arn
  artifacts_bucket_name       = module.etl.artifacts_bucket
  artifacts_bucket_arn        = module.etl.artifacts_bucket_arn
  model_prefix                = local.model_prefix
  data_lake_bucket_name       = module.etl.data_lake_bucket
  data_lake_bucket_arn        = module.etl.data_lake_bucket_arn
  training_prefix             = module.etl.training_prefix
  recommendations_bucket_name = module.streaming_inference.recommendations_bucket
  recommendations_bucket_arn  = module.streaming_inference.recommendations_bucket_arn
  latest_prefix               = module.streaming_inference.latest_prefix
  pg_secret_arn               = module.vector_db.loader_secret_arn # reco_loader: its own tables only
  pg_host                     = module.vector_db.endpoint
  pg_port                     = module.vector_db.port
  pg_database                 = module.vector_db.database_name
  schedule_expression         = var.pipeline_schedule_expression
  enable_schedule             = var.enable_schedules
  score_max_concurrency       = var.score_max_concurrency
  customers_per_shard         = var.customers_per_shard
  max_shards                  = var.max_shards
  transform_function_name     = module.streaming_inference.transform_function_name
  log_retention_days          = local.retention_days
  alarm_actions               = local.alarm_actions
}
