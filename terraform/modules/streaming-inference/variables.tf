variable "name" {
  description = "Name prefix of the stream, function, delivery stream and alarms."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name must be 2-31 lowercase letters, digits or '-', starting with a letter."
  }
}

variable "kms_key_arn" {
  description = "KMS key for the stream, the bucket, logs and the Lambda environment."
  type        = string
}

# --- Kinesis ---
variable "stream_mode" {
  description = "Capacity mode of the click stream: ON_DEMAND or PROVISIONED (then shard_count applies)."
  type        = string
  default     = "ON_DEMAND"

  validation {
    condition     = contains(["ON_DEMAND", "PROVISIONED"], var.stream_mode)
    error_message = "stream_mode must be ON_DEMAND or PROVISIONED."
  }
}

variable "shard_count" {
  description = "Shards of the click stream when stream_mode is PROVISIONED (1 MB/s or 1000 records/s in per shard)."
  type        = number
  default     = 1

  validation {
    condition     = var.shard_count >= 1 && var.shard_count <= 500 && floor(var.shard_count) == var.shard_count
    error_message = "shard_count must be a whole number between 1 and 500."
  }
}

variable "stream_retention_hours" {
  description = "Hours click events stay readable in the stream (24-8760)."
  type        = number
  default     = 24

  validation {
    condition     = var.stream_retention_hours >= 24 && var.stream_retention_hours <= 8760
    error_message = "stream_retention_hours must be between 24 and 8760."
  }
}

# --- transform Lambda ---
variable "transform_zip_path" {
  description = "Path to the transform Lambda's deployment zip (dist/lambda/transform.zip)."
  type        = string
}

variable "transform_memory_size" {
  description = "Memory of the transform Lambda in MB. Lambda gives CPU in proportion (one full vCPU at 1,769 MB) and the in-memory replica of a large catalogue is CPU-bound: 2,048 MB holds a 1M x 32 replica (about 200 MiB, 1.7x that while it builds) with the HNSW path's caches and gives a bit more than one vCPU."
  type        = number
  default     = 2048

  validation {
    condition     = var.transform_memory_size >= 128 && var.transform_memory_size <= 10240
    error_message = "transform_memory_size must be between 128 and 10240 MB."
  }
}

variable "transform_timeout" {
  description = "Timeout of the transform Lambda in seconds (Firehose waits at most 300)."
  type        = number
  default     = 120

  validation {
    condition     = var.transform_timeout >= 1 && var.transform_timeout <= 300
    error_message = "transform_timeout must be between 1 and 300 seconds (Firehose's limit for a transformation)."
  }
}

variable "transform_reserved_concurrency" {
  description = "Reserved concurrency of the transform Lambda; also caps connections to PostgreSQL."
  type        = number
  default     = 10

  validation {
    condition     = var.transform_reserved_concurrency >= 1 && var.transform_reserved_concurrency <= 1000
    error_message = "transform_reserved_concurrency must be between 1 and 1000."
  }
}

variable "subnet_ids" {
  description = "Private subnets of the transform Lambda (it reaches PostgreSQL there)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 1
    error_message = "subnet_ids must name at least one subnet."
  }
}

variable "security_group_ids" {
  description = "Security groups of the transform Lambda (5432 to PostgreSQL, HTTPS to AWS APIs)."
  type        = list(string)
}

variable "pg_host" {
  description = "Host of the vector database (RECO_PG_HOST)."
  type        = string
}

variable "pg_port" {
  description = "Port of the vector database (RECO_PG_PORT)."
  type        = number
  default     = 5432
}

variable "pg_database" {
  description = "Database holding the embeddings (RECO_PG_DATABASE)."
  type        = string
}

variable "pg_secret_arn" {
  description = "Secret of the read-only role reco_reader (JSON username, password) of the vector database (RECO_PG_SECRET_ARN): the only secret the transform reads."
  type        = string
}

variable "artifacts_bucket_name" {
  description = "Model artifacts bucket (RECO_ARTIFACTS_BUCKET)."
  type        = string
}

variable "artifacts_bucket_arn" {
  description = "ARN of the model artifacts bucket."
  type        = string
}

variable "model_prefix" {
  description = "Key prefix of model versions in the artifacts bucket (RECO_MODEL_PREFIX)."
  type        = string
  default     = "models/"
}

variable "knn_k" {
  description = "Recommendations per event (RECO_KNN_K)."
  type        = number
  default     = 10

  validation {
    condition     = var.knn_k >= 1 && var.knn_k <= 1000
    error_message = "knn_k must be between 1 and 1000."
  }
}

