locals {
  is_flex = var.sku_name == "FC1"

  resource_group_name = split("/", var.resource_group_id)[4]

  # Identity-based connection to the host storage account (blob leases, host keys, timers):
  # the app's system-assigned identity, with Storage Blob Data Owner granted by the root.
  # There is deliberately no plain `AzureWebJobsStorage` key, not even an empty one: the host
  # prefers that key over the `__accountName` form, and an empty value is what broke the
  # .NET 10 host (Azure/azure-functions-host#11796).
  host_storage_settings = {
    AzureWebJobsStorage__accountName = var.host_storage_account_name
    AzureWebJobsStorage__credential  = "managedidentity"
  }

  telemetry_settings = var.application_insights_connection_string == null ? {} : {
    APPLICATIONINSIGHTS_CONNECTION_STRING = var.application_insights_connection_string
  }

  flex_app_settings = merge(var.app_settings, local.host_storage_settings, local.telemetry_settings)

  plan_app_settings = merge(var.app_settings, {
    AzureWebJobsStorage__credential = "managedidentity"
    # Zip deploy mounts the package read-only from /home/data/SitePackages (recommended for
    # Dedicated Linux plans); declaring it here keeps `plan` free of drift after the
    # pipeline's zip deploy sets it.
    WEBSITE_RUN_FROM_PACKAGE = "1"
  })

  # The site's API version for azapi; the same for the site and its policies.
  web_api_version = "2024-11-01"

  # Azure answers "another operation is in progress" while a site is busy (for instance
  # restarting after a settings change); these are worth retrying, nothing else is.
  site_busy_retry = {
    error_message_regex  = ["Cannot modify this site because another operation is in progress"]
    interval_seconds     = 10
    max_interval_seconds = 60
  }
}
