locals {
  # App Service plan SKUs that get always-on workers (Basic, Standard, Premium v2/v3): the
  # Functions host on a Dedicated plan idles out without it. Elastic Premium (EP*) keeps
  # its pre-warmed instances by itself and rejects always_on.
  is_dedicated       = !local.is_flex && !local.is_elastic_premium
  is_elastic_premium = startswith(var.sku_name, "EP")
  is_flex            = var.sku_name == "FC1"

  # Identity-based connection to the host storage account (blob leases, host keys, timers):
  # the app's system-assigned identity, with Storage Blob Data Owner granted by the root.
  host_storage_settings = {
    AzureWebJobsStorage__accountName = var.host_storage_account_name
    AzureWebJobsStorage__credential  = "managedidentity"
  }

  flex_app_settings = merge(var.app_settings, local.host_storage_settings, {
    # azurerm_function_app_flex_consumption writes a key-based `AzureWebJobsStorage` string
    # (with an empty AccountKey) even when storage_authentication_type is an identity; the
    # host then uses it instead of the `__accountName` settings and fails (reported in
    # hashicorp/terraform-provider-azurerm#29149 and #29693). An explicit empty value
    # overrides it, a workaround users there report as working.
    # Cost of the workaround: every plan shows an in-place update of app_settings. Drop this
    # entry once the provider stops injecting the setting.
    AzureWebJobsStorage = ""
  })

  plan_app_settings = merge(var.app_settings, {
    AzureWebJobsStorage__credential = "managedidentity"
    # Zip deploy mounts the package read-only from /home/data/SitePackages (recommended for
    # Premium and Dedicated Linux plans); declaring it here keeps `plan` free of drift after
    # the pipeline's zip deploy sets it.
    WEBSITE_RUN_FROM_PACKAGE = "1"
  })
}
