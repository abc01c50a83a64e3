# One group per role in the traffic graph; rules name exactly the flows that exist:
#   transform Lambda -> PostgreSQL 5432, embeddings loader -> PostgreSQL 5432,
#   jobs (ETL, training) -> MySQL 3306 (the source database, in this VPC when the
#   stack creates it), functions -> AWS APIs 443 (interface endpoints or NAT),
#   functions -> S3 443 (the scorer needs nothing else).
# A group's description cannot change without replacing the group (and detaching it
# from its database), so the older ones keep their first wording.

resource "aws_security_group" "transform" {
  #checkov:skip=CKV2_AWS_5:Attached outside this module (see outputs.tf: transform_security_group_id); checkov does not follow module outputs.
  name        = "${var.name}-transform"
  description = "Transform Lambda: k-NN queries to PostgreSQL, model artifacts from S3, secret from Secrets Manager"
  vpc_id      = aws_vpc.this.id
  tags        = merge(var.tags, { Name = "${var.name}-transform" })
}

resource "aws_security_group" "jobs" {
  #checkov:skip=CKV2_AWS_5:Attached outside this module (see outputs.tf: jobs_security_group_id); checkov does not follow module outputs.
  name        = "${var.name}-jobs"
  description = "Scheduled ETL and training jobs: extracts from MySQL, S3, Glue and Secrets Manager"
  vpc_id      = aws_vpc.this.id
  tags        = merge(var.tags, { Name = "${var.name}-jobs" })
}

# The daily loop's embeddings loader (COPY + swap in pgvector).
resource "aws_security_group" "loader" {
  #checkov:skip=CKV2_AWS_5:Attached outside this module (see outputs.tf: loader_security_group_id); checkov does not follow module outputs.
  name        = "${var.name}-loader"
  description = "Embeddings loader Lambda: COPY into PostgreSQL, model files from S3, secret from Secrets Manager"
  vpc_id      = aws_vpc.this.id
  tags        = merge(var.tags, { Name = "${var.name}-loader" })
}

# The daily loop's batch scorer: S3 only (through the gateway endpoint).
resource "aws_security_group" "scoring" {
  #checkov:skip=CKV2_AWS_5:Attached outside this module (see outputs.tf: scoring_security_group_id); checkov does not follow module outputs.
  name        = "${var.name}-scoring"
  description = "Batch scoring Lambda: model, snapshot and latest documents in S3 only"
  vpc_id      = aws_vpc.this.id
  tags        = merge(var.tags, { Name = "${var.name}-scoring" })
}

resource "aws_security_group" "postgres" {
  #checkov:skip=CKV2_AWS_5:Attached outside this module (see outputs.tf: postgres_security_group_id); checkov does not follow module outputs.
  name        = "${var.name}-postgres"
  description = "Vector database: PostgreSQL from the transform Lambda only"
  vpc_id      = aws_vpc.this.id
  tags        = merge(var.tags, { Name = "${var.name}-postgres" })
}

resource "aws_security_group" "mysql" {
  #checkov:skip=CKV2_AWS_5:Attached outside this module (see outputs.tf: mysql_security_group_id) when the stack creates the source database; checkov does not follow module outputs.
  name        = "${var.name}-mysql"
  description = "Source MySQL database: from the scheduled jobs only"
  vpc_id      = aws_vpc.this.id
  tags        = merge(var.tags, { Name = "${var.name}-mysql" })
}

resource "aws_security_group" "endpoints" {
  name        = "${var.name}-endpoints"
  description = "Interface VPC endpoints: HTTPS from the pipeline's functions"
  vpc_id      = aws_vpc.this.id
  tags        = merge(var.tags, { Name = "${var.name}-endpoints" })
}

# --- PostgreSQL 5432 ---
resource "aws_vpc_security_group_egress_rule" "transform_to_postgres" {
  security_group_id            = aws_security_group.transform.id
  description                  = "k-NN queries to the vector database"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.postgres.id
}

resource "aws_vpc_security_group_ingress_rule" "postgres_from_transform" {
  security_group_id            = aws_security_group.postgres.id
  description                  = "k-NN queries from the transform Lambda"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.transform.id
}

resource "aws_vpc_security_group_egress_rule" "loader_to_postgres" {
  security_group_id            = aws_security_group.loader.id
  description                  = "Embeddings COPY and swap into the vector database"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.postgres.id
}

resource "aws_vpc_security_group_ingress_rule" "postgres_from_loader" {
  security_group_id            = aws_security_group.postgres.id
  description                  = "Embeddings loads from the daily loop's loader Lambda"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.loader.id
}

resource "aws_vpc_security_group_ingress_rule" "postgres_from_operators" {
  for_each = toset(var.postgres_client_cidr_blocks)

  security_group_id = aws_security_group.postgres.id
  description       = "Operators loading embeddings (bastion or VPN range)"
  ip_protocol       = "tcp"
  from_port         = 5432
  to_port           = 5432
  cidr_ipv4         = each.key
}

# --- MySQL 3306 ---
resource "aws_vpc_security_group_egress_rule" "jobs_to_mysql" {
  for_each = toset(local.mysql_cidrs)

  security_group_id = aws_security_group.jobs.id
  description       = "Extracts from the source MySQL database"
  ip_protocol       = "tcp"
  from_port         = 3306
  to_port           = 3306
  cidr_ipv4         = each.key
}

resource "aws_vpc_security_group_ingress_rule" "mysql_from_jobs" {
  security_group_id            = aws_security_group.mysql.id
  description                  = "Extracts by the scheduled jobs"
  ip_protocol                  = "tcp"
  from_port                    = 3306
  to_port                      = 3306
  referenced_security_group_id = aws_security_group.jobs.id
}

resource "aws_vpc_security_group_ingress_rule" "mysql_from_operators" {
  for_each = toset(var.mysql_client_cidr_blocks)

  security_group_id = aws_security_group.mysql.id
  description       = "Operators loading source data (bastion or VPN range)"
  ip_protocol       = "tcp"
  from_port         = 3306
  to_port           = 3306
  cidr_ipv4         = each.key
}

# --- HTTPS to AWS APIs ---
resource "aws_vpc_security_group_egress_rule" "functions_to_s3" {
  for_each = local.function_groups

  security_group_id = each.value
  description       = "S3 through the gateway endpoint"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = aws_vpc_endpoint.s3.prefix_list_id
}

resource "aws_vpc_security_group_egress_rule" "functions_to_endpoints" {
  for_each = var.egress_mode == "endpoints" ? local.function_groups : {}

  security_group_id            = each.value
  description                  = "AWS APIs through interface endpoints"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.endpoints.id
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_functions" {
  for_each = var.egress_mode == "endpoints" ? local.function_groups : {}

  security_group_id            = aws_security_group.endpoints.id
  description                  = "HTTPS from the ${each.key} functions"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = each.value
}

resource "aws_vpc_security_group_egress_rule" "functions_to_internet_https" {
  for_each = local.use_nat ? local.function_groups : {}

  security_group_id = each.value
  description       = "AWS APIs through the NAT gateway"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

locals {
  function_groups = {
    transform = aws_security_group.transform.id
    jobs      = aws_security_group.jobs.id
    loader    = aws_security_group.loader.id
    scoring   = aws_security_group.scoring.id
  }
  mysql_cidrs = length(var.mysql_cidr_blocks) > 0 ? var.mysql_cidr_blocks : [var.vpc_cidr]
}
