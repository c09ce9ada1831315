terraform {
  required_version = ">= 1.5.0"

  # Like infra/terraform: .terraform.lock.hcl is to be committed after the first pipeline's
  # terraform:validate writes it (not in the repository yet).

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = ">= 4.42.0, < 5.0.0"
    }
  }

  # Run once, by hand, by someone who may create resource groups and grant roles on the
  # subscription (README.md). The state holds no secret; keep it in GitLab too, with
  # `terraform init -backend-config=...` pointing at the state named `bootstrap`.
  backend "http" {}
}