variable "ef_search" {
  description = "HNSW search breadth, hnsw.ef_search (RECO_EF_SEARCH); at least knn_k for full result lists."
  type        = number
  default     = 200

  validation {
    condition     = var.ef_search >= 1 && var.ef_search <= 1000
    error_message = "ef_search must be between 1 and 1000 (pgvector's limit)."
  }
}

variable "exact_knn_max_items" {
  description = "Catalogues of at most this many items are read once per embedding version and searched exactly in the Lambda's memory; larger ones by one batched HNSW query per batch (RECO_EXACT_KNN_MAX_ITEMS; 0: always HNSW)."
  type        = number
  default     = 20000

  validation {
    condition     = var.exact_knn_max_items >= 0 && floor(var.exact_knn_max_items) == var.exact_knn_max_items
    error_message = "exact_knn_max_items must be a whole number, 0 or more."
  }
}

variable "memory_index_max_mb" {
  description = "Bound of the transform's in-memory partitioned replica of a catalogue above exact_knn_max_items, in MiB of vectors and ids (RECO_MEMORY_INDEX_MAX_MB; about 200 MiB at 1M items x 32 dimensions, 1.7x that while it builds: keep it within transform_memory_size; 0: never built, the HNSW path serves)."
  type        = number
  default     = 512

  validation {
    condition     = var.memory_index_max_mb >= 0 && floor(var.memory_index_max_mb) == var.memory_index_max_mb
    error_message = "memory_index_max_mb must be a whole number, 0 or more."
  }
}

variable "knn_recall_target" {
  description = "recall@k against exact search that the in-memory replica's probe count is chosen for (RECO_KNN_RECALL_TARGET), in (0, 1]."
  type        = number
  default     = 0.95

  validation {
    condition     = var.knn_recall_target > 0 && var.knn_recall_target <= 1
    error_message = "knn_recall_target must be within (0, 1]."
  }
}

variable "customer_vector_cache" {
  description = "Known customers whose stored vectors (read from the version's user table: the function's model holds the towers only) the transform keeps per model version (RECO_CUSTOMER_VECTOR_CACHE; about 200 bytes each at 32 dimensions; 0: every batch reads its customers)."
  type        = number
  default     = 200000

  validation {
    condition     = var.customer_vector_cache >= 0 && floor(var.customer_vector_cache) == var.customer_vector_cache
    error_message = "customer_vector_cache must be a whole number, 0 or more."
  }
}

variable "knn_cache_items" {
  description = "Bound of the transform's k-NN caches on the HNSW path, in item vectors (RECO_KNN_CACHE_ITEMS; about 130 MB at 466,000 vectors of 32 dimensions: keep it within transform_memory_size; 0: caches off)."
  type        = number
  default     = 500000

  validation {
    condition     = var.knn_cache_items >= 0 && floor(var.knn_cache_items) == var.knn_cache_items
    error_message = "knn_cache_items must be a whole number, 0 or more."
  }
}

# --- Firehose ---
variable "recommendations_bucket_name" {
  description = "Name of the recommendations bucket."
  type        = string
}

variable "recommendations_prefix" {
  description = "Key prefix of delivered recommendations; dt=yyyy-MM-dd/hour=HH/ follows it."
  type        = string
  default     = "recommendations/"

  validation {
    condition     = can(regex("^[a-z0-9_=-]+/?$", var.recommendations_prefix))
    error_message = "recommendations_prefix must be one path segment such as \"recommendations/\"."
  }
}

variable "error_prefix" {
  description = "Key prefix of records Firehose could not process or deliver; <error-type>/yyyy/MM/dd/ follows it."
  type        = string
  default     = "errors/"

  validation {
    condition     = can(regex("^[a-z0-9_=-]+/?$", var.error_prefix))
    error_message = "error_prefix must be one path segment such as \"errors/\"."
  }
}

variable "buffering_size_mb" {
  description = "MB Firehose buffers before writing an object (1-128)."
  type        = number
  default     = 64

  validation {
    condition     = var.buffering_size_mb >= 1 && var.buffering_size_mb <= 128
    error_message = "buffering_size_mb must be between 1 and 128 (Firehose's range for S3)."
  }
}

