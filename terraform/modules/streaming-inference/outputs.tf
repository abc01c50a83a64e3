output "click_stream_name" {
  description = "Kinesis stream the front end (or `reco produce`) writes click events to."
  value       = aws_kinesis_stream.clicks.name
}

output "click_stream_arn" {
  description = "ARN of the click stream."
  value       = aws_kinesis_stream.clicks.arn
}

output "delivery_stream_name" {
  description = "Firehose delivery stream (its configuration drives the local Firehose runner)."
  value       = aws_kinesis_firehose_delivery_stream.this.name
}

output "delivery_stream_arn" {
  description = "ARN of the delivery stream."
  value       = aws_kinesis_firehose_delivery_stream.this.arn
}

output "transform_function_name" {
  description = "Name of the transform Lambda."
  value       = module.transform.function_name
}

output "transform_function_arn" {
  description = "Unqualified ARN of the transform Lambda."
  value       = module.transform.function_arn
}

output "recommendations_bucket" {
  description = "Bucket of delivered recommendations."
  value       = module.recommendations.bucket
}

output "recommendations_bucket_arn" {
  description = "ARN of the recommendations bucket."
  value       = module.recommendations.arn
}

output "recommendations_prefix" {
  description = "S3 key prefix template of delivered recommendations."
  value       = local.s3_prefix
}

output "error_output_prefix" {
  description = "S3 key prefix template of failed records."
  value       = local.error_prefix
}

output "recommendations_bucket_regional_domain_name" {
  description = "Regional domain name of the recommendations bucket (the storefront's origin of latest documents)."
  value       = module.recommendations.bucket_regional_domain_name
}

output "latest_prefix" {
  description = "Key prefix of the latest document of every customer (latest/customers/<N>.json)."
  value       = local.latest_prefix
}

output "delivered_log_table" {
  description = "Glue table of the delivered log (partition projection on dt and hour)."
  value       = aws_glue_catalog_table.delivered_log.name
}

output "publisher_function_name" {
  description = "Name of the publisher Lambda."
  value       = module.publisher.function_name
}

output "publisher_queue_url" {
  description = "Queue of the recommendations bucket's object-created notifications."
  value       = aws_sqs_queue.publisher.id
}

output "publisher_dead_letter_queue_arn" {
  description = "Dead-letter queue of notifications the publisher failed on."
  value       = aws_sqs_queue.publisher_dead_letter.arn
}

output "events_delivery_stream_name" {
  description = "Firehose delivery stream writing the raw click events as Parquet under events/ of the data lake."
  value       = aws_kinesis_firehose_delivery_stream.events.name
}

output "click_events_table" {
  description = "Glue table of the raw click events (partition dt)."
  value       = aws_glue_catalog_table.click_events.name
}
