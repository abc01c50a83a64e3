variable "name" {
  description = "Name prefix of the stack; the function is <name>-db-migrate."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,40}$", var.name))
    error_message = "name must start with a letter and hold up to 41 lowercase letters, digits or '-'."
  }
}

variable "kms_key_arn" {
  description = "Key of the function's logs and environment (and of the secrets it reads and writes)."
  type        = string
}

variable "pipeline_zip_path" {
  description = "The pipeline Lambda zip (reco-pipeline-lambda as bootstrap); the migrate step is one of its requests."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets: the databases are reachable only from inside the VPC."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 1
    error_message = "subnet_ids must name at least one subnet."
  }
}

variable "security_group_ids" {
  description = "Security groups that reach both databases (the loader's group reaches PostgreSQL, the jobs' group MySQL)."
  type        = list(string)
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
  description = "Database holding the embeddings (where the roles get their grants)."
  type        = string
}

variable "pg_master_secret_arn" {
  description = "RDS-managed master secret of the vector database: the migration connects with it (no other function reads it)."
  type        = string
}

variable "pg_reader_secret_arn" {
  description = "Secret of reco_reader the migration writes (the transform Lambda reads it)."
  type        = string
}

variable "pg_loader_secret_arn" {
  description = "Secret of reco_loader the migration writes (load-embeddings reads it)."
  type        = string
}

variable "mysql_master_secret_arn" {
  description = "Master connection secret of the source MySQL the stack created; null when the source database is the operator's (no reco_etl user is made)."
  type        = string
  default     = null
}

variable "mysql_etl_secret_arn" {
  description = "Secret of reco_etl the migration writes (the ETL reads it); set together with mysql_master_secret_arn."
  type        = string
  default     = null

  validation {
    condition     = (var.mysql_etl_secret_arn == null) == (var.mysql_master_secret_arn == null)
    error_message = "Set mysql_master_secret_arn and mysql_etl_secret_arn together (or neither)."
  }
}

variable "run_migration" {
  description = "Invoke the migration after every apply that changes the function, its code or the secrets (false on the local emulator, which cannot run Lambdas: `reco db migrate` runs it there)."
  type        = bool
  default     = true
}

variable "timeout" {
  description = "Seconds the migration may take."
  type        = number
  default     = 120

  validation {
    condition     = var.timeout >= 30 && var.timeout <= 900
    error_message = "timeout must be 30-900 seconds."
  }
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the function's logs."
  type        = number
  default     = 365
}

variable "alarm_actions" {
  description = "ARNs notified when the function's alarms change state."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
