# Remote state in S3 with locking, configured at init time so no account, bucket or
# region is written here:
#   terraform init -backend-config=backend.hcl   (see backend.hcl.example)
# scripts/deploy.sh passes the file named by TF_BACKEND_CONFIG. The local emulator
# uses a generated local-backend override in a staging copy instead (see
# scripts/lib/terraform.sh), so this file never points at the emulator.
terraform {
  backend "s3" {}
}
