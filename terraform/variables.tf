variable "aws_region" {
  description = "AWS region of the whole stack."
  type        = string
  default     = "us-east-1"
}

variable "aws_endpoint_url" {
  description = "Send every AWS API call to this endpoint (the local emulator, e.g. http://127.0.0.1:5000); null for real AWS."
  type        = string
  default     = null

  validation {
    condition     = var.aws_endpoint_url == null ? true : can(regex("^https?://", var.aws_endpoint_url))
    error_message = "aws_endpoint_url must be an http:// or https:// URL, or null."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name (functions become <prefix>-etl, <prefix>-transform, ...)."
  type        = string
  default     = "reco"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,14}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-16 lowercase letters, digits or '-', starting with a letter (bucket names must stay under 63 characters)."
  }
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}

variable "transform_lambda_zip" {
  description = "Path to the transform Lambda zip; null means dist/lambda/transform.zip (built by `make build-lambda`)."
  type        = string
  default     = null
}

variable "pipeline_lambda_zip" {
  description = "Path to the pipeline Lambda zip (reco-pipeline-lambda: the etl, train, load-embeddings and score-all functions); null means dist/lambda/pipeline.zip."
  type        = string
  default     = null
}

variable "publisher_lambda_zip" {
  description = "Path to the publisher Lambda zip; null means dist/lambda/publisher.zip."
  type        = string
  default     = null
}

variable "kms_deletion_window_days" {
  description = "Days a scheduled deletion of the stack's KMS key waits (7-30)."
  type        = number
  default     = 30
}

variable "vpc_cidr" {
  description = "IPv4 range of the VPC."
  type        = string
  default     = "10.42.0.0/16"
}

variable "vpc_egress_mode" {
  description = "How private functions reach AWS APIs: \"endpoints\" (interface endpoints) or \"nat\"."
  type        = string
  default     = "endpoints"
}

variable "mysql_cidr_blocks" {
  description = "Where the source MySQL lives (the jobs may open 3306 only there); empty means inside the VPC (as with create_source_db)."
  type        = list(string)
  default     = []
}

variable "postgres_client_cidr_blocks" {
  description = "Ranges (bastion, VPN) allowed to reach PostgreSQL, e.g. to run sql/embeddings.sql."
  type        = list(string)
  default     = []
}

variable "enable_flow_logs" {
  description = "Send VPC flow logs to CloudWatch."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps function, delivery and flow logs."
  type        = number
  default     = 365
}

variable "create_source_db" {
  description = "Create the source MySQL (RDS) in the VPC, with its connection secret; false to use an existing database through mysql_secret_arn."
  type        = bool
  default     = true
}

variable "mysql_secret_arn" {
  description = "With create_source_db = false: existing secret with the source MySQL connection JSON (host, port, username, password, dbname); null creates an empty one to fill."
  type        = string
  default     = null

  validation {
    condition     = !(var.create_source_db && var.mysql_secret_arn != null)
    error_message = "mysql_secret_arn names an existing database: set create_source_db = false with it."
  }
}

variable "mysql_client_cidr_blocks" {
  description = "Ranges (bastion, VPN) allowed to reach the created source MySQL, e.g. to load classicmodels."
  type        = list(string)
  default     = []
}

variable "source_db_engine_version" {
  description = "MySQL major version of the created source database (\"8.0\" or \"8.4\")."
  type        = string
  default     = "8.0"
}

variable "source_db_instance_class" {
  description = "Instance class of the created source database."
  type        = string
  default     = "db.t4g.medium"
}

variable "source_db_password_version" {
  description = "Bump to give the created source database a new generated password (written to it and its secret together)."
  type        = number
  default     = 1
}

variable "source_db_multi_az" {
  description = "Run the created source database with a standby in the second AZ."
  type        = bool
  default     = true
}

variable "source_db_deletion_protection" {
  description = "Protect the created source database from deletion."
  type        = bool
  default     = true
}

