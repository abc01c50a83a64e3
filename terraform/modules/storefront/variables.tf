variable "name" {
  description = "Name prefix of the distribution's policies and origin access control."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name must be 2-31 lowercase letters, digits or '-', starting with a letter."
  }
}

variable "site_bucket_name" {
  description = "Name of the private bucket holding the page files."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the site bucket and its objects (its policy lets this account's distributions decrypt)."
  type        = string
}

variable "web_dir" {
  description = "Folder whose files (index.html, app.js, style.css, ...) are uploaded to the site bucket; null means web/ next to the Terraform root."
  type        = string
  default     = null
}

variable "recommendations_bucket_regional_domain_name" {
  description = "Regional domain name of the recommendations bucket, the origin of /latest/*."
  type        = string
}

variable "latest_prefix" {
  description = "Key prefix of the latest documents in the recommendations bucket; served at the same path."
  type        = string
  default     = "latest/"

  validation {
    condition     = can(regex("^[a-z0-9_-]+/$", var.latest_prefix))
    error_message = "latest_prefix must be one path segment ending in '/', such as \"latest/\"."
  }
}

variable "site_ttl_seconds" {
  description = "Seconds CloudFront (and browsers, through Cache-Control) keep page files by default; a deploy is visible after at most this long."
  type        = number
  default     = 300

  validation {
    condition     = var.site_ttl_seconds >= 0 && var.site_ttl_seconds <= 86400
    error_message = "site_ttl_seconds must be between 0 and 86400."
  }
}

variable "latest_default_ttl_seconds" {
  description = "Seconds CloudFront keeps a latest document whose response has no Cache-Control (the publisher sends max-age=10)."
  type        = number
  default     = 10

  validation {
    condition     = var.latest_default_ttl_seconds >= 0 && var.latest_default_ttl_seconds <= 60
    error_message = "latest_default_ttl_seconds must be between 0 and 60: latest documents change within seconds."
  }
}

variable "latest_max_ttl_seconds" {
  description = "Longest CloudFront keeps a latest document, whatever its Cache-Control says."
  type        = number
  default     = 60

  validation {
    condition     = var.latest_max_ttl_seconds >= 1 && var.latest_max_ttl_seconds <= 300
    error_message = "latest_max_ttl_seconds must be between 1 and 300: latest documents change within seconds."
  }
}

variable "price_class" {
  description = "CloudFront price class: PriceClass_100 (North America, Europe), PriceClass_200 or PriceClass_All."
  type        = string
  default     = "PriceClass_100"

  validation {
    condition     = contains(["PriceClass_100", "PriceClass_200", "PriceClass_All"], var.price_class)
    error_message = "price_class must be PriceClass_100, PriceClass_200 or PriceClass_All."
  }
}

variable "use_cache_policies" {
  description = "Cache and response headers policies of the distribution's own. Keep true on AWS; false only for an emulator without those APIs (moto): behaviours then carry the same TTLs as legacy settings, without security headers."
  type        = bool
  default     = true
}

variable "content_security_policy" {
  description = "Content-Security-Policy of every response: the page loads its script, style and documents from its own origin only."
  type        = string
  default     = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
}

variable "access_log_bucket" {
  description = "Domain name (<bucket>.s3.amazonaws.com) of an existing bucket with ACLs enabled that receives CloudFront standard logs, or null for none."
  type        = string
  default     = null

  validation {
    condition     = var.access_log_bucket == null ? true : endswith(var.access_log_bucket, ".amazonaws.com")
    error_message = "access_log_bucket must be a bucket domain name such as logs-bucket.s3.amazonaws.com."
  }
}

variable "web_acl_arn" {
  description = "ARN of an existing WAFv2 web ACL (scope CLOUDFRONT, us-east-1) in front of the distribution, or null for none."
  type        = string
  default     = null
}

variable "aliases" {
  description = "Custom domain names of the storefront (need acm_certificate_arn); empty serves only the *.cloudfront.net name."
  type        = list(string)
  default     = []
}

variable "acm_certificate_arn" {
  description = "ACM certificate (us-east-1) for the aliases, or null for CloudFront's default certificate."
  type        = string
  default     = null

  validation {
    condition     = var.acm_certificate_arn == null ? true : can(regex("^arn:aws[a-z-]*:acm:us-east-1:", var.acm_certificate_arn))
    error_message = "acm_certificate_arn must be an ACM certificate in us-east-1 (CloudFront's only region for certificates)."
  }
}

variable "geo_restriction_type" {
  description = "none, whitelist or blacklist of geo_restriction_locations."
  type        = string
  default     = "none"

  validation {
    condition     = contains(["none", "whitelist", "blacklist"], var.geo_restriction_type)
    error_message = "geo_restriction_type must be none, whitelist or blacklist."
  }
}

variable "geo_restriction_locations" {
  description = "ISO 3166-1 alpha-2 country codes of the geo restriction."
  type        = list(string)
  default     = []
}

variable "deny_insecure_transport" {
  description = "The site bucket denies every request not made over TLS. Only an emulator without TLS (ENV=local) turns it off."
  type        = bool
  default     = true
}

variable "force_destroy" {
  description = "Allow `terraform destroy` to delete the site bucket with its objects."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
