variable "name" {
  description = "Name of the key's alias (without the alias/ prefix), normally the stack's name prefix."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9/_-]{1,250}$", var.name)) && !startswith(var.name, "aws/")
    error_message = "The name must be 1-250 characters of letters, digits, '/', '_' or '-' and must not start with 'aws/'."
  }
}

variable "description" {
  description = "Description of the key."
  type        = string
  default     = "reco: encrypts the recommendation pipeline's data at rest"
}

variable "deletion_window_in_days" {
  description = "Days a scheduled deletion of the key waits before it happens (7-30)."
  type        = number
  default     = 30

  validation {
    condition     = var.deletion_window_in_days >= 7 && var.deletion_window_in_days <= 30
    error_message = "deletion_window_in_days must be between 7 and 30."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
