variable "name" {
  description = "Identifier of the DB instance; also prefixes its subnet group, parameter group and roles."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,50}[a-z0-9]$", var.name)) && !strcontains(var.name, "--")
    error_message = "name must be 2-52 lowercase letters, digits or single '-', starting with a letter."
  }
}

variable "engine_version" {
  description = "PostgreSQL major version (e.g. \"17\"), or major.minor; RDS picks and upgrades the minor. pgvector >= 0.8 needs 13 or later with a current minor."
  type        = string
  default     = "17"

  validation {
    condition     = can(regex("^[0-9]+(\\.[0-9]+)?$", var.engine_version)) && try(tonumber(split(".", var.engine_version)[0]) >= 13, false)
    error_message = "engine_version must be a PostgreSQL version such as \"17\" or \"16.4\", 13 or later."
  }
}

variable "instance_class" {
  description = "DB instance class."
  type        = string
  default     = "db.t4g.medium"

  validation {
    condition     = startswith(var.instance_class, "db.")
    error_message = "instance_class must be an RDS class such as db.t4g.medium."
  }
}

variable "database_name" {
  description = "Database that holds item_emb and user_emb (RECO_PG_DATABASE)."
  type        = string
  default     = "reco"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.database_name))
    error_message = "database_name must start with a letter and hold up to 63 lowercase letters, digits or '_'."
  }
}

variable "master_username" {
  description = "Master user name; its password is generated and kept by RDS in Secrets Manager."
  type        = string
  default     = "reco_admin"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.master_username)) && !contains(["admin", "postgres", "rdsadmin"], var.master_username)
    error_message = "master_username must be up to 63 lowercase letters, digits or '_', starting with a letter, and not a reserved name."
  }
}

variable "port" {
  description = "PostgreSQL port."
  type        = number
  default     = 5432

  validation {
    condition     = var.port >= 1150 && var.port <= 65535
    error_message = "port must be between 1150 and 65535 (the RDS range)."
  }
}

variable "allocated_storage" {
  description = "Initial storage in GiB."
  type        = number
  default     = 20

  validation {
    condition     = var.allocated_storage >= 20 && var.allocated_storage <= 65536
    error_message = "allocated_storage must be between 20 and 65536 GiB."
  }
}

variable "max_allocated_storage" {
  description = "Upper bound of storage autoscaling in GiB (at least allocated_storage)."
  type        = number
  default     = 100

  validation {
    condition     = var.max_allocated_storage >= 20 && var.max_allocated_storage <= 65536
    error_message = "max_allocated_storage must be between 20 and 65536 GiB."
  }
}

variable "multi_az" {
  description = "Keep a synchronous standby in the second AZ."
  type        = bool
  default     = true
}

variable "backup_retention_days" {
  description = "Days automated backups are kept (1-35; backups cannot be switched off)."
  type        = number
  default     = 7

  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be between 1 and 35."
  }
}

variable "deletion_protection" {
  description = "Refuse to delete the instance (set false before a deliberate destroy)."
  type        = bool
  default     = true
}

variable "skip_final_snapshot" {
  description = "Destroy without a final snapshot (only for throwaway environments)."
  type        = bool
  default     = false
}

variable "apply_immediately" {
  description = "Apply modifications at once instead of in the maintenance window."
  type        = bool
  default     = false
}

variable "performance_insights_enabled" {
  description = "Turn on Performance Insights (7 days, encrypted with kms_key_arn)."
  type        = bool
  default     = true
}

variable "monitoring_interval" {
  description = "Enhanced Monitoring interval in seconds (0 turns it off)."
  type        = number
  default     = 60

  validation {
    condition     = contains([0, 1, 5, 10, 15, 30, 60], var.monitoring_interval)
    error_message = "monitoring_interval must be one of 0, 1, 5, 10, 15, 30, 60."
  }
}

variable "log_min_duration_ms" {
  description = "Statements slower than this many milliseconds are logged (-1 logs none)."
  type        = number
  default     = 1000

  validation {
    condition     = var.log_min_duration_ms >= -1
    error_message = "log_min_duration_ms must be -1 or more."
  }
}

variable "subnet_ids" {
  description = "Private subnets in two AZs."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "subnet_ids must name at least two subnets (RDS needs two AZs)."
  }
}

variable "security_group_ids" {
  description = "Security groups of the instance (5432 from the transform Lambda only)."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "KMS key for storage, the master user secret and Performance Insights."
  type        = string
}

variable "artifacts_bucket_arn" {
  description = "ARN of the model artifacts bucket the s3Import role may read."
  type        = string
}

variable "model_prefix" {
  description = "Key prefix of model versions (with their embeddings CSVs) in the artifacts bucket."
  type        = string
  default     = "models/"
}

variable "associate_s3_import_role" {
  description = "Attach the s3Import role to the instance (needed by aws_s3.table_import_from_s3)."
  type        = bool
  default     = true
}

variable "alarm_actions" {
  description = "ARNs notified when an alarm changes state (e.g. an SNS topic)."
  type        = list(string)
  default     = []
}

variable "secret_recovery_window_days" {
  description = "Days a deleted role secret can be restored (0 deletes at once; 7-30 otherwise)."
  type        = number
  default     = 30

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or between 7 and 30."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
