output "default_hostname" {
  description = "Default host name of the app, such as `<name>.azurewebsites.net`."
  value       = local.is_flex ? azapi_resource.flex[0].output.properties.defaultHostName : azurerm_linux_function_app.this[0].default_hostname
}

output "name" {
  description = "Name of the Function App."
  value       = local.is_flex ? azapi_resource.flex[0].name : azurerm_linux_function_app.this[0].name
}

output "principal_id" {
  description = "Object ID of the app's system-assigned managed identity, for role assignments."
  value       = local.is_flex ? azapi_resource.flex[0].identity[0].principal_id : azurerm_linux_function_app.this[0].identity[0].principal_id
}

output "resource_id" {
  description = "Resource ID of the Function App."
  value       = local.is_flex ? azapi_resource.flex[0].id : azurerm_linux_function_app.this[0].id
}

output "service_plan_id" {
  description = "Resource ID of the hosting plan."
  value       = azurerm_service_plan.this.id
}
