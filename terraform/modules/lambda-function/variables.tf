variable "function_name" {
  description = "Name of the function; also names its role, log group, queue and alarms."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9-_]{1,56}$", var.function_name))
    error_message = "function_name must be 1-56 letters, digits, '-' or '_' (56 leaves room for the role suffix)."
  }
}

variable "description" {
  description = "What the function does."
  type        = string
}

variable "zip_path" {
  description = "Path to the provided.al2023 deployment zip (with a `bootstrap` executable), built by `make build-lambda`."
  type        = string
}

variable "architecture" {
  description = "Instruction set the bootstrap binary was built for."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "memory_size" {
  description = "Memory in MB (Lambda allows 128-10240; CPU scales with it)."
  type        = number

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240
    error_message = "memory_size must be between 128 and 10240 MB."
  }
}

variable "timeout" {
  description = "Timeout in seconds (Lambda allows 1-900)."
  type        = number

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900
    error_message = "timeout must be between 1 and 900 seconds."
  }
}

variable "reserved_concurrent_executions" {
  description = "Concurrency reserved for (and capping) the function."
  type        = number

  validation {
    condition     = var.reserved_concurrent_executions >= 1 && var.reserved_concurrent_executions <= 1000
    error_message = "reserved_concurrent_executions must be between 1 and 1000."
  }
}

variable "environment" {
  description = "Environment variables (the RECO_* configuration)."
  type        = map(string)
  default     = {}
}

variable "policy_json" {
  description = "IAM policy JSON with the function's own data permissions."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets to attach the function to; empty for no VPC attachment."
  type        = list(string)
  default     = []
}

variable "security_group_ids" {
  description = "Security groups of the function's network interfaces (with subnet_ids)."
  type        = list(string)
  default     = []
}

variable "kms_key_arn" {
  description = "KMS key for the environment, the log group and the dead-letter queue."
  type        = string
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the function's logs."
  type        = number

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

variable "enable_dead_letter_queue" {
  description = "Create an encrypted SQS dead-letter queue for failed asynchronous invocations (scheduled jobs)."
  type        = bool
  default     = false
}

variable "tracing_mode" {
  description = "X-Ray tracing mode."
  type        = string
  default     = "Active"

  validation {
    condition     = contains(["Active", "PassThrough"], var.tracing_mode)
    error_message = "tracing_mode must be Active or PassThrough."
  }
}

variable "error_alarm_threshold" {
  description = "Errors within 5 minutes that raise the errors alarm."
  type        = number
  default     = 1

  validation {
    condition     = var.error_alarm_threshold >= 1
    error_message = "error_alarm_threshold must be at least 1."
  }
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

variable "log_level" {
  description = "Application log level of the function's JSON logs (Lambda passes it to the runtime as AWS_LAMBDA_LOG_LEVEL). Keep it INFO or lower: Lambda treats the functions' metric lines (CloudWatch EMF, JSON without a level) as INFO and drops them at WARN and above."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["TRACE", "DEBUG", "INFO"], var.log_level)
    error_message = "log_level must be TRACE, DEBUG or INFO: at WARN and above Lambda drops the functions' metric lines (EMF)."
  }
}
