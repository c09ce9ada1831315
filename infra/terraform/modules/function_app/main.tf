resource "azurerm_service_plan" "this" {
  #checkov:skip=CKV_AZURE_212:FC1 (the default) has no fixed instance count and scales per request; on a Dedicated plan a second always-on instance would double the cost of a stateless API whose availability target does not need it.
  #checkov:skip=CKV_AZURE_225:Zone redundancy needs at least three always-on Dedicated instances, the cost above; revisit if the SLA ever requires zone failure tolerance.
  location            = var.location
  name                = var.service_plan_name
  os_type             = "Linux"
  resource_group_name = local.resource_group_name
  sku_name            = var.sku_name
  tags                = var.tags
}

# Flex Consumption (FC1): the default. Scales to zero, one app per plan, runs from the
# package the pipeline publishes into the host storage account's deployment container.
#
# Managed with azapi rather than azurerm_function_app_flex_consumption: that resource writes a
# key-based `AzureWebJobsStorage` string into the app settings even for identity-based storage
# and filters the key out again when it reads them back (hashicorp/terraform-provider-
# azurerm#29149, #29693; still so in v4.81.0), so the host either uses a string with an empty
# key or, with the usual `AzureWebJobsStorage = ""` override, an empty value that never reads
# back and that breaks the .NET 10 host. Here the request holds exactly the settings below.
resource "azapi_resource" "flex" {
  count = local.is_flex ? 1 : 0

  location  = var.location
  name      = var.name
  parent_id = var.resource_group_id
  type      = "Microsoft.Web/sites@${local.web_api_version}"
  body = {
    kind = "functionapp,linux"
    properties = {
      httpsOnly           = true
      publicNetworkAccess = var.public_network_access_enabled ? "Enabled" : "Disabled"
      serverFarmId        = azurerm_service_plan.this.id
      # Flex Consumption has no FTP endpoint and no platform health check, so neither is set;
      # the pipeline's verify stage probes /api/health instead.
      siteConfig = {
        appSettings      = [for name in sort(keys(local.flex_app_settings)) : { name = name, value = local.flex_app_settings[name] }]
        http20Enabled    = true
        minTlsVersion    = "1.2"
        scmMinTlsVersion = "1.2"
      }
      functionAppConfig = {
        deployment = {
          storage = {
            type  = "blobContainer"
            value = var.deployment_container_url
            authentication = {
              type = "SystemAssignedIdentity"
            }
          }
        }
        runtime = {
          name    = "custom"
          version = var.custom_runtime_version
        }
        scaleAndConcurrency = {
          # `http` is the always-ready group of every HTTP-triggered function.
          alwaysReady          = var.always_ready_instances > 0 ? [{ name = "http", instanceCount = var.always_ready_instances }] : []
          instanceMemoryMB     = var.instance_memory_in_mb
          maximumInstanceCount = var.maximum_instance_count
          triggers = {
            http = {
              perInstanceConcurrency = var.http_concurrency
            }
          }
        }
      }
    }
  }
  # The service lower-cases some enumerations it echoes back (always-ready names, storage and
  # authentication types): compare without case so a plan after apply stays empty.
  ignore_casing          = true
  response_export_values = ["properties.defaultHostName"]
  retry                  = local.site_busy_retry
  tags                   = var.tags

  identity {
    type = "SystemAssigned"
  }

  lifecycle {
    precondition {
      condition     = var.deployment_container_url != null
      error_message = "deployment_container_url is required on the Flex Consumption plan (FC1): it is where the app package is published."
    }
    precondition {
      condition     = var.always_ready_instances <= var.maximum_instance_count
      error_message = "always_ready_instances cannot exceed maximum_instance_count."
    }
  }
}

# Deployments authenticate with Entra ID (OneDeploy), never with publishing passwords.
resource "azapi_update_resource" "flex_scm_basic_auth" {
  count = local.is_flex ? 1 : 0

  name      = "scm"
  parent_id = azapi_resource.flex[0].id
  type      = "Microsoft.Web/sites/basicPublishingCredentialsPolicies@${local.web_api_version}"
  body = {
    properties = {
      allow = false
    }
  }
  response_export_values = []
  retry                  = local.site_busy_retry
}

# Dedicated App Service plan (B*/S*/P*v3): the custom handler runs through
# `use_custom_runtime`, always on, from its zip package.
resource "azurerm_linux_function_app" "this" {
  #checkov:skip=CKV_AZURE_221:A public HTTP API by design; /api/predict requires a function key, health and model-info are anonymous and read-only.
  count = local.is_flex ? 0 : 1

  location            = var.location
  name                = var.name
  resource_group_name = local.resource_group_name
  service_plan_id     = azurerm_service_plan.this.id
  app_settings        = local.plan_app_settings
  # The dashboard setting it manages (AzureWebJobsDashboard) only takes an account key.
  builtin_logging_enabled = false
  # Dedicated plans keep the app on the plan's own file system; the Azure Files content share
  # (which only takes an account key) is for the Consumption and Elastic Premium plans.
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
    always_on                              = true
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