variable "buffering_interval_seconds" {
  description = "Seconds Firehose buffers before writing an object (60-900)."
  type        = number
  default     = 60

  validation {
    condition     = var.buffering_interval_seconds >= 60 && var.buffering_interval_seconds <= 900
    error_message = "buffering_interval_seconds must be between 60 and 900."
  }
}

variable "processor_buffer_size_mb" {
  description = "MB of records per transform invocation, decimals allowed (Firehose's BufferSizeInMBs: 0.2-3). At 3 (fewer, larger invocations) a full batch's response, compact per-record gzipped records, stays under Lambda's 6 MB limit."
  type        = number
  default     = 3

  validation {
    condition     = var.processor_buffer_size_mb >= 0.2 && var.processor_buffer_size_mb <= 3
    error_message = "processor_buffer_size_mb must be between 0.2 and 3 (Firehose's BufferSizeInMBs range)."
  }
}

variable "processor_buffer_interval_seconds" {
  description = "Seconds Firehose waits to fill a transform batch (Firehose's BufferIntervalInSeconds: 0-900)."
  type        = number
  default     = 60

  validation {
    condition     = var.processor_buffer_interval_seconds >= 0 && var.processor_buffer_interval_seconds <= 900 && floor(var.processor_buffer_interval_seconds) == var.processor_buffer_interval_seconds
    error_message = "processor_buffer_interval_seconds must be a whole number between 0 and 900."
  }
}

variable "processor_retries" {
  description = "Times Firehose retries a failed transform invocation before sending its records to the error prefix (0-300)."
  type        = number
  default     = 3

  validation {
    condition     = var.processor_retries >= 0 && var.processor_retries <= 300
    error_message = "processor_retries must be between 0 and 300."
  }
}

variable "compression_format" {
  description = "Compression of delivered objects: GZIP (the transform gzips each record, RECO_RECORD_GZIP=true; objects, one gzip member per record, end in .ndjson.gz) or UNCOMPRESSED (.ndjson). Firehose's own compression stays UNCOMPRESSED either way."
  type        = string
  default     = "GZIP"

  validation {
    condition     = contains(["GZIP", "UNCOMPRESSED"], var.compression_format)
    error_message = "compression_format must be GZIP or UNCOMPRESSED (the formats readers of NDJSON handle)."
  }
}

variable "recommendations_retention_days" {
  description = "Days delivered recommendations are kept."
  type        = number
  default     = 30

  validation {
    condition     = var.recommendations_retention_days >= 1 && var.recommendations_retention_days <= 3650
    error_message = "recommendations_retention_days must be between 1 and 3650."
  }
}

variable "error_retention_days" {
  description = "Days failed records are kept for inspection and replay."
  type        = number
  default     = 90

  validation {
    condition     = var.error_retention_days >= 1 && var.error_retention_days <= 3650
    error_message = "error_retention_days must be between 1 and 3650."
  }
}

variable "recommendations_bucket_policy_statements" {
  description = "Grants of the recommendations bucket's policy (e.g. the storefront's CloudFront reading latest/*), in the s3-bucket module's policy_statements form."
  type = list(object({
    sid         = string
    principals  = map(list(string))
    actions     = list(string)
    object_keys = list(string)
    condition   = optional(map(map(list(string))), {})
  }))
  default = []
}

# --- delivered log (Glue) ---
variable "glue_database_name" {
  description = "Glue Data Catalog database (the etl module's) that gets the delivered log's table."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9_]{1,255}$", var.glue_database_name))
    error_message = "glue_database_name must be lowercase letters, digits and '_' (Athena-compatible)."
  }
}

variable "delivered_log_table_name" {
  description = "Glue table of the delivered recommendation records (one NDJSON line per click event)."
  type        = string
  default     = "delivered_recommendations"

  validation {
    condition     = can(regex("^[a-z0-9_]{1,255}$", var.delivered_log_table_name))
    error_message = "delivered_log_table_name must be lowercase letters, digits and '_' (Athena-compatible)."
  }
}

variable "delivered_log_first_date" {
  description = "First dt= partition the delivered log's partition projection knows (yyyy-MM-dd); it runs to NOW."
  type        = string
  default     = "2024-01-01"

  validation {
    condition     = can(regex("^[0-9]{4}-[0-9]{2}-[0-9]{2}$", var.delivered_log_first_date))
    error_message = "delivered_log_first_date must be a date as yyyy-MM-dd."
  }
}

# --- publisher Lambda ---
variable "publisher_zip_path" {
  description = "Path to the publisher Lambda's deployment zip (dist/lambda/publisher.zip)."
  type        = string
}

