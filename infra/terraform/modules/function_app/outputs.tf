output "default_hostname" {
  description = "Default host name of the app, such as `<name>.azurewebsites.net`."
  value       = one(concat(azurerm_function_app_flex_consumption.this[*].default_hostname, azurerm_linux_function_app.this[*].default_hostname))
}

output "name" {
  description = "Name of the Function App."
  value       = one(concat(azurerm_function_app_flex_consumption.this[*].name, azurerm_linux_function_app.this[*].name))
}

output "principal_id" {
  description = "Object ID of the app's system-assigned managed identity, for role assignments."
  value       = one(concat(azurerm_function_app_flex_consumption.this[*].identity[0].principal_id, azurerm_linux_function_app.this[*].identity[0].principal_id))
}

output "resource_id" {
  description = "Resource ID of the Function App."
  value       = one(concat(azurerm_function_app_flex_consumption.this[*].id, azurerm_linux_function_app.this[*].id))
}

output "service_plan_id" {
  description = "Resource ID of the hosting plan."
  value       = azurerm_service_plan.this.id
}
