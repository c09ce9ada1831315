# The subscription comes from ARM_SUBSCRIPTION_ID and the identity from the pipeline's OIDC
# federation (ARM_USE_OIDC, ARM_OIDC_TOKEN, ARM_CLIENT_ID, ARM_TENANT_ID), which both
# providers read: nothing secret here.

provider "azapi" {
  # The pipeline identity has rights in its resource group only, not the subscription-wide
  # right to register resource providers; infra/bootstrap registers them once.
  skip_provider_registration = true
}

provider "azurerm" {
  # Same reason as above.
  resource_provider_registrations = "none"

  # Storage accounts run with shared keys disabled, so the provider must talk to the
  # storage data plane with Entra ID tokens instead of account keys.
  storage_use_azuread = true

  features {
    # Creating Application Insights makes Azure add a "Failure Anomalies" smart detector rule
    # that Terraform does not manage. With this flag the provider disables the rule when it
    # creates the component and deletes it when it destroys it (hashicorp/terraform-provider-
    # azurerm#15892, #18357), so teardown is not blocked by it. The action group Azure adds
    # with it is deleted by modules/app_insights at destroy (main.cleanup.tf).
    application_insights {
      disable_generated_rule = true
    }

    key_vault {
      # Never purge on destroy: a vault holds the only copy of its secrets' history, and in
      # prod purge protection forbids it anyway. A later apply recovers a soft-deleted vault.
      purge_soft_delete_on_destroy    = false
      recover_soft_deleted_key_vaults = true
    }

    resource_group {
      # The environment's resource group belongs to infra/bootstrap, not to this
      # configuration; should one ever be managed here, refuse to delete it while it still
      # holds resources Terraform does not know about.
      prevent_deletion_if_contains_resources = true
    }
  }
}
