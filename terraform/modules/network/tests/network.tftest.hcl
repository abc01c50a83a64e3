# Shared AWS mock data: terraform/tests/mocks/aws.
mock_provider "aws" {
  source = "../../tests/mocks/aws"
}

variables {
  name        = "reco"
  kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/test"
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

run "rejects_mysql_open_to_the_world" {
  command = plan

  variables {
    mysql_cidr_blocks = ["0.0.0.0/0"]
  }

  expect_failures = [var.mysql_cidr_blocks]
}
