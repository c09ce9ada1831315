data "azurerm_client_config" "current" {}

locals {
  environment_short = {
    dev     = "dev"
    staging = "stg"
    prod    = "prd"
  }[var.environment]

  # Storage accounts, Key Vault and the Function App need globally unique names. A hash of
  # subscription, project and environment gives a short suffix that is stable from run to
  # run (no random value kept only in state) and differs between subscriptions.
  name_suffix = substr(sha256("${data.azurerm_client_config.current.subscription_id}/${var.project}/${var.environment}"), 0, 6)
  name_base   = "${var.project}-${local.environment_short}"

  # Lengths below assume the longest project name the variable allows (10 characters).
  names = {
    action_group       = "ag-${local.name_base}"
    action_group_short = substr("${var.project}${local.environment_short}", 0, 12)
    app_insights       = "appi-${local.name_base}"
    function_app       = "func-${local.name_base}-${local.name_suffix}"                     # <= 26 of 32
    host_storage       = "st${var.project}${local.environment_short}fn${local.name_suffix}" # <= 23 of 24
    key_vault          = "kv-${local.name_base}-${local.name_suffix}"                       # <= 24 of 24
    log_workspace      = "log-${local.name_base}"
    ml_workspace       = "mlw-${local.name_base}"
    model_storage      = "st${var.project}${local.environment_short}${local.name_suffix}" # <= 21 of 24
    resource_group     = "rg-${local.name_base}"
    service_plan       = "asp-${local.name_base}"
  }

  is_flex = var.hosting_plan_sku == "FC1"

  # Flex Consumption publishes the app package into a blob container of the host storage
  # account; App Service plans keep the package on the app's own file system.
  deployment_container = "app-package"

  tags = merge(var.tags, {
    environment = var.environment
    managed-by  = "terraform"
    project     = var.project
  })

  # The handler's environment (names are part of its contract, see DESIGN.md). Only
  # non-secret values: the handler reaches blob storage with the app's managed identity, so
  # no AZURE_STORAGE_CONNECTION_STRING, and AZURE_CLIENT_ID stays unset because the
  # identity is system-assigned.
  handler_app_settings = {
    FLUXOPS_MAX_BATCH          = tostring(var.max_batch)
    FLUXOPS_MAX_BODY_BYTES     = tostring(var.max_body_bytes)
    FLUXOPS_MODEL_NAME         = var.model_name
    FLUXOPS_MODEL_REFRESH_SECS = tostring(var.model_refresh_secs)
    FLUXOPS_MODEL_SOURCE       = module.model_storage.container_urls["models"]
    RUST_LOG                   = var.rust_log
  }

  key_vault_purge_protection_enabled = var.key_vault_purge_protection_enabled != null ? var.key_vault_purge_protection_enabled : var.environment == "prod"
}

module "resource_group" {
  source = "./modules/resource_group"

  location = var.location
  name     = local.names.resource_group
  tags     = local.tags
}

# Model registry and project data: `models` (what the handler serves), `data` (training
# sets the trainer reads) and `logs` (training-run logs and reports), as in the original.
module "model_storage" {
  source = "./modules/storage"

  location                             = module.resource_group.location
  name                                 = local.names.model_storage
  resource_group_name                  = module.resource_group.name
  blob_soft_delete_retention_days      = var.blob_soft_delete_retention_days
  container_soft_delete_retention_days = var.container_soft_delete_retention_days
  containers                           = ["data", "logs", "models"]
  network_rules                        = var.model_storage_network_rules
  replication_type                     = var.storage_replication_type
  tags                                 = local.tags
}

# The Functions host's own account (AzureWebJobsStorage: leases, host keys, and on Flex
# Consumption the deployment package). Kept apart from the model account so the app's
# Blob Data Owner role here grants nothing over the models.
module "host_storage" {
  source = "./modules/storage"

  location                             = module.resource_group.location
  name                                 = local.names.host_storage
  resource_group_name                  = module.resource_group.name
  blob_soft_delete_retention_days      = var.blob_soft_delete_retention_days
  container_soft_delete_retention_days = var.container_soft_delete_retention_days
  containers                           = local.is_flex ? [local.deployment_container] : []
  replication_type                     = "LRS"
  tags                                 = local.tags
}

module "key_vault" {
  source = "./modules/key_vault"

  location                   = module.resource_group.location
  name                       = local.names.key_vault
  resource_group_name        = module.resource_group.name
  tenant_id                  = data.azurerm_client_config.current.tenant_id
  purge_protection_enabled   = local.key_vault_purge_protection_enabled
  soft_delete_retention_days = var.key_vault_soft_delete_retention_days
  tags                       = local.tags
}

module "app_insights" {
  source = "./modules/app_insights"

  action_group_name              = local.names.action_group
  action_group_short_name        = local.names.action_group_short
  location                       = module.resource_group.location
  name                           = local.names.app_insights
  resource_group_name            = module.resource_group.name
  workspace_name                 = local.names.log_workspace
  alert_email_addresses          = var.alert_email_addresses
  failure_rate_threshold_percent = var.alert_failure_rate_percent
  latency_p95_threshold_ms       = var.alert_latency_p95_ms
  retention_in_days              = var.log_retention_days
  tags                           = local.tags
}

module "function_app" {
  source = "./modules/function_app"

  host_storage_account_name              = module.host_storage.name
  location                               = module.resource_group.location
  name                                   = local.names.function_app
  resource_group_name                    = module.resource_group.name
  service_plan_name                      = local.names.service_plan
  app_settings                           = local.handler_app_settings
  application_insights_connection_string = local.app_insights_key_vault_reference
  deployment_container_url               = lookup(module.host_storage.container_urls, local.deployment_container, null)
  instance_memory_in_mb                  = var.app_instance_memory_mb
  maximum_instance_count                 = var.app_maximum_instance_count
  sku_name                               = var.hosting_plan_sku
  tags                                   = local.tags
}

module "ml_registry" {
  source = "./modules/ml_registry"
  count  = var.ml_registry_enabled ? 1 : 0

  application_insights_id = module.app_insights.resource_id
  key_vault_id            = module.key_vault.resource_id
  location                = module.resource_group.location
  name                    = local.names.ml_workspace
  resource_group_name     = module.resource_group.name
  storage_account_id      = module.model_storage.resource_id
  tags                    = local.tags
}
