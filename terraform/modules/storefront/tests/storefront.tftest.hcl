# Shared AWS mock data (terraform/tests/mocks/aws); the site bucket's names are this
# test's own.
mock_provider "aws" {
  source = "../../tests/mocks/aws"

  mock_resource "aws_s3_bucket" {
    defaults = {
      arn                         = "arn:aws:s3:::reco-123456789012-us-east-1-site"
      bucket_regional_domain_name = "reco-123456789012-us-east-1-site.s3.us-east-1.amazonaws.com"
    }
  }
}

variables {
  name                                        = "reco"
  site_bucket_name                            = "reco-123456789012-us-east-1-site"
  kms_key_arn                                 = "arn:aws:kms:us-east-1:123456789012:key/test"
  web_dir                                     = "tests/fixtures/web"
  recommendations_bucket_regional_domain_name = "reco-123456789012-us-east-1-recommendations.s3.us-east-1.amazonaws.com"
}

run "site_and_latest_documents_behind_origin_access_control" {
  command = apply

  assert {
    condition     = length(aws_cloudfront_distribution.this.origin) == 2 && alltrue([for o in aws_cloudfront_distribution.this.origin : o.origin_access_control_id == aws_cloudfront_origin_access_control.this.id])
    error_message = "Both origins must be reached through the origin access control."
  }

  assert {
    condition     = aws_cloudfront_origin_access_control.this.signing_behavior == "always" && aws_cloudfront_origin_access_control.this.signing_protocol == "sigv4" && aws_cloudfront_origin_access_control.this.origin_access_control_origin_type == "s3"
    error_message = "CloudFront must sign every origin request with SigV4."
  }

  assert {
    condition = toset([for o in aws_cloudfront_distribution.this.origin : o.domain_name]) == toset([
      "reco-123456789012-us-east-1-site.s3.us-east-1.amazonaws.com",
      "reco-123456789012-us-east-1-recommendations.s3.us-east-1.amazonaws.com",
    ])
    error_message = "The origins must be the site bucket and the recommendations bucket."
  }

  assert {
    condition     = aws_cloudfront_distribution.this.default_root_object == "index.html" && one(aws_cloudfront_distribution.this.default_cache_behavior).target_origin_id == "site"
    error_message = "The page is the site bucket's index.html."
  }

  assert {
    condition     = one(aws_cloudfront_distribution.this.ordered_cache_behavior).path_pattern == "/latest/*" && one(aws_cloudfront_distribution.this.ordered_cache_behavior).target_origin_id == "latest-documents"
    error_message = "/latest/* must go to the recommendations bucket."
  }

  assert {
    condition     = one(aws_cloudfront_distribution.this.ordered_cache_behavior).cache_policy_id == aws_cloudfront_cache_policy.latest[0].id && aws_cloudfront_cache_policy.latest[0].default_ttl == 10 && aws_cloudfront_cache_policy.latest[0].max_ttl == 60 && aws_cloudfront_cache_policy.latest[0].min_ttl == 0
    error_message = "Latest documents must be cached seconds only (default 10 s, at most 60 s)."
  }

  assert {
    condition     = one(aws_cloudfront_distribution.this.default_cache_behavior).cache_policy_id == aws_cloudfront_cache_policy.site[0].id && aws_cloudfront_cache_policy.site[0].default_ttl == 300
    error_message = "Page files must use the site's own cache policy."
  }

  assert {
    condition = alltrue([
      for b in concat(aws_cloudfront_distribution.this.default_cache_behavior, aws_cloudfront_distribution.this.ordered_cache_behavior) :
      b.viewer_protocol_policy == "redirect-to-https" && toset(b.allowed_methods) == toset(["GET", "HEAD"]) && b.response_headers_policy_id == aws_cloudfront_response_headers_policy.security[0].id
    ])
    error_message = "Every behaviour: HTTPS only, GET/HEAD only, security headers."
  }

  assert {
    condition     = one(aws_cloudfront_response_headers_policy.security[0].security_headers_config[0].strict_transport_security).access_control_max_age_sec >= 31536000 && one(aws_cloudfront_response_headers_policy.security[0].security_headers_config[0].frame_options).frame_option == "DENY"
    error_message = "The response headers policy must send HSTS and deny framing."
  }

  assert {
    condition     = aws_cloudfront_distribution.this.price_class == "PriceClass_100"
    error_message = "The default price class is PriceClass_100."
  }

  assert {
    condition     = output.site_files == tolist(["app.js", "index.html", "style.css"])
    error_message = "Every page file but hidden ones must be uploaded."
  }

  assert {
    condition = {
      for k, o in aws_s3_object.site : k => o.content_type
      } == {
      "app.js"     = "text/javascript; charset=utf-8"
      "index.html" = "text/html; charset=utf-8"
      "style.css"  = "text/css; charset=utf-8"
    }
    error_message = "Page files must carry their content types."
  }

  assert {
    condition     = aws_s3_object.site["index.html"].source_hash == filemd5("tests/fixtures/web/index.html") && aws_s3_object.site["index.html"].kms_key_id == var.kms_key_arn
    error_message = "Objects must be re-uploaded when their file changes and encrypted with the stack's key."
  }

  assert {
    condition     = output.storefront_url == "https://d111111abcdef8.cloudfront.net/" && output.site_bucket == "reco-123456789012-us-east-1-site" && output.distribution_id == "E2MOCK"
    error_message = "storefront_url, site_bucket and distribution_id outputs expected."
  }

  assert {
    condition = output.recommendations_bucket_policy_statements == [{
      sid         = "CloudFrontReadsLatestDocuments"
      principals  = { Service = ["cloudfront.amazonaws.com"] }
      actions     = ["s3:GetObject"]
      object_keys = ["latest/*"]
      condition   = { StringEquals = { "AWS:SourceArn" = ["arn:aws:cloudfront::123456789012:distribution/E2MOCK"] } }
    }]
    error_message = "The recommendations bucket may grant this distribution GetObject on latest/* only."
  }

  assert {
    condition     = length(aws_cloudfront_distribution.this.logging_config) == 0 && aws_cloudfront_distribution.this.web_acl_id == null
    error_message = "No logging or WAF unless given."
  }
}

