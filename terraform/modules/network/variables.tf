variable "name" {
  description = "Name prefix of every network resource."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name must be 2-31 lowercase letters, digits or '-', starting with a letter."
  }
}

variable "vpc_cidr" {
  description = "IPv4 range of the VPC; /16 to /22 so two private and two public /24s fit."
  type        = string
  default     = "10.42.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && try(tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 22, false)
    error_message = "vpc_cidr must be an IPv4 CIDR block with a prefix length between /16 and /22."
  }
}

variable "availability_zones" {
  description = "Exactly two availability zones for the private subnets; null picks the region's first two."
  type        = list(string)
  default     = null

  validation {
    condition     = var.availability_zones == null ? true : length(var.availability_zones) == 2
    error_message = "availability_zones must list exactly two zones (RDS subnet groups need two)."
  }
}

variable "egress_mode" {
  description = "How private functions reach AWS APIs: \"endpoints\" (interface VPC endpoints, no internet path) or \"nat\" (one NAT gateway)."
  type        = string
  default     = "endpoints"

  validation {
    condition     = contains(["endpoints", "nat"], var.egress_mode)
    error_message = "egress_mode must be \"endpoints\" or \"nat\"."
  }
}

variable "interface_endpoint_services" {
  description = "AWS services reached through interface endpoints when egress_mode is \"endpoints\" (S3 always uses a gateway endpoint)."
  type        = list(string)
  default     = ["secretsmanager", "glue"]

  validation {
    condition     = alltrue([for s in var.interface_endpoint_services : can(regex("^[a-z0-9.-]+$", s)) && s != "s3"])
    error_message = "interface_endpoint_services must be service names such as \"secretsmanager\" (not \"s3\", which has a gateway endpoint)."
  }
}

variable "mysql_cidr_blocks" {
  description = "Where the source MySQL database lives (jobs may open 3306 only there); empty means inside this VPC."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.mysql_cidr_blocks : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "mysql_cidr_blocks must be IPv4 CIDR blocks, and not 0.0.0.0/0."
  }
}

variable "postgres_client_cidr_blocks" {
  description = "Extra ranges (bastion, VPN) allowed to reach PostgreSQL on 5432, e.g. to run sql/embeddings.sql."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.postgres_client_cidr_blocks : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "postgres_client_cidr_blocks must be IPv4 CIDR blocks, and not 0.0.0.0/0."
  }
}

variable "mysql_client_cidr_blocks" {
  description = "Extra ranges (bastion, VPN) allowed to reach a source MySQL created in this VPC, e.g. to load classicmodels."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.mysql_client_cidr_blocks : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "mysql_client_cidr_blocks must be IPv4 CIDR blocks, and not 0.0.0.0/0."
  }
}

variable "enable_flow_logs" {
  description = "Send VPC flow logs to an encrypted CloudWatch log group."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the flow logs."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the flow log group."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
