# Shared AWS mock data: terraform/tests/mocks/aws.
mock_provider "aws" {
  source = "../../tests/mocks/aws"
}

variables {
  name        = "reco"
  kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/test"
  s3_bucket_arns = [
    "arn:aws:s3:::reco-123456789012-us-east-1-data-lake",
    "arn:aws:s3:::reco-123456789012-us-east-1-artifacts",
    "arn:aws:s3:::reco-123456789012-us-east-1-recommendations",
  ]
}

run "private_subnets_in_two_zones_with_endpoints" {
  command = plan

  assert {
    condition     = length(aws_subnet.private) == 2 && aws_subnet.private[0].availability_zone != aws_subnet.private[1].availability_zone
    error_message = "Two private subnets in two different zones expected."
  }

  assert {
    condition     = !anytrue([for s in aws_subnet.private : s.map_public_ip_on_launch])
    error_message = "Private subnets must not assign public IPs."
  }

  assert {
    condition     = aws_vpc_endpoint.s3.vpc_endpoint_type == "Gateway"
    error_message = "S3 must use a gateway endpoint."
  }

  assert {
    condition     = toset(keys(aws_vpc_endpoint.interface)) == toset(["secretsmanager", "glue"])
    error_message = "Interface endpoints for Secrets Manager and Glue expected."
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 0 && length(aws_internet_gateway.this) == 0
    error_message = "No internet path in endpoints mode."
  }

  assert {
    condition     = aws_vpc_security_group_ingress_rule.postgres_from_transform.from_port == 5432 && aws_vpc_security_group_ingress_rule.postgres_from_transform.to_port == 5432
    error_message = "PostgreSQL must accept exactly 5432 from the transform Lambda."
  }

  assert {
    condition     = aws_vpc_security_group_ingress_rule.postgres_from_loader.from_port == 5432 && aws_vpc_security_group_egress_rule.loader_to_postgres.to_port == 5432
    error_message = "The embeddings loader must reach PostgreSQL on exactly 5432."
  }

  assert {
    condition     = toset(keys(aws_vpc_security_group_egress_rule.functions_to_s3)) == toset(["transform", "jobs", "loader", "scoring"])
    error_message = "Every function group (transform, jobs, loader, scoring) must reach S3 through the gateway endpoint."
  }

  assert {
    condition     = [for r in aws_vpc_security_group_egress_rule.jobs_to_mysql : r.cidr_ipv4] == ["10.42.0.0/16"] && alltrue([for r in aws_vpc_security_group_egress_rule.jobs_to_mysql : r.from_port == 3306 && r.to_port == 3306])
    error_message = "Jobs must reach MySQL on 3306 only, inside the VPC by default."
  }

  assert {
    condition     = aws_vpc_security_group_ingress_rule.mysql_from_jobs.from_port == 3306 && aws_vpc_security_group_ingress_rule.mysql_from_jobs.to_port == 3306 && length(aws_vpc_security_group_ingress_rule.mysql_from_operators) == 0
    error_message = "The source MySQL must accept exactly 3306 from the jobs, and nothing else by default."
  }

  assert {
    condition     = length(aws_flow_log.this) == 1
    error_message = "Flow logs expected by default."
  }
}

run "nat_mode_replaces_interface_endpoints" {
  command = plan

  variables {
    egress_mode       = "nat"
    enable_flow_logs  = false
    mysql_cidr_blocks = ["172.31.0.0/16"]
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 1 && length(aws_subnet.public) == 2 && length(aws_vpc_endpoint.interface) == 0
    error_message = "NAT mode needs a NAT gateway, public subnets and no interface endpoints."
  }

  assert {
    condition     = length(aws_flow_log.this) == 0 && length(aws_cloudwatch_log_group.flow_logs) == 0
    error_message = "Flow logs must be switchable off."
  }

  assert {
    condition     = [for r in aws_vpc_security_group_egress_rule.jobs_to_mysql : r.cidr_ipv4] == ["172.31.0.0/16"]
    error_message = "mysql_cidr_blocks must replace the VPC range for 3306."
  }
}

run "rejects_small_vpc" {
  command = plan

  variables {
    vpc_cidr = "10.0.0.0/24"
  }

  expect_failures = [var.vpc_cidr]
}

run "rejects_unknown_egress_mode" {
  command = plan

  variables {
    egress_mode = "vpn"
  }

  expect_failures = [var.egress_mode]
}

run "rejects_three_zones" {
  command = plan

  variables {
    availability_zones = ["us-east-1a", "us-east-1b", "us-east-1c"]
  }

  expect_failures = [var.availability_zones]
}