variable "source_db_skip_final_snapshot" {
  description = "Destroy the created source database without a final snapshot."
  type        = bool
  default     = false
}

variable "source_db_apply_immediately" {
  description = "Apply source database modifications at once instead of in the maintenance window."
  type        = bool
  default     = false
}

variable "secret_recovery_window_days" {
  description = "Days a deleted secret can be restored (0 deletes at once)."
  type        = number
  default     = 30
}

variable "run_database_migration" {
  description = "Invoke the database roles' migration (modules/db-roles) after apply; false on the local emulator, which cannot run Lambdas (`reco db migrate` runs it there)."
  type        = bool
  default     = true
}

variable "enable_schedules" {
  description = "Whether the daily schedule of the pipeline (the state machine: ETL, training, embeddings, scoring, publish) fires."
  type        = bool
  default     = true
}

variable "pipeline_schedule_expression" {
  description = "EventBridge schedule of the daily loop (UTC)."
  type        = string
  default     = "cron(0 2 * * ? *)"
}

variable "score_max_concurrency" {
  description = "Customer shards scored at once by the state machine's Distributed Map (and the scorer's reserved concurrency)."
  type        = number
  default     = 10
}

variable "customers_per_shard" {
  description = "Customers one score-all invocation handles at most; the state machine derives the shard count from it."
  type        = number
  default     = 100000
}

variable "max_shards" {
  description = "Most customer shards the state machine may make."
  type        = number
  default     = 1000
}

variable "notification_email" {
  description = "E-mail address subscribed to the notifications topic (alarms, new version live, refused model, failures); null for none. AWS mails a confirmation first."
  type        = string
  default     = null
}

variable "processing_failed_percent_alarm" {
  description = "Percentage of the transform's records answered ProcessingFailed (of ok + failed + dropped, over 5 minutes) above which the alarm fires."
  type        = number
  default     = 1
}

variable "freshness_alarm_seconds" {
  description = "Event-to-document freshness (the publisher's maximum FreshnessSeconds over 5 minutes) above which the alarm fires."
  type        = number
  default     = 300
}

variable "buckets_deny_insecure_transport" {
  description = "Buckets deny every request not made over TLS (bucket policy). Keep true on AWS; ENV=local turns it off because the emulator serves plain HTTP."
  type        = bool
  default     = true
}

variable "site_bucket_deny_insecure_transport" {
  description = "Like buckets_deny_insecure_transport, for the storefront's site bucket alone; null follows it. The apply test turns it off: moto ignores the deny's condition, so it would refuse Terraform's own reads of the page objects."
  type        = bool
  default     = null
}

variable "force_destroy_buckets" {
  description = "Let `terraform destroy` delete non-empty buckets (throwaway environments only)."
  type        = bool
  default     = false
}

variable "pg_engine_version" {
  description = "PostgreSQL major version of the vector database."
  type        = string
  default     = "17"
}

variable "pg_instance_class" {
  description = "Instance class of the vector database."
  type        = string
  default     = "db.t4g.medium"
}

variable "pg_multi_az" {
  description = "Run the vector database with a standby in the second AZ."
  type        = bool
  default     = true
}

variable "pg_deletion_protection" {
  description = "Protect the vector database from deletion."
  type        = bool
  default     = true
}

variable "pg_skip_final_snapshot" {
  description = "Destroy the vector database without a final snapshot."
  type        = bool
  default     = false
}

variable "pg_performance_insights_enabled" {
  description = "Performance Insights on the vector database (7 days, KMS-encrypted)."
  type        = bool
  default     = true
}

variable "pg_apply_immediately" {
  description = "Apply database modifications at once instead of in the maintenance window."
  type        = bool
  default     = false
}

variable "pg_associate_s3_import_role" {
  description = "Attach the s3Import role to the vector database (sql/embeddings.sql needs it)."
  type        = bool
  default     = true
}

