variable "name" {
  description = "Name prefix of the jobs and secret (e.g. \"reco\" gives reco-etl, reco-train)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name must be 2-31 lowercase letters, digits or '-', starting with a letter."
  }
}

variable "data_lake_bucket_name" {
  description = "Name of the data lake bucket (training Parquet)."
  type        = string
}

variable "artifacts_bucket_name" {
  description = "Name of the model artifacts bucket (models, embeddings CSV)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for buckets, secret, logs, queues and Lambda environments."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets the jobs run in (they reach MySQL inside the network)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 1
    error_message = "subnet_ids must name at least one subnet."
  }
}

variable "security_group_ids" {
  description = "Security groups of the jobs (MySQL 3306 out, HTTPS to AWS APIs)."
  type        = list(string)
}

variable "glue_database_name" {
  description = "Glue Data Catalog database of the data lake."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9_]{1,255}$", var.glue_database_name))
    error_message = "glue_database_name must be lowercase letters, digits and '_' (Athena-compatible)."
  }
}

variable "glue_table_name" {
  description = "Glue table of the training rows."
  type        = string
  default     = "training_ratings"

  validation {
    condition     = can(regex("^[a-z0-9_]{1,255}$", var.glue_table_name))
    error_message = "glue_table_name must be lowercase letters, digits and '_' (Athena-compatible)."
  }
}

variable "training_prefix" {
  description = "Key prefix of the training Parquet in the data lake bucket: where reco-etl writes (reco_domain::training::TRAINING_PREFIX); the IAM policies and the table location follow it."
  type        = string
  default     = "training_ratings/"

  validation {
    condition     = can(regex("^[a-z0-9_=-]+(/[a-z0-9_=-]+)*/?$", var.training_prefix))
    error_message = "training_prefix must be a relative key prefix such as \"training_ratings/\"."
  }
}

variable "training_columns" {
  description = "Columns of the training rows table, in the order reco-etl writes them (Hive types)."
  type = list(object({
    name    = string
    type    = string
    comment = optional(string)
  }))
  default = [
    { name = "customer_number", type = "int", comment = "customers.customerNumber" },
    { name = "city", type = "string", comment = "customers.city" },
    { name = "state", type = "string", comment = "customers.state, null when the source has none" },
    { name = "postal_code", type = "string", comment = "customers.postalCode, null when the source has none" },
    { name = "country", type = "string", comment = "customers.country" },
    { name = "credit_limit", type = "decimal(10,2)", comment = "customers.creditLimit" },
    { name = "product_code", type = "string", comment = "products.productCode" },
    { name = "product_line", type = "string", comment = "products.productLine" },
    { name = "product_scale", type = "string", comment = "products.productScale" },
    { name = "quantity_in_stock", type = "int", comment = "products.quantityInStock" },
    { name = "buy_price", type = "decimal(10,2)", comment = "products.buyPrice" },
    { name = "msrp", type = "decimal(10,2)", comment = "products.MSRP" },
    { name = "rating", type = "tinyint", comment = "ratings.productRating, 1..5; null on events rows" },
    { name = "source", type = "string", comment = "rating (a rating of the source) or events (a customer x product pair of click events)" },
    { name = "event_weight", type = "double", comment = "the pair's weight derived from click events; null on rating rows" },
  ]

  validation {
    condition     = length(var.training_columns) > 0 && length(distinct([for c in var.training_columns : c.name])) == length(var.training_columns)
    error_message = "training_columns must be non-empty with unique names."
  }
}

variable "partition_keys" {
  description = "Partition columns of the training rows table: one partition per snapshot, never per customer."
  type = list(object({
    name    = string
    type    = string
    comment = optional(string)
  }))
  default = [
    { name = "snapshot", type = "string", comment = "Snapshot date, YYYY-MM-DD" },
  ]
}

variable "model_prefix" {
  description = "Key prefix of model versions in the artifacts bucket (RECO_MODEL_PREFIX)."
  type        = string
  default     = "models/"

  validation {
    condition     = can(regex("^[a-z0-9_=-]+(/[a-z0-9_=-]+)*/?$", var.model_prefix))
    error_message = "model_prefix must be a relative key prefix such as \"models/\"."
  }
}

variable "mysql_secret_arn" {
  description = "Secrets Manager secret with the source MySQL connection JSON (host, port, username, password, dbname); null with create_mysql_secret."
  type        = string
  default     = null

  validation {
    condition     = var.create_mysql_secret != (var.mysql_secret_arn != null)
    error_message = "Give exactly one of mysql_secret_arn and create_mysql_secret = true."
  }
}

variable "create_mysql_secret" {
  description = "Create an empty, KMS-encrypted secret for the source MySQL connection JSON, for the operator to fill (instead of mysql_secret_arn)."
  type        = bool
  default     = false
}

variable "secret_recovery_window_days" {
  description = "Days a deleted secret can be restored (0 deletes at once; 7-30 otherwise)."
  type        = number
  default     = 30

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or between 7 and 30."
  }
}

variable "pipeline_zip_path" {
  description = "Path to the reco-pipeline-lambda deployment zip (dist/lambda/pipeline.zip): one binary for every step of the daily loop, the payload's `step` selects the work."
  type        = string
}

