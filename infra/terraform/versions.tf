terraform {
  # 1.5 is the oldest release with every language feature used here (startswith() came
  # in 1.5); the pipeline may run anything newer.
  required_version = ">= 1.5.0"

  required_providers {
    azurerm = {
      source = "hashicorp/azurerm"
      # 4.42 is the first release with `rbac_authorization_enabled` on azurerm_key_vault;
      # 5.0 will drop arguments used here, so stay on the 4.x line. The lock file written
      # by the pipeline's first `init` pins the exact release.
      version = ">= 4.42.0, < 5.0.0"
    }
  }

  # GitLab-managed Terraform state. Every setting (address, lock_address, unlock_address,
  # username, password, methods, retry_wait_min) comes from `-backend-config` in CI, so no
  # URL or token lives in the repository.
  backend "http" {}
}
