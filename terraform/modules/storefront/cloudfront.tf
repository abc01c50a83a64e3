locals {
  site_origin   = "site"
  latest_origin = "latest-documents"
  site_max_ttl  = max(var.site_ttl_seconds, 3600)
}

# One origin access control for both (private, SSE-KMS) buckets: CloudFront signs every
# origin request, so neither bucket is ever public.
resource "aws_cloudfront_origin_access_control" "this" {
  name                              = "${var.name}-storefront"
  description                       = "reco storefront: signed requests to the site and recommendations buckets"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

# Own policies rather than AWS managed ones, so the same code also applies where the
# managed IDs do not exist. Nothing of the request is in the cache key: the page and
# the documents vary by path only.
resource "aws_cloudfront_cache_policy" "site" {
  count = var.use_cache_policies ? 1 : 0

  name        = "${var.name}-storefront-site"
  comment     = "reco storefront page files: path only, moderate TTL"
  min_ttl     = 0
  default_ttl = var.site_ttl_seconds
  max_ttl     = local.site_max_ttl

  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_brotli = true
    enable_accept_encoding_gzip   = true

    cookies_config {
      cookie_behavior = "none"
    }
    headers_config {
      header_behavior = "none"
    }
    query_strings_config {
      query_string_behavior = "none"
    }
  }
}

resource "aws_cloudfront_cache_policy" "latest" {
  count = var.use_cache_policies ? 1 : 0

  name        = "${var.name}-storefront-latest"
  comment     = "reco latest documents: path only, seconds-long TTL (the stream updates them within seconds)"
  min_ttl     = 0
  default_ttl = var.latest_default_ttl_seconds
  max_ttl     = var.latest_max_ttl_seconds

  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_brotli = true
    enable_accept_encoding_gzip   = true

    cookies_config {
      cookie_behavior = "none"
    }
    headers_config {
      header_behavior = "none"
    }
    query_strings_config {
      query_string_behavior = "none"
    }
  }
}

resource "aws_cloudfront_response_headers_policy" "security" {
  count = var.use_cache_policies ? 1 : 0

  name    = "${var.name}-storefront-security"
  comment = "reco storefront: security headers on every response"

  security_headers_config {
    content_security_policy {
      content_security_policy = var.content_security_policy
      override                = true
    }
    content_type_options {
      override = true
    }
    frame_options {
      frame_option = "DENY"
      override     = true
    }
    referrer_policy {
      referrer_policy = "strict-origin-when-cross-origin"
      override        = true
    }
    strict_transport_security {
      access_control_max_age_sec = 31536000
      include_subdomains         = true
      preload                    = true
      override                   = true
    }
    xss_protection {
      protection = true
      mode_block = true
      override   = true
    }
  }
}

# WAF (var.web_acl_arn), standard logs (var.access_log_bucket: CloudFront needs an
# ACL-enabled bucket, which this stack's owner-enforced buckets are not) and a custom
# domain with TLS 1.2 (var.aliases, var.acm_certificate_arn) belong to the account's
# edge setup: attached when given.
resource "aws_cloudfront_distribution" "this" {
  #checkov:skip=CKV2_AWS_47:The Log4j rule set belongs to the web ACL given in var.web_acl_arn (none by default); the origins are S3 buckets, which run no Java.
  #checkov:skip=CKV_AWS_374:A storefront is worldwide by default; var.geo_restriction_type restricts it.
  #checkov:skip=CKV_AWS_310:Origin failover needs a second copy of both buckets in another region; the page and documents are regenerated rather than replicated.
  enabled             = true
  comment             = "reco storefront (${var.name}): page files and latest documents"
  default_root_object = "index.html"
  price_class         = var.price_class
  http_version        = "http2and3"
  is_ipv6_enabled     = true
  aliases             = var.aliases
  web_acl_id          = var.web_acl_arn

  origin {
    origin_id                = local.site_origin
    domain_name              = module.site.bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.this.id
  }

  origin {
    origin_id                = local.latest_origin
    domain_name              = var.recommendations_bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.this.id
  }

  default_cache_behavior {
    target_origin_id           = local.site_origin
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = var.use_cache_policies ? aws_cloudfront_cache_policy.site[0].id : null
    response_headers_policy_id = var.use_cache_policies ? aws_cloudfront_response_headers_policy.security[0].id : null

    # The same TTLs as legacy settings where cache policies do not exist (emulator).
    min_ttl     = var.use_cache_policies ? null : 0
    default_ttl = var.use_cache_policies ? null : var.site_ttl_seconds
    max_ttl     = var.use_cache_policies ? null : local.site_max_ttl
    dynamic "forwarded_values" {
      for_each = var.use_cache_policies ? [] : [1]
      content {
        query_string = false
        cookies {
          forward = "none"
        }
      }
    }
  }

  # The page reads a customer's document from its own origin: /latest/customers/<N>.json.
  ordered_cache_behavior {
    path_pattern               = local.latest_path_pattern
    target_origin_id           = local.latest_origin
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = var.use_cache_policies ? aws_cloudfront_cache_policy.latest[0].id : null
    response_headers_policy_id = var.use_cache_policies ? aws_cloudfront_response_headers_policy.security[0].id : null

    min_ttl     = var.use_cache_policies ? null : 0
    default_ttl = var.use_cache_policies ? null : var.latest_default_ttl_seconds
    max_ttl     = var.use_cache_policies ? null : var.latest_max_ttl_seconds
    dynamic "forwarded_values" {
      for_each = var.use_cache_policies ? [] : [1]
      content {
        query_string = false
        cookies {
          forward = "none"
        }
      }
    }
  }

  restrictions {
    geo_restriction {
      restriction_type = var.geo_restriction_type
      locations        = var.geo_restriction_locations
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = var.acm_certificate_arn == null
    acm_certificate_arn            = var.acm_certificate_arn
    ssl_support_method             = var.acm_certificate_arn == null ? null : "sni-only"
    minimum_protocol_version       = var.acm_certificate_arn == null ? "TLSv1" : "TLSv1.2_2021"
  }

  dynamic "logging_config" {
    for_each = var.access_log_bucket == null ? [] : [var.access_log_bucket]
    content {
      bucket          = logging_config.value
      prefix          = "cloudfront/${var.name}-storefront/"
      include_cookies = false
    }
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = var.latest_default_ttl_seconds <= var.latest_max_ttl_seconds
      error_message = "latest_default_ttl_seconds must not exceed latest_max_ttl_seconds."
    }
    precondition {
      condition     = length(var.aliases) == 0 || var.acm_certificate_arn != null
      error_message = "aliases need acm_certificate_arn (a certificate covering them, in us-east-1)."
    }
  }
}
