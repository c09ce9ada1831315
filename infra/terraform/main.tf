data "azurerm_client_config" "current" {}

# The environment's resource group is made once by infra/bootstrap, together with the
# pipeline identity that may change what is inside it (and nothing outside it).
data "azurerm_resource_group" "this" {
  name = var.resource_group_name
}

locals {
  environment_short = {
    dev     = "dev"
    staging = "stg"
    prod    = "prd"
  }[var.environment]

  location = data.azurerm_resource_group.this.location

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
    log_workspace      = "log-${local.name_base}"
    ml_key_vault       = "kv${var.project}${local.environment_short}ml${local.name_suffix}" # <= 23 of 24
    ml_storage         = "st${var.project}${local.environment_short}ml${local.name_suffix}" # <= 23 of 24
    ml_workspace       = "mlw-${local.name_base}"
    model_storage      = "st${var.project}${local.environment_short}${local.name_suffix}" # <= 21 of 24
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
  # identity is system-assigned. APPLICATIONINSIGHTS_CONNECTION_STRING is set by the module
  # from `application_insights_connection_string`.
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

# Model registry and project data: `models` (what the handler serves), `data` (training
# sets the trainer reads) and `logs` (training-run logs and reports), as in the original.
# Every write and delete of a blob is logged to the workspace: who published or removed
# which model, and when.
module "model_storage" {
  source = "./modules/storage"

  location                             = local.location
  name                                 = local.names.model_storage
  resource_group_name                  = data.azurerm_resource_group.this.name
  audit_logs                           = { log_analytics_workspace_id = module.app_insights.workspace_id }
  blob_soft_delete_retention_days      = var.blob_soft_delete_retention_days
  container_soft_delete_retention_days = var.container_soft_delete_retention_days
  containers                           = ["data", "logs", "models"]
  network_rules                        = var.model_storage_network_rules
  replication_type                     = var.storage_replication_type
  tags                                 = local.tags
}

# The Functions host's own account (AzureWebJobsStorage: leases, host keys, and on Flex
# Consumption the deployment package). Kept apart from the model account so the app's
# Blob Data Owner role here grants nothing over the models. Not audited: the host renews
# its leases every few seconds, which would fill the workspace with noise.
module "host_storage" {
  source = "./modules/storage"

  location                             = local.location
  name                                 = local.names.host_storage
  resource_group_name                  = data.azurerm_resource_group.this.name
  blob_soft_delete_retention_days      = var.blob_soft_delete_retention_days
  container_soft_delete_retention_days = var.container_soft_delete_retention_days
  containers                           = local.is_flex ? [local.deployment_container] : []
  replication_type                     = "LRS"
  tags                                 = local.tags
}

module "app_insights" {
  source = "./modules/app_insights"

  action_group_name              = local.names.action_group
  action_group_short_name        = local.names.action_group_short
  location                       = local.location
  name                           = local.names.app_insights
  resource_group_name            = data.azurerm_resource_group.this.name
  workspace_name                 = local.names.log_workspace
  alert_email_addresses          = var.alert_email_addresses
  failure_rate_threshold_percent = var.alert_failure_rate_percent
  latency_p95_threshold_ms       = var.alert_latency_p95_ms
  retention_in_days              = var.log_retention_days
  role_name                      = local.names.function_app
  tags                           = local.tags
}

module "function_app" {
  source = "./modules/function_app"

  host_storage_account_name = module.host_storage.name
  location                  = local.location
  name                      = local.names.function_app
  resource_group_id         = data.azurerm_resource_group.this.id
  service_plan_name         = local.names.service_plan
  always_ready_instances    = var.app_always_ready_instances
  app_settings              = local.handler_app_settings
  # Not a secret in Microsoft's own guidance (it only lets a caller send telemetry), and a
  # plain setting is there on the first start, when a Key Vault reference would still be
  # unresolved because the app's role on the vault has not propagated yet.
  application_insights_connection_string = module.app_insights.connection_string
  deployment_container_url               = lookup(module.host_storage.container_urls, local.deployment_container, null)
  http_concurrency                       = var.app_http_concurrency
  instance_memory_in_mb                  = var.app_instance_memory_mb
  maximum_instance_count                 = var.app_maximum_instance_count
  sku_name                               = var.hosting_plan_sku
  tags                                   = local.tags
}

# The optional Azure Machine Learning workspace gets a vault and a storage account of its
# own: nothing it (or whoever can use it) is allowed to do reaches the models or the app.
module "ml_key_vault" {
  source = "./modules/key_vault"
  count  = var.ml_registry_enabled ? 1 : 0

  location                   = local.location
  name                       = local.names.ml_key_vault
  resource_group_name        = data.azurerm_resource_group.this.name
  tenant_id                  = data.azurerm_client_config.current.tenant_id
  audit_logs                 = { log_analytics_workspace_id = module.app_insights.workspace_id }
  purge_protection_enabled   = local.key_vault_purge_protection_enabled
  soft_delete_retention_days = var.key_vault_soft_delete_retention_days
  tags                       = local.tags
}

module "ml_storage" {
  source = "./modules/storage"
  count  = var.ml_registry_enabled ? 1 : 0

  location                             = local.location
  name                                 = local.names.ml_storage
  resource_group_name                  = data.azurerm_resource_group.this.name
  audit_logs                           = { log_analytics_workspace_id = module.app_insights.workspace_id }
  blob_soft_delete_retention_days      = var.blob_soft_delete_retention_days
  container_soft_delete_retention_days = var.container_soft_delete_retention_days
  replication_type                     = "LRS"
  tags                                 = local.tags
}

module "ml_registry" {
  source = "./modules/ml_registry"
  count  = var.ml_registry_enabled ? 1 : 0

  application_insights_id = module.app_insights.resource_id
  key_vault_id            = module.ml_key_vault[0].resource_id
  location                = local.location
  name                    = local.names.ml_workspace
  resource_group_name     = data.azurerm_resource_group.this.name
  storage_account_id      = module.ml_storage[0].resource_id
  tags                    = local.tags
}
