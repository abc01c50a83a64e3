variable "name" {
  description = "Name prefix of every network resource."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name must be 2-31 lowercase letters, digits or '-', starting with a letter."
  }
}

# CIDR blocks are checked with Terraform's network functions, not compared as strings:
# cidrnetmask() accepts IPv4 only, and rebuilding "<cidrhost(c, 0)>/<prefix>" must give
# back exactly what was written, which refuses host bits (10.1.2.3/16), leading zeros
# (0.0.0.0/00, 010.0.0.0/16) and anything that is not a canonical a.b.c.d/n.
variable "vpc_cidr" {
  description = "IPv4 range of the VPC, canonical (no host bits set); /16 to /22 so two private and two public /24s fit."
  type        = string
  default     = "10.42.0.0/16"

  validation {
    condition = try(
      can(cidrnetmask(var.vpc_cidr))
      && format("%s/%d", cidrhost(var.vpc_cidr, 0), tonumber(split("/", var.vpc_cidr)[1])) == var.vpc_cidr
      && tonumber(split("/", var.vpc_cidr)[1]) >= 16
      && tonumber(split("/", var.vpc_cidr)[1]) <= 22,
      false
    )
    error_message = "vpc_cidr must be a canonical IPv4 CIDR block (network address, no host bits set, e.g. 10.42.0.0/16) with a prefix length between /16 and /22."
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
  description = "Where the source MySQL database lives (jobs may open 3306 only there); empty means inside this VPC. Canonical IPv4 CIDR blocks (no host bits set) of /16 or narrower: /16 is the largest range a VPC can have, so a wider block can only be a mistake."
  type        = list(string)
  default     = []

  validation {
    condition = alltrue([for c in var.mysql_cidr_blocks : try(
      can(cidrnetmask(c))
      && format("%s/%d", cidrhost(c, 0), tonumber(split("/", c)[1])) == c
      && tonumber(split("/", c)[1]) >= 16,
      false
    )])
    error_message = "mysql_cidr_blocks must be canonical IPv4 CIDR blocks (network address, no host bits set, e.g. 10.20.0.0/16 or 192.168.4.10/32) of /16 or narrower."
  }
}

variable "postgres_client_cidr_blocks" {
  description = "Extra ranges (bastion, VPN) allowed to reach PostgreSQL on 5432, e.g. to run sql/embeddings.sql. Canonical IPv4 CIDR blocks (no host bits set) of /16 or narrower: /16 is the largest range a VPC can have, so a wider block can only be a mistake."
  type        = list(string)
  default     = []

  validation {
    condition = alltrue([for c in var.postgres_client_cidr_blocks : try(
      can(cidrnetmask(c))
      && format("%s/%d", cidrhost(c, 0), tonumber(split("/", c)[1])) == c
      && tonumber(split("/", c)[1]) >= 16,
      false
    )])
    error_message = "postgres_client_cidr_blocks must be canonical IPv4 CIDR blocks (network address, no host bits set, e.g. 10.20.0.0/16 or 192.168.4.10/32) of /16 or narrower."
  }
}

variable "mysql_client_cidr_blocks" {
  description = "Extra ranges (bastion, VPN) allowed to reach a source MySQL created in this VPC, e.g. to load classicmodels. Canonical IPv4 CIDR blocks (no host bits set) of /16 or narrower: /16 is the largest range a VPC can have, so a wider block can only be a mistake."
  type        = list(string)
  default     = []

  validation {
    condition = alltrue([for c in var.mysql_client_cidr_blocks : try(
      can(cidrnetmask(c))
      && format("%s/%d", cidrhost(c, 0), tonumber(split("/", c)[1])) == c
      && tonumber(split("/", c)[1]) >= 16,
      false
    )])
    error_message = "mysql_client_cidr_blocks must be canonical IPv4 CIDR blocks (network address, no host bits set, e.g. 10.20.0.0/16 or 192.168.4.10/32) of /16 or narrower."
  }
}

variable "s3_bucket_arns" {
  description = "ARNs of the project's buckets that anything in the VPC uses (data lake, artifacts, recommendations): the S3 gateway endpoint's policy allows these buckets and no other. Bucket ARNs only (arn:<partition>:s3:::<name>), no wildcards, no object paths."
  type        = list(string)

  validation {
    condition     = length(var.s3_bucket_arns) > 0 && alltrue([for a in var.s3_bucket_arns : can(regex("^arn:aws(-[a-z]+)*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", a))])
    error_message = "s3_bucket_arns must list at least one bucket ARN such as arn:aws:s3:::reco-123456789012-us-east-1-data-lake (no wildcards, no object paths)."
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
