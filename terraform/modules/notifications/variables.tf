variable "name" {
  description = "Name prefix of the topic (<name>-notifications)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name must be 2-31 lowercase letters, digits or '-', starting with a letter."
  }
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the topic; its policy must let CloudWatch and EventBridge use it (modules/kms does)."
  type        = string
}

variable "email" {
  description = "E-mail address subscribed to the topic (it must confirm the subscription), or null for none."
  type        = string
  default     = null

  validation {
    condition     = var.email == null ? true : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.email))
    error_message = "email must be an e-mail address such as ops@example.com, or null."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
