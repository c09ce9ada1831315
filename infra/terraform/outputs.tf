# Everything the deploy pipeline needs, and nothing secret: names, host names and URLs.
# The Application Insights connection string is an app setting of the Function App and is
# never output.

output "app_insights_name" {
  description = "Name of the Application Insights resource the handler exports telemetry to."
  value       = module.app_insights.name
}

output "function_app_default_hostname" {
  description = "Default host name of the Function App; the API lives under `https://<hostname>/api/`."
  value       = module.function_app.default_hostname
}

output "function_app_name" {
  description = "Name of the Function App, for `az functionapp deployment source config-zip --name`."
  value       = module.function_app.name
}

output "function_app_principal_id" {
  description = "Object ID of the Function App's system-assigned identity (an identifier, not a credential)."
  value       = module.function_app.principal_id
}

output "hosting_plan_sku" {
  description = "SKU of the hosting plan (FC1 means Flex Consumption), so the deploy step can pick the right zip-deploy flavour."
  value       = var.hosting_plan_sku
}

output "ml_workspace_name" {
  description = "Name of the optional Azure Machine Learning workspace, or null when `ml_registry_enabled` is false."
  value       = one(module.ml_registry[*].name)
}

output "model_container_url" {
  description = "URL of the `models` container (the handler's FLUXOPS_MODEL_SOURCE; `fluxops-train --publish` target)."
  value       = module.model_storage.container_urls["models"]
}

output "model_storage_account_name" {
  description = "Name of the storage account that holds the `models`, `data` and `logs` containers."
  value       = module.model_storage.name
}

output "resource_group_name" {
  description = "Name of the resource group that holds every resource of the environment (made by infra/bootstrap)."
  value       = data.azurerm_resource_group.this.name
}