variable "stream_mode" {
  description = "Capacity mode of the click stream: ON_DEMAND or PROVISIONED."
  type        = string
  default     = "ON_DEMAND"
}

variable "stream_shard_count" {
  description = "Shards of the click stream when PROVISIONED."
  type        = number
  default     = 1
}

variable "transform_reserved_concurrency" {
  description = "Reserved concurrency of the transform Lambda."
  type        = number
  default     = 10
}

variable "knn_k" {
  description = "Recommendations per event."
  type        = number
  default     = 10
}

variable "ef_search" {
  description = "HNSW ef_search of the k-NN queries (200 reached recall@10 >= 0.95 on 1M items in bench/vector-store)."
  type        = number
  default     = 200
}

variable "exact_knn_max_items" {
  description = "Largest item catalogue the transform Lambda searches exactly in memory (read once per embedding version); larger catalogues use the HNSW index. 0: always HNSW."
  type        = number
  default     = 20000
}

variable "memory_index_max_mb" {
  description = "Bound of the transform Lambda's in-memory replica of a large catalogue, in MiB; 0: never built (HNSW path)."
  type        = number
  default     = 512
}

variable "knn_recall_target" {
  description = "recall@k against exact search the transform's in-memory replica is tuned for."
  type        = number
  default     = 0.95
}

variable "customer_vector_cache" {
  description = "Known customers whose stored vectors the transform Lambda keeps per model version; 0: every batch reads its customers."
  type        = number
  default     = 200000
}

variable "knn_cache_items" {
  description = "Bound of the transform Lambda's k-NN caches (item vectors) on the HNSW path; 0: off."
  type        = number
  default     = 500000
}

variable "firehose_buffering_size_mb" {
  description = "Firehose buffer size in MB (1-128)."
  type        = number
  default     = 64
}

variable "firehose_buffering_interval_seconds" {
  description = "Firehose buffer interval in seconds (60-900)."
  type        = number
  default     = 60
}

variable "firehose_compression_format" {
  description = "Compression of delivered recommendations: GZIP (the transform gzips each record; objects end in .ndjson.gz) or UNCOMPRESSED. Firehose itself never compresses."
  type        = string
  default     = "GZIP"
}

variable "storefront_web_dir" {
  description = "Folder of the storefront page files; null means web/ next to terraform/ (scripts/deploy.sh passes it, since ENV=local applies a staged copy)."
  type        = string
  default     = null
}

variable "storefront_price_class" {
  description = "CloudFront price class of the storefront (PriceClass_100, PriceClass_200, PriceClass_All)."
  type        = string
  default     = "PriceClass_100"
}

variable "storefront_latest_ttl_seconds" {
  description = "Seconds CloudFront keeps a latest document without Cache-Control (0-60)."
  type        = number
  default     = 10
}

variable "storefront_cache_policies" {
  description = "CloudFront cache and response headers policies of the stack's own. Keep true on AWS; ENV=local turns it off because the emulator has no such API (the same TTLs are then legacy settings, without security headers)."
  type        = bool
  default     = true
}

variable "storefront_access_log_bucket" {
  description = "Domain name of an existing ACL-enabled bucket for CloudFront standard logs (<bucket>.s3.amazonaws.com), or null."
  type        = string
  default     = null
}

variable "storefront_web_acl_arn" {
  description = "ARN of an existing WAFv2 web ACL (CLOUDFRONT scope) for the storefront, or null."
  type        = string
  default     = null
}

variable "storefront_aliases" {
  description = "Custom domain names of the storefront (with storefront_acm_certificate_arn); empty serves *.cloudfront.net."
  type        = list(string)
  default     = []
}

variable "storefront_acm_certificate_arn" {
  description = "ACM certificate in us-east-1 covering storefront_aliases, or null."
  type        = string
  default     = null
}

variable "alarm_actions" {
  description = "ARNs notified by every alarm besides the stack's own notifications topic (always notified)."
  type        = list(string)
  default     = []
}