variable "publisher_memory_size" {
  description = "Memory of the publisher Lambda in MB."
  type        = number
  default     = 512

  validation {
    condition     = var.publisher_memory_size >= 128 && var.publisher_memory_size <= 10240
    error_message = "publisher_memory_size must be between 128 and 10240 MB."
  }
}

variable "publisher_timeout" {
  description = "Timeout of the publisher Lambda in seconds; the queue's visibility timeout is six times it."
  type        = number
  default     = 60

  validation {
    condition     = var.publisher_timeout >= 1 && var.publisher_timeout <= 900
    error_message = "publisher_timeout must be between 1 and 900 seconds."
  }
}

variable "publisher_concurrency" {
  description = "Reserved concurrency of the publisher Lambda, also the event source mapping's maximum concurrency (so SQS batches are never throttled into the dead-letter queue); 2-1000."
  type        = number
  default     = 5

  validation {
    condition     = var.publisher_concurrency >= 2 && var.publisher_concurrency <= 1000 && floor(var.publisher_concurrency) == var.publisher_concurrency
    error_message = "publisher_concurrency must be a whole number between 2 (the event source mapping's minimum) and 1000."
  }
}

variable "publisher_max_receive_count" {
  description = "Deliveries of a notification before it moves to the dead-letter queue."
  type        = number
  default     = 5

  validation {
    condition     = var.publisher_max_receive_count >= 1 && var.publisher_max_receive_count <= 1000
    error_message = "publisher_max_receive_count must be between 1 and 1000."
  }
}

variable "data_lake_bucket_name" {
  description = "Data lake bucket (RECO_DATA_LAKE_BUCKET): the publisher reads the product catalogue there."
  type        = string
}

variable "data_lake_bucket_arn" {
  description = "ARN of the data lake bucket."
  type        = string
}

variable "iterator_age_alarm_ms" {
  description = "Age in milliseconds of the oldest unread click event that raises the iterator-age alarm."
  type        = number
  default     = 300000

  validation {
    condition     = var.iterator_age_alarm_ms >= 1000
    error_message = "iterator_age_alarm_ms must be at least 1000."
  }
}

variable "processing_failed_percent_alarm" {
  description = "Percentage of the transform's records answered ProcessingFailed (of ok + failed + dropped, over 5 minutes) above which the alarm fires."
  type        = number
  default     = 1

  validation {
    condition     = var.processing_failed_percent_alarm > 0 && var.processing_failed_percent_alarm <= 100
    error_message = "processing_failed_percent_alarm must be a percentage above 0 and at most 100."
  }
}

variable "freshness_alarm_seconds" {
  description = "Event-to-document freshness in seconds (the publisher's maximum FreshnessSeconds, two 5-minute periods in a row) above which the alarm fires."
  type        = number
  default     = 300

  validation {
    condition     = var.freshness_alarm_seconds >= 1
    error_message = "freshness_alarm_seconds must be at least 1."
  }
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the Lambda's and Firehose's logs."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}

variable "deny_insecure_transport" {
  description = "Buckets deny every request not made over TLS (bucket policy). Only an emulator without TLS (ENV=local) turns it off."
  type        = bool
  default     = true
}

variable "force_destroy" {
  description = "Allow `terraform destroy` to delete a non-empty recommendations bucket."
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

# --- raw events in the data lake (events_lake.tf) ---
variable "events_buffering_size_mb" {
  description = "Buffer of the raw events delivery stream in MiB before a Parquet file is written (record format conversion needs 64-128)."
  type        = number
  default     = 128

  validation {
    condition     = var.events_buffering_size_mb >= 64 && var.events_buffering_size_mb <= 128
    error_message = "events_buffering_size_mb must be between 64 and 128 (Firehose record format conversion)."
  }
}

variable "events_buffering_interval_seconds" {
  description = "Longest time the raw events delivery stream buffers before writing a Parquet file."
  type        = number
  default     = 900

  validation {
    condition     = var.events_buffering_interval_seconds >= 60 && var.events_buffering_interval_seconds <= 900
    error_message = "events_buffering_interval_seconds must be between 60 and 900."
  }
}

variable "events_rows_reserved_concurrency" {
  description = "Reserved concurrency of the raw events row processor Lambda."
  type        = number
  default     = 5

  validation {
    condition     = var.events_rows_reserved_concurrency >= 1
    error_message = "events_rows_reserved_concurrency must be at least 1."
  }
}
