output "storefront_url" {
  description = "URL of the storefront page."
  value       = "https://${try(var.aliases[0], aws_cloudfront_distribution.this.domain_name)}/"
}

output "distribution_id" {
  description = "ID of the CloudFront distribution (for invalidations)."
  value       = aws_cloudfront_distribution.this.id
}

output "distribution_arn" {
  description = "ARN of the CloudFront distribution."
  value       = aws_cloudfront_distribution.this.arn
}

output "distribution_domain_name" {
  description = "The distribution's *.cloudfront.net domain name."
  value       = aws_cloudfront_distribution.this.domain_name
}

output "site_bucket" {
  description = "Bucket of the page files."
  value       = module.site.bucket
}

output "site_files" {
  description = "Keys of the uploaded page files."
  value       = sort(keys(aws_s3_object.site))
}

output "recommendations_bucket_policy_statements" {
  description = "Grant for the recommendations bucket's policy (the s3-bucket module's policy_statements form): this distribution reads the latest documents, nothing else."
  value = [
    {
      sid         = "CloudFrontReadsLatestDocuments"
      principals  = { Service = ["cloudfront.amazonaws.com"] }
      actions     = ["s3:GetObject"]
      object_keys = ["${var.latest_prefix}*"]
      condition   = { StringEquals = { "AWS:SourceArn" = [aws_cloudfront_distribution.this.arn] } }
    },
  ]
}
