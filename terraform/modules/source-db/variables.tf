variable "name" {
  description = "Identifier of the DB instance; also prefixes its subnet group, parameter group, role and secret."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,50}[a-z0-9]$", var.name)) && !strcontains(var.name, "--")
    error_message = "name must be 2-52 lowercase letters, digits or single '-', starting with a letter."
  }
}

variable "engine_version" {
  description = "MySQL major version (\"8.0\" or \"8.4\"); RDS picks and upgrades the minor."
  type        = string
  default     = "8.0"

  validation {
    condition     = contains(["8.0", "8.4"], var.engine_version)
    error_message = "engine_version must be \"8.0\" or \"8.4\" (the supported RDS for MySQL majors)."
  }
}

variable "instance_class" {
  description = "DB instance class (Performance Insights on MySQL needs medium or larger)."
  type        = string
  default     = "db.t4g.medium"

  validation {
    condition     = startswith(var.instance_class, "db.")
    error_message = "instance_class must be an RDS class such as db.t4g.medium."
  }
}

variable "database_name" {
  description = "Database holding the classicmodels tables and ratings."
  type        = string
  default     = "classicmodels"

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9_]{0,63}$", var.database_name))
    error_message = "database_name must start with a letter and hold up to 64 letters, digits or '_'."
  }
}

variable "master_username" {
  description = "Master user name; the generated password is written only to the connection secret."
  type        = string
  default     = "reco_admin"

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9_]{0,15}$", var.master_username)) && !contains(["admin", "root", "rdsadmin"], lower(var.master_username))
    error_message = "master_username must be up to 16 letters, digits or '_', starting with a letter, and not a reserved name."
  }
}

variable "master_password" {
  description = "Master password (ephemeral: it reaches RDS and the connection secret only through write-only arguments, never plan or state). The root generates it with Secrets Manager's GetRandomPassword."
  type        = string
  sensitive   = true
  ephemeral   = true

  validation {
    condition     = length(var.master_password) >= 16
    error_message = "master_password must be at least 16 characters."
  }
}

variable "password_version" {
  description = "Bump to write a new master_password to the database and the secret together (only then is the password sent)."
  type        = number
  default     = 1

  validation {
    condition     = var.password_version >= 1 && floor(var.password_version) == var.password_version
    error_message = "password_version must be a whole number of at least 1."
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
  description = "Upper bound of storage autoscaling in GiB."
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

variable "secret_recovery_window_days" {
  description = "Days a deleted connection secret can be restored (0 deletes at once; 7-30 otherwise)."
  type        = number
  default     = 30

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or between 7 and 30."
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
  description = "Security groups of the instance (3306 from the jobs only)."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "KMS key for storage, Performance Insights and the connection secret."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