# The gateway endpoint's policy names exactly the project's buckets (and their objects),
# exactly the actions the functions call, and only principals of the stack's account.
run "s3_endpoint_policy_names_exactly_the_project_buckets" {
  command = plan

  assert {
    condition = toset(flatten([for s in jsondecode(aws_vpc_endpoint.s3.policy).Statement : s.Resource])) == toset([
      "arn:aws:s3:::reco-123456789012-us-east-1-artifacts",
      "arn:aws:s3:::reco-123456789012-us-east-1-data-lake",
      "arn:aws:s3:::reco-123456789012-us-east-1-recommendations",
      "arn:aws:s3:::reco-123456789012-us-east-1-artifacts/*",
      "arn:aws:s3:::reco-123456789012-us-east-1-data-lake/*",
      "arn:aws:s3:::reco-123456789012-us-east-1-recommendations/*",
    ])
    error_message = "The S3 endpoint policy must name the three project buckets and their objects, nothing else."
  }

  assert {
    condition = jsonencode({ for s in jsondecode(aws_vpc_endpoint.s3.policy).Statement : s.Sid => sort(s.Action) }) == jsonencode({
      ListProjectBuckets      = ["s3:ListBucket"]
      ReadWriteProjectObjects = ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    })
    error_message = "The S3 endpoint policy must allow ListBucket on the buckets and Get/Put/Delete/AbortMultipartUpload on their objects, nothing broader."
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_vpc_endpoint.s3.policy).Statement :
      s.Effect == "Allow" && s.Condition == { StringEquals = { "aws:PrincipalAccount" = "123456789012" } }
    ])
    error_message = "Every statement of the S3 endpoint policy must be limited to principals of the stack's account."
  }

  assert {
    condition     = !strcontains(aws_vpc_endpoint.s3.policy, "s3:*") && !strcontains(aws_vpc_endpoint.s3.policy, "\"Resource\":\"*\"")
    error_message = "The S3 endpoint policy must use no action or resource wildcard."
  }
}

run "rejects_a_wildcard_bucket" {
  command = plan

  variables {
    s3_bucket_arns = ["arn:aws:s3:::*"]
  }

  expect_failures = [var.s3_bucket_arns]
}

run "rejects_no_bucket" {
  command = plan

  variables {
    s3_bucket_arns = []
  }

  expect_failures = [var.s3_bucket_arns]
}

# CIDR blocks: refused by what they mean, not by how they are spelt.
run "accepts_canonical_narrow_client_ranges" {
  command = plan

  variables {
    postgres_client_cidr_blocks = ["10.20.0.0/16", "192.168.4.10/32"]
    mysql_client_cidr_blocks    = ["172.16.8.0/24"]
    mysql_cidr_blocks           = ["172.31.0.0/16"]
  }

  assert {
    condition     = toset([for r in aws_vpc_security_group_ingress_rule.postgres_from_operators : r.cidr_ipv4]) == toset(["10.20.0.0/16", "192.168.4.10/32"])
    error_message = "Valid operator ranges must become PostgreSQL ingress rules as written."
  }

  assert {
    condition     = [for r in aws_vpc_security_group_ingress_rule.mysql_from_operators : r.cidr_ipv4] == ["172.16.8.0/24"]
    error_message = "A valid operator range must become a MySQL ingress rule as written."
  }
}

run "rejects_mysql_open_to_the_world" {
  command = plan

  variables {
    mysql_cidr_blocks = ["0.0.0.0/0"]
  }

  expect_failures = [var.mysql_cidr_blocks]
}

run "rejects_the_world_with_a_padded_prefix" {
  command = plan

  variables {
    postgres_client_cidr_blocks = ["0.0.0.0/00"]
  }

  expect_failures = [var.postgres_client_cidr_blocks]
}

run "rejects_the_lower_half_of_the_internet" {
  command = plan

  variables {
    postgres_client_cidr_blocks = ["0.0.0.0/1"]
  }

  expect_failures = [var.postgres_client_cidr_blocks]
}

run "rejects_the_upper_half_of_the_internet" {
  command = plan

  variables {
    mysql_client_cidr_blocks = ["128.0.0.0/1"]
  }

  expect_failures = [var.mysql_client_cidr_blocks]
}

run "rejects_ipv6_everywhere" {
  command = plan

  variables {
    postgres_client_cidr_blocks = ["::/0"]
  }

  expect_failures = [var.postgres_client_cidr_blocks]
}

run "rejects_host_bits_set" {
  command = plan

  variables {
    postgres_client_cidr_blocks = ["10.20.0.0/16", "10.1.2.3/16"]
  }

  expect_failures = [var.postgres_client_cidr_blocks]
}

run "rejects_a_range_wider_than_a_vpc" {
  command = plan

  variables {
    mysql_cidr_blocks = ["10.0.0.0/8"]
  }

  expect_failures = [var.mysql_cidr_blocks]
}

run "rejects_leading_zeros" {
  command = plan

  variables {
    mysql_client_cidr_blocks = ["010.20.0.0/16"]
  }

  expect_failures = [var.mysql_client_cidr_blocks]
}

run "rejects_a_vpc_range_with_host_bits" {
  command = plan

  variables {
    vpc_cidr = "10.42.1.0/16"
  }

  expect_failures = [var.vpc_cidr]
}
