provider "azurerm" {
  # The subscription comes from ARM_SUBSCRIPTION_ID and the identity from the pipeline's
  # OIDC federation (ARM_USE_OIDC, ARM_CLIENT_ID, ARM_TENANT_ID): nothing secret here.

  # Storage accounts run with shared keys disabled, so the provider must talk to the
  # storage data plane with Entra ID tokens instead of account keys.
  storage_use_azuread = true

  features {
    key_vault {
      # Never purge on destroy: the vault holds the only copy of its secrets' history, and in
      # prod purge protection forbids it anyway. A later apply recovers a soft-deleted vault.
      purge_soft_delete_on_destroy    = false
      recover_soft_deleted_key_vaults = true
    }

    resource_group {
      # Refuse to delete a resource group that still holds resources Terraform does not manage.
      prevent_deletion_if_contains_resources = true
    }
  }
}
