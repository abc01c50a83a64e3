terraform {
  required_version = ">= 1.11.0" # write-only arguments in modules/source-db

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}