run "legacy_ttls_where_cache_policies_do_not_exist" {
  command = plan

  variables {
    use_cache_policies         = false
    latest_default_ttl_seconds = 5
  }

  assert {
    condition     = length(aws_cloudfront_cache_policy.latest) == 0 && length(aws_cloudfront_cache_policy.site) == 0 && length(aws_cloudfront_response_headers_policy.security) == 0
    error_message = "No policies where the emulator lacks them."
  }

  assert {
    condition     = one(aws_cloudfront_distribution.this.ordered_cache_behavior).default_ttl == 5 && one(aws_cloudfront_distribution.this.ordered_cache_behavior).max_ttl == 60 && length(one(aws_cloudfront_distribution.this.ordered_cache_behavior).forwarded_values) == 1
    error_message = "/latest/* must keep its short TTL as legacy settings."
  }
}

run "logging_waf_and_custom_domain_when_given" {
  command = plan

  variables {
    access_log_bucket   = "central-logs.s3.amazonaws.com"
    web_acl_arn         = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/edge/abc"
    aliases             = ["shop.example.com"]
    acm_certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
  }

  assert {
    condition     = one(aws_cloudfront_distribution.this.logging_config).bucket == "central-logs.s3.amazonaws.com" && aws_cloudfront_distribution.this.web_acl_id == var.web_acl_arn
    error_message = "Logging and WAF must be attached when given."
  }

  assert {
    condition     = one(aws_cloudfront_distribution.this.viewer_certificate).minimum_protocol_version == "TLSv1.2_2021" && !one(aws_cloudfront_distribution.this.viewer_certificate).cloudfront_default_certificate
    error_message = "A custom certificate must enforce TLS 1.2."
  }

  assert {
    condition     = output.storefront_url == "https://shop.example.com/"
    error_message = "The storefront URL must use the custom domain."
  }
}

run "rejects_latest_ttl_over_a_minute" {
  command = plan

  variables {
    latest_default_ttl_seconds = 120
  }

  expect_failures = [var.latest_default_ttl_seconds]
}

run "rejects_default_ttl_above_max" {
  command = plan

  variables {
    latest_default_ttl_seconds = 30
    latest_max_ttl_seconds     = 20
  }

  expect_failures = [aws_cloudfront_distribution.this]
}

run "rejects_aliases_without_certificate" {
  command = plan

  variables {
    aliases = ["shop.example.com"]
  }

  expect_failures = [aws_cloudfront_distribution.this]
}

run "rejects_unknown_price_class" {
  command = plan

  variables {
    price_class = "PriceClass_Cheap"
  }

  expect_failures = [var.price_class]
}
