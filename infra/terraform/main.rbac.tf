locals {
  # Who publishes models: a given principal (for instance the training pipeline's
  # identity), or else the identity running Terraform.
  deployer_principal_id = var.deployer_principal_id != null ? var.deployer_principal_id : data.azurerm_client_config.current.object_id
}

# --- The Function App's system-assigned identity ---------------------------------------

# Read models and `latest.json` pointers, in the `models` container only: not `data`, not
# `logs`, and no write access anywhere in the account.
resource "azurerm_role_assignment" "app_models_reader" {
  principal_id                     = module.function_app.principal_id
  scope                            = module.model_storage.container_ids["models"]
  principal_type                   = "ServicePrincipal"
  role_definition_name             = "Storage Blob Data Reader"
  skip_service_principal_aad_check = true
}

# Identity-based AzureWebJobsStorage: the host creates its own containers (leases, host
# keys) and, on Flex Consumption, reads the deployment package; blob access is all an
# HTTP-only app needs (no queue or table roles: there are no queue or blob triggers).
resource "azurerm_role_assignment" "app_host_storage_owner" {
  principal_id                     = module.function_app.principal_id
  scope                            = module.host_storage.resource_id
  principal_type                   = "ServicePrincipal"
  role_definition_name             = "Storage Blob Data Owner"
  skip_service_principal_aad_check = true
}

# Resolve the Key Vault reference in APPLICATIONINSIGHTS_CONNECTION_STRING (read secret
# values; no key, certificate or management rights).
resource "azurerm_role_assignment" "app_key_vault_secrets_user" {
  principal_id                     = module.function_app.principal_id
  scope                            = module.key_vault.resource_id
  principal_type                   = "ServicePrincipal"
  role_definition_name             = "Key Vault Secrets User"
  skip_service_principal_aad_check = true
}

# --- The deployer principal (model publishing) and the identity running Terraform -------

# Publish models: write `<name>/<version>/...` and replace `<name>/latest.json` with a
# conditional (ETag) write. Contributor, not Owner: it cannot change ACLs or RBAC.
resource "azurerm_role_assignment" "deployer_models_contributor" {
  principal_id         = local.deployer_principal_id
  scope                = module.model_storage.container_ids["models"]
  role_definition_name = "Storage Blob Data Contributor"
}

# Terraform itself writes the secret in main.secrets.tf; with RBAC authorization,
# management-plane Owner or Contributor alone cannot touch secret values.
resource "azurerm_role_assignment" "terraform_key_vault_secrets_officer" {
  principal_id         = data.azurerm_client_config.current.object_id
  scope                = module.key_vault.resource_id
  role_definition_name = "Key Vault Secrets Officer"
}
