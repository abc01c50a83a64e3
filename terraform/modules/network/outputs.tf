output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "IPv4 range of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "private_subnet_ids" {
  description = "IDs of the two private subnets (functions, database)."
  value       = aws_subnet.private[*].id
}

output "transform_security_group_id" {
  description = "Security group for the transform Lambda."
  value       = aws_security_group.transform.id
}

output "jobs_security_group_id" {
  description = "Security group for the scheduled ETL and training jobs."
  value       = aws_security_group.jobs.id
}

output "loader_security_group_id" {
  description = "Security group for the embeddings loader Lambda (PostgreSQL 5432, HTTPS to AWS APIs)."
  value       = aws_security_group.loader.id
}

output "scoring_security_group_id" {
  description = "Security group for the batch scoring Lambda (HTTPS to S3 and AWS APIs only)."
  value       = aws_security_group.scoring.id
}

output "postgres_security_group_id" {
  description = "Security group for the PostgreSQL vector database."
  value       = aws_security_group.postgres.id
}

output "mysql_security_group_id" {
  description = "Security group for a source MySQL database in this VPC."
  value       = aws_security_group.mysql.id
}

output "s3_endpoint_id" {
  description = "ID of the S3 gateway endpoint."
  value       = aws_vpc_endpoint.s3.id
}

output "interface_endpoint_ids" {
  description = "IDs of the interface endpoints by service name."
  value       = { for k, v in aws_vpc_endpoint.interface : k => v.id }
}

output "nat_gateway_id" {
  description = "ID of the NAT gateway, or null when egress_mode is \"endpoints\"."
  value       = try(aws_nat_gateway.this[0].id, null)
}