variable "etl_memory_size" {
  description = "Memory of the ETL job in MB. Its peak RSS stays near 130 MB whatever the ratings (streamed); memory buys CPU share: 1024 MB handles about 300M ratings in 900 s (bench/lambda-sizes, README)."
  type        = number
  default     = 1024

  validation {
    condition     = var.etl_memory_size >= 128 && var.etl_memory_size <= 10240
    error_message = "etl_memory_size must be between 128 and 10240 MB."
  }
}

variable "train_memory_size" {
  description = "Memory of the training job in MB (more memory also means more vCPUs: one per 1,769 MB). 3538 MB is 2 vCPUs, what bench/model measured: `reco train` on 10M generated ratings (100k customers x 10k products, tuning on) peaked at 657 MB and took 268 s end to end, so memory holds about 50M ratings; 10240 MB (6 vCPUs) fits more tuning trials in the budget."
  type        = number
  default     = 3538

  validation {
    condition     = var.train_memory_size >= 128 && var.train_memory_size <= 10240
    error_message = "train_memory_size must be between 128 and 10240 MB."
  }
}

variable "events_lookback_days" {
  description = "Days of raw click events (data lake events/dt=YYYY-MM-DD/) the ETL turns into `events` training rows (RECO_EVENTS_LOOKBACK_DAYS); 0: none."
  type        = number
  default     = 30

  validation {
    condition     = var.events_lookback_days >= 0 && floor(var.events_lookback_days) == var.events_lookback_days
    error_message = "events_lookback_days must be a whole number of days >= 0."
  }
}

variable "events_half_life_days" {
  description = "Half-life in days of an event's weight: decay 0.5^(age / half-life) (RECO_EVENTS_HALF_LIFE_DAYS)."
  type        = number
  default     = 14

  validation {
    condition     = var.events_half_life_days > 0
    error_message = "events_half_life_days must be > 0."
  }
}

variable "events_max_pair_weight" {
  description = "Largest weight of one customer x product pair from events (RECO_EVENTS_MAX_PAIR_WEIGHT); 0: no cap."
  type        = number
  default     = 20

  validation {
    condition     = var.events_max_pair_weight >= 0
    error_message = "events_max_pair_weight must be >= 0 (0: no cap)."
  }
}

variable "event_weights" {
  description = "Weight of one signal of each event type before the recency decay (RECO_EVENT_WEIGHT_*): a product browsed or put in the cart counts once per session, a purchase, click or impression once per event. Impressions are exposure, not interest: 0 by default."
  type = object({
    view           = optional(number, 1)
    add_to_cart    = optional(number, 3)
    purchase       = optional(number, 5)
    rec_click      = optional(number, 2)
    rec_impression = optional(number, 0)
  })
  default = {}

  validation {
    condition     = alltrue([for w in values(var.event_weights) : w >= 0])
    error_message = "event_weights must all be >= 0 (0 ignores the event type)."
  }
}

variable "etl_timeout" {
  description = "Timeout of the ETL job in seconds."
  type        = number
  default     = 900

  validation {
    condition     = var.etl_timeout >= 1 && var.etl_timeout <= 900
    error_message = "etl_timeout must be between 1 and 900 seconds."
  }
}

variable "train_timeout" {
  description = "Timeout of the training job in seconds. Lambda's largest, 900, by default: the job's hyper-parameter search stops at RECO_TRAIN_TUNING_BUDGET_SECONDS (300 by default, a third of it), then fits the held-out, champion and full models; measured (bench/model, 2 threads): `reco train` on 10M generated ratings searched 15 trials in 232 s and took 268 s end to end (full model 10.6 s)."
  type        = number
  default     = 900

  validation {
    condition     = var.train_timeout >= 1 && var.train_timeout <= 900
    error_message = "train_timeout must be between 1 and 900 seconds."
  }
}

variable "snapshot_retention_days" {
  description = "Days a training snapshot is kept in the data lake."
  type        = number
  default     = 180

  validation {
    condition     = var.snapshot_retention_days >= 1 && var.snapshot_retention_days <= 3650
    error_message = "snapshot_retention_days must be between 1 and 3650."
  }
}

variable "snapshot_transition_to_ia_days" {
  description = "Days after which a training snapshot moves to STANDARD_IA (at least 30), or null to stay in STANDARD."
  type        = number
  default     = 30
}

variable "model_transition_to_ia_days" {
  description = "Days after which a model version moves to STANDARD_IA (at least 30), or null to stay in STANDARD."
  type        = number
  default     = 90
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the jobs' logs."
  type        = number
  default     = 365
}

variable "deny_insecure_transport" {
  description = "Buckets deny every request not made over TLS (bucket policy). Only an emulator without TLS (ENV=local) turns it off."
  type        = bool
  default     = true
}

variable "force_destroy" {
  description = "Allow `terraform destroy` to delete non-empty buckets. Keep false for real data."
  type        = bool
  default     = false
}

variable "alarm_actions" {
  description = "ARNs notified when an alarm changes state (e.g. an SNS topic)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
