terraform {
  # 1.5 is the oldest release with every language feature used here (startswith() came
  # in 1.5); the pipeline may run anything newer.
  required_version = ">= 1.5.0"

  # Exact releases and their checksums will be pinned by .terraform.lock.hcl, to be committed
  # after the first pipeline writes it (it is not in the repository yet); from then on the
  # pipeline initialises with -lockfile=readonly (see docs/Pipeline_Logic.md, "Providers").
  required_providers {
    # The Flex Consumption site itself: azurerm's resource writes an `AzureWebJobsStorage`
    # setting that never reads back (docs/IaC_Design.md, decision 2). 2.9 is the first release
    # with `ignore_not_found` on azapi_resource_action (the teardown clean-up).
    azapi = {
      source  = "Azure/azapi"
      version = ">= 2.9.0, < 3.0.0"
    }
    azurerm = {
      source = "hashicorp/azurerm"
      # 4.42 is the first release with `rbac_authorization_enabled` on azurerm_key_vault;
      # 5.0 drops arguments used here, so stay on the 4.x line.
      version = ">= 4.42.0, < 5.0.0"
    }
    # time_sleep: wait for new role assignments to reach the data planes before the deploy.
    time = {
      source  = "hashicorp/time"
      version = ">= 0.12.0, < 1.0.0"
    }
  }

  # GitLab-managed Terraform state. Every setting (address, lock_address, unlock_address,
  # username, password, methods, retry_wait_min) comes from the environment in CI, so no URL
  # or token lives in the repository.
  backend "http" {}
}
