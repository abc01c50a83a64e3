locals {
  web_dir = coalesce(var.web_dir, "${path.root}/../web")
  # Every file of the folder but hidden ones (editor and OS leftovers).
  site_files = toset([for f in fileset(local.web_dir, "**") : f if !startswith(basename(f), ".")])

  content_types = {
    html  = "text/html; charset=utf-8"
    js    = "text/javascript; charset=utf-8"
    mjs   = "text/javascript; charset=utf-8"
    css   = "text/css; charset=utf-8"
    json  = "application/json"
    map   = "application/json"
    txt   = "text/plain; charset=utf-8"
    svg   = "image/svg+xml"
    png   = "image/png"
    jpg   = "image/jpeg"
    jpeg  = "image/jpeg"
    gif   = "image/gif"
    webp  = "image/webp"
    ico   = "image/x-icon"
    woff2 = "font/woff2"
  }

  latest_path_pattern = "/${var.latest_prefix}*"
}

# The page files, private: only the distribution reads them (bucket policy below).
module "site" {
  source = "../s3-bucket"

  bucket_name   = var.site_bucket_name
  kms_key_arn   = var.kms_key_arn
  force_destroy = var.force_destroy

  deny_insecure_transport = var.deny_insecure_transport
  policy_statements = [
    {
      sid         = "CloudFrontReadsSite"
      principals  = { Service = ["cloudfront.amazonaws.com"] }
      actions     = ["s3:GetObject"]
      object_keys = ["*"]
      condition   = { StringEquals = { "AWS:SourceArn" = [aws_cloudfront_distribution.this.arn] } }
    },
  ]
  tags = var.tags
}

resource "aws_s3_object" "site" {
  for_each = local.site_files

  bucket       = module.site.bucket
  key          = each.value
  source       = "${local.web_dir}/${each.value}"
  content_type = lookup(local.content_types, lower(reverse(split(".", each.value))[0]), "application/octet-stream")
  # Browsers keep page files as long as CloudFront does, so a deploy shows within the TTL.
  cache_control = "max-age=${var.site_ttl_seconds}"
  # source_hash, not etag: an SSE-KMS object's ETag is not its MD5.
  source_hash = filemd5("${local.web_dir}/${each.value}")

  server_side_encryption = "aws:kms"
  kms_key_id             = var.kms_key_arn
  bucket_key_enabled     = true

  tags = var.tags
}
