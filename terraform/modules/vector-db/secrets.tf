# The credentials of the database roles readers and the loader connect as (JSON
# username, password): reco_reader (the transform Lambda: SELECT on the embeddings)
# and reco_loader (load-embeddings: creates, swaps and drops the versioned tables).
# Created empty: the migration (modules/db-roles, `reco db migrate`) creates the roles
# from sql/roles/postgres.sql and writes each value, so no password passes through
# Terraform plan or state. The master secret stays RDS-managed, read only by the
# migration.
resource "aws_secretsmanager_secret" "role" {
  #checkov:skip=CKV2_AWS_57:Rotated by the migration (`reco db migrate --rotate`, the db-roles function with {"step":"migrate","rotate":true}): it sets the password as a SCRAM verifier and stages the value like a rotation function does.
  for_each = local.roles

  name                    = "${var.name}/roles/${each.value}"
  description             = "reco vector database role ${each.value}: JSON username, password (written by the migration)"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.secret_recovery_window_days
  tags                    = var.tags
}
