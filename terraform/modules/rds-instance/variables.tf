variable "name" {
  description = "Identifier of the DB instance; also names its subnet group, parameter group and monitoring role."
  type        = string
}

variable "description" {
  description = "What the database is (e.g. \"reco vector database\"); starts the subnet and parameter group descriptions."
  type        = string
}

variable "engine" {
  description = "RDS engine (\"mysql\", \"postgres\")."
  type        = string
}

variable "engine_version" {
  description = "Engine version; the caller validates what its engine supports."
  type        = string
}

variable "instance_class" {
  description = "DB instance class."
  type        = string
}

variable "parameter_group_family" {
  description = "Parameter group family (e.g. \"mysql8.0\", \"postgres17\"); the group is named <name>-<family> with '.' as '-'."
  type        = string
}

variable "parameter_group_summary" {
  description = "What the parameters do, after \"<description>: \" in the parameter group's description (changing it replaces the group)."
  type        = string
}

variable "parameters" {
  description = "Engine parameters of the group (apply_method defaults to immediate)."
  type = list(object({
    name         = string
    value        = string
    apply_method = optional(string)
  }))
  default = []
}

variable "database_name" {
  description = "Database created with the instance."
  type        = string
}

variable "master_username" {
  description = "Master user name."
  type        = string
}

variable "port" {
  description = "Port the instance listens on."
  type        = number
}

variable "manage_master_user_password" {
  description = "RDS generates the master password and keeps it in Secrets Manager (encrypted with kms_key_arn); false: the caller sends master_password write-only."
  type        = bool
}

variable "master_password" {
  description = "Master password when manage_master_user_password is false (ephemeral: it reaches RDS only through the write-only password_wo)."
  type        = string
  sensitive   = true
  ephemeral   = true
  default     = null
}

variable "password_version" {
  description = "With master_password: bump to send a new password (only then is it sent)."
  type        = number
  default     = null
}

variable "allocated_storage" {
  description = "Initial storage in GiB."
  type        = number
}

variable "max_allocated_storage" {
  description = "Upper bound of storage autoscaling in GiB."
  type        = number
}

variable "multi_az" {
  description = "Keep a synchronous standby in the second AZ."
  type        = bool
}

variable "backup_retention_days" {
  description = "Days automated backups are kept (1-35; backups cannot be switched off)."
  type        = number
}

variable "backup_window" {
  description = "Daily UTC window of the automated backup (hh:mm-hh:mm)."
  type        = string
}

variable "deletion_protection" {
  description = "Refuse to delete the instance (set false before a deliberate destroy)."
  type        = bool
}

variable "skip_final_snapshot" {
  description = "Destroy without a final snapshot (only for throwaway environments)."
  type        = bool
}

variable "apply_immediately" {
  description = "Apply modifications at once instead of in the maintenance window."
  type        = bool
}

variable "cloudwatch_logs_exports" {
  description = "Engine logs exported to CloudWatch Logs (e.g. [\"error\", \"slowquery\"])."
  type        = list(string)
}

variable "performance_insights_enabled" {
  description = "Turn on Performance Insights (7 days, encrypted with kms_key_arn)."
  type        = bool
}

variable "monitoring_interval" {
  description = "Enhanced Monitoring interval in seconds (0 turns it off)."
  type        = number
}

variable "feature_roles" {
  description = "IAM roles associated with the instance, by RDS feature name (e.g. { s3Import = <role ARN> })."
  type        = map(string)
  default     = {}
}

variable "subnet_ids" {
  description = "Private subnets in two AZs."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the instance."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "KMS key for storage, Performance Insights and (when RDS manages it) the master user secret."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
