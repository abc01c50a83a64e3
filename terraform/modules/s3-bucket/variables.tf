variable "bucket_name" {
  description = "Globally unique name of the bucket."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name)) && !strcontains(var.bucket_name, "..")
    error_message = "bucket_name must be 3-63 characters of lowercase letters, digits, '.' and '-', starting and ending with a letter or digit."
  }
}

variable "kms_key_arn" {
  description = "ARN of the KMS key used for default server-side encryption."
  type        = string
}

variable "lifecycle_rules" {
  description = "Prefix-scoped lifecycle rules: id, prefix, and optionally days until transition to STANDARD_IA and days until expiration."
  type = list(object({
    id                    = string
    prefix                = string
    transition_to_ia_days = optional(number)
    expiration_days       = optional(number)
  }))
  default = []

  validation {
    condition = alltrue([
      for r in var.lifecycle_rules :
      (r.expiration_days == null ? true : r.expiration_days >= 1) &&
      (r.transition_to_ia_days == null ? true : r.transition_to_ia_days >= 30)
    ])
    error_message = "expiration_days must be at least 1 and transition_to_ia_days at least 30 (the S3 minimum for STANDARD_IA)."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days a replaced or deleted object version is kept before it expires."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && var.noncurrent_version_expiration_days <= 3650
    error_message = "noncurrent_version_expiration_days must be between 1 and 3650."
  }
}

variable "deny_insecure_transport" {
  description = "Attach the bucket policy that denies every request not made over TLS. Only an emulator without TLS (ENV=local) turns it off."
  type        = bool
  default     = true
}

variable "policy_statements" {
  description = "Grants added to the bucket policy next to the TLS-only deny (one policy per bucket): sid, principals (e.g. { Service = [\"cloudfront.amazonaws.com\"] }), actions, object key patterns relative to the bucket (\"*\", \"latest/*\") and an optional IAM condition block ({ StringEquals = { \"AWS:SourceArn\" = [arn] } })."
  type = list(object({
    sid         = string
    principals  = map(list(string))
    actions     = list(string)
    object_keys = list(string)
    condition   = optional(map(map(list(string))), {})
  }))
  default = []

  validation {
    condition = alltrue([
      for s in var.policy_statements :
      can(regex("^[A-Za-z0-9]+$", s.sid)) && length(s.actions) > 0 && length(s.object_keys) > 0 &&
      alltrue([for a in s.actions : startswith(a, "s3:")]) &&
      !contains(flatten(values(s.principals)), "*")
    ])
    error_message = "Each policy statement needs an alphanumeric sid, s3: actions, object keys and named principals (never \"*\")."
  }
}

variable "force_destroy" {
  description = "Allow `terraform destroy` to delete the bucket with its objects. Keep false for real data."
  type        = bool
  default     = false
}

variable "access_log_bucket" {
  description = "Name of an existing bucket that receives server access logs, or null for none."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
