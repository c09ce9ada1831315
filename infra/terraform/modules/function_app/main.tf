resource "azurerm_service_plan" "this" {
  #checkov:skip=CKV_AZURE_212:FC1 (the default) has no fixed instance count and scales per request; on EP or Dedicated plans a second always-on instance would double the cost of a stateless API whose availability target does not need it.
  #checkov:skip=CKV_AZURE_225:Zone redundancy needs at least two (EP/Dedicated: three) always-on instances, the cost above; revisit if the SLA ever requires zone failure tolerance.
  location                     = var.location
  name                         = var.service_plan_name
  os_type                      = "Linux"
  resource_group_name          = var.resource_group_name
  sku_name                     = var.sku_name
  maximum_elastic_worker_count = local.is_elastic_premium ? var.maximum_instance_count : null
  tags                         = var.tags
}

# Flex Consumption (FC1): the default. Scales to zero, one app per plan, runs from the
# package the pipeline publishes into the host storage account's deployment container.
resource "azurerm_function_app_flex_consumption" "this" {
  count = local.is_flex ? 1 : 0

  location                      = var.location
  name                          = var.name
  resource_group_name           = var.resource_group_name
  runtime_name                  = "custom"
  runtime_version               = var.custom_runtime_version
  service_plan_id               = azurerm_service_plan.this.id
  storage_authentication_type   = "SystemAssignedIdentity"
  storage_container_endpoint    = var.deployment_container_url
  storage_container_type        = "blobContainer"
  app_settings                  = local.flex_app_settings
  https_only                    = true
  instance_memory_in_mb         = var.instance_memory_in_mb
  maximum_instance_count        = var.maximum_instance_count
  public_network_access_enabled = var.public_network_access_enabled
  tags                          = var.tags
  # Deployments authenticate with Entra ID (OneDeploy), never with publishing passwords.
  webdeploy_publish_basic_authentication_enabled = false

  identity {
    type = "SystemAssigned"
  }

  # Flex Consumption has no FTP endpoint and does not support the platform health check,
  # so neither is configured here; the pipeline's verify stage probes /api/health instead.
  site_config {
    application_insights_connection_string = var.application_insights_connection_string
    http2_enabled                          = true
    minimum_tls_version                    = "1.2"
    scm_minimum_tls_version                = "1.2"
  }

  lifecycle {
    precondition {
      condition     = var.deployment_container_url != null
      error_message = "deployment_container_url is required on the Flex Consumption plan (FC1): it is where the app package is published."
    }
  }
}

# App Service plan (Elastic Premium EP*, or Dedicated B*/S*/P*v3): the custom handler runs
# through `use_custom_runtime`.
resource "azurerm_linux_function_app" "this" {
  #checkov:skip=CKV_AZURE_221:A public HTTP API by design; /api/predict requires a function key, health and model-info are anonymous and read-only.
  count = local.is_flex ? 0 : 1

  location            = var.location
  name                = var.name
  resource_group_name = var.resource_group_name
  service_plan_id     = azurerm_service_plan.this.id
  app_settings        = local.plan_app_settings
  # The dashboard setting it manages (AzureWebJobsDashboard) only takes an account key.
  builtin_logging_enabled = false
  # Azure Files content share needs an account key; the app runs from its zip package
  # instead (WEBSITE_RUN_FROM_PACKAGE=1), so the share is not created.
  content_share_force_disabled                   = true
  ftp_publish_basic_authentication_enabled       = false
  functions_extension_version                    = "~4"
  https_only                                     = true
  public_network_access_enabled                  = var.public_network_access_enabled
  storage_account_name                           = var.host_storage_account_name
  storage_uses_managed_identity                  = true
  tags                                           = var.tags
  webdeploy_publish_basic_authentication_enabled = false

  identity {
    type = "SystemAssigned"
  }

  site_config {
    always_on                              = local.is_dedicated
    application_insights_connection_string = var.application_insights_connection_string
    ftps_state                             = "Disabled"
    health_check_eviction_time_in_min      = 10
    health_check_path                      = var.health_check_path
    http2_enabled                          = true
    minimum_tls_version                    = "1.2"
    scm_minimum_tls_version                = "1.2"

    application_stack {
      use_custom_runtime = true
    }
  }
}
