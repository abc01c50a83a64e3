terraform {
  # Write-only arguments (password_wo) keep a caller's password out of plan and state;
  # they need Terraform 1.11.
  required_version = ">= 1.11.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100.0, < 6.0.0"
    }
  }
}
