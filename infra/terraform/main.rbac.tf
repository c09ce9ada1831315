locals {
  # Who publishes models: a given principal (for instance a separate training pipeline's
  # identity), or else the identity running Terraform (the environment's pipeline identity).
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

# --- The deployer principal (model publishing) --------------------------------------------

# Publish models: write `<name>/<version>/...` and replace `<name>/latest.json` with a
# conditional (ETag) write. Contributor, not Owner: it cannot change ACLs or RBAC.
# The environment identity may grant roles to service principals only (infra/bootstrap's
# condition checks the principal type the request names), so every assignment names it.
resource "azurerm_role_assignment" "deployer_models_contributor" {
  principal_id         = local.deployer_principal_id
  scope                = module.model_storage.container_ids["models"]
  principal_type       = "ServicePrincipal"
  role_definition_name = "Storage Blob Data Contributor"
}

# Keep each publish's record: `fluxops-train --publish` writes the run's `metrics.json` and
# `train.log` to `<name>/<version>/` in the `logs` container beside `models`. Without this role
# that write was refused (403) after the model had already gone live, the trainer failed, and
# every retry published another version (ci/deploy.sh no longer retries the publish either).
resource "azurerm_role_assignment" "deployer_logs_contributor" {
  principal_id         = local.deployer_principal_id
  scope                = module.model_storage.container_ids["logs"]
  principal_type       = "ServicePrincipal"
  role_definition_name = "Storage Blob Data Contributor"
}

# --- Propagation ----------------------------------------------------------------------------

# A new role assignment takes minutes to reach the storage data plane (Microsoft documents up
# to 10 minutes), and nothing retries on Azure's side: the first zip deploy (the platform
# writes the package with the app's identity), the host's first start and the first model
# publish would see 403. Apply therefore ends only after this wait, and waits again only
# when an assignment is new; ci/deploy.sh retries, within one deadline, the zip deploy and a
# read of both containers until Azure accepts them, and only then publishes, once.
resource "time_sleep" "role_propagation" {
  create_duration = var.role_propagation_wait

  triggers = {
    app_models_reader           = azurerm_role_assignment.app_models_reader.id
    app_host_storage_owner      = azurerm_role_assignment.app_host_storage_owner.id
    deployer_logs_contributor   = azurerm_role_assignment.deployer_logs_contributor.id
    deployer_models_contributor = azurerm_role_assignment.deployer_models_contributor.id
  }
}
