variable "name" {
  description = "Name prefix of the functions, state machine, schedule, alarms and dashboard (\"reco\" gives reco-load-embeddings, reco-score-all, reco-pipeline)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name must be 2-31 lowercase letters, digits or '-', starting with a letter."
  }
}

variable "kms_key_arn" {
  description = "KMS key for logs, Lambda environments and the notifications topic's messages."
  type        = string
}

variable "pipeline_zip_path" {
  description = "Path to the reco-pipeline-lambda deployment zip (dist/lambda/pipeline.zip)."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the two functions (the loader reaches PostgreSQL, the scorer S3 through the gateway endpoint)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 1
    error_message = "subnet_ids must name at least one subnet."
  }
}

variable "loader_security_group_ids" {
  description = "Security groups of the embeddings loader (PostgreSQL 5432 out, HTTPS to S3 and Secrets Manager)."
  type        = list(string)
}

variable "scoring_security_group_ids" {
  description = "Security groups of the batch scorer (HTTPS to S3 only)."
  type        = list(string)
}

variable "etl_function_arn" {
  description = "ARN of the ETL step's function (modules/etl)."
  type        = string
}

variable "train_function_arn" {
  description = "ARN of the training step's function (modules/etl)."
  type        = string
}

variable "topic_arn" {
  description = "SNS topic the state machine tells of new versions, refused models and failures (modules/notifications)."
  type        = string
}

variable "artifacts_bucket_name" {
  description = "Bucket of the model versions (RECO_ARTIFACTS_BUCKET)."
  type        = string
}

variable "artifacts_bucket_arn" {
  description = "ARN of the artifacts bucket."
  type        = string
}

variable "model_prefix" {
  description = "Key prefix of model versions in the artifacts bucket (RECO_MODEL_PREFIX); LATEST is <prefix>LATEST."
  type        = string
  default     = "models/"

  validation {
    condition     = can(regex("^[a-z0-9_=-]+(/[a-z0-9_=-]+)*/?$", var.model_prefix))
    error_message = "model_prefix must be a relative key prefix such as \"models/\"."
  }
}

variable "data_lake_bucket_name" {
  description = "Data lake bucket: training snapshots and the product catalogue (RECO_DATA_LAKE_BUCKET)."
  type        = string
}

variable "data_lake_bucket_arn" {
  description = "ARN of the data lake bucket."
  type        = string
}

variable "training_prefix" {
  description = "Key prefix of the training snapshots in the data lake bucket (modules/etl's training_prefix)."
  type        = string
  default     = "training_ratings/"
}

variable "recommendations_bucket_name" {
  description = "Bucket of the latest documents the scorer writes (RECO_RECS_BUCKET)."
  type        = string
}

variable "recommendations_bucket_arn" {
  description = "ARN of the recommendations bucket."
  type        = string
}

variable "latest_prefix" {
  description = "Key prefix of the latest documents in the recommendations bucket: the only place the scorer writes."
  type        = string
  default     = "latest/"
}

variable "pg_secret_arn" {
  description = "Secret of the role reco_loader (JSON username, password): the only secret the loader reads."
  type        = string
}

variable "pg_host" {
  description = "Host of the vector database."
  type        = string
}

variable "pg_port" {
  description = "Port of the vector database."
  type        = number
  default     = 5432
}

variable "pg_database" {
  description = "Database holding the embeddings."
  type        = string
}

variable "schedule_expression" {
  description = "EventBridge schedule of the daily loop (UTC)."
  type        = string
  default     = "cron(0 2 * * ? *)"

  validation {
    condition     = can(regex("^(cron|rate)\\(.+\\)$", var.schedule_expression))
    error_message = "schedule_expression must be a cron(...) or rate(...) expression."
  }
}

variable "enable_schedule" {
  description = "Whether the daily schedule fires; false keeps it defined but disabled (start executions by hand)."
  type        = bool
  default     = true
}

variable "score_max_concurrency" {
  description = "Shards scored at once by the Distributed Map; also the scorer's reserved concurrency."
  type        = number
  default     = 10

  validation {
    condition     = var.score_max_concurrency >= 1 && var.score_max_concurrency <= 1000 && floor(var.score_max_concurrency) == var.score_max_concurrency
    error_message = "score_max_concurrency must be a whole number between 1 and 1000."
  }
}

variable "customers_per_shard" {
  description = "Customers one score invocation handles at most; the plan step derives the shard count from it."
  type        = number
  default     = 100000

  validation {
    condition     = var.customers_per_shard >= 1 && floor(var.customers_per_shard) == var.customers_per_shard
    error_message = "customers_per_shard must be a whole number of at least 1."
  }
}

variable "max_shards" {
  description = "Most shards the plan step may make (larger shards beyond it); bounds the Distributed Map's items."
  type        = number
  default     = 1000

  validation {
    condition     = var.max_shards >= 1 && var.max_shards <= 10000 && floor(var.max_shards) == var.max_shards
    error_message = "max_shards must be a whole number between 1 and 10000."
  }
}

variable "load_memory_size" {
  description = "Memory of the embeddings loader in MB."
  type        = number
  default     = 2048
}

variable "load_timeout" {
  description = "Timeout of the embeddings loader in seconds."
  type        = number
  default     = 900
}

variable "score_memory_size" {
  description = "Memory of the batch scorer in MB (one shard of customers_per_shard customers per invocation). A shard is bound by its S3 writes (about 320 documents/s assumed): 1769 MB (one vCPU) scores about 136,000 customers within half the timeout (bench/lambda-sizes, README)."
  type        = number
  default     = 1769
}

variable "score_timeout" {
  description = "Timeout of the batch scorer in seconds."
  type        = number
  default     = 900
}

variable "transform_function_name" {
  description = "Name of the transform Lambda, whose errors the dashboard shows."
  type        = string
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the functions' and the state machine's logs."
  type        = number
  default     = 365
}

variable "alarm_actions" {
  description = "ARNs notified when an alarm changes state (the notifications topic, and any others)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
