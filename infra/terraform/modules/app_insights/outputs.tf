output "action_group_id" {
  description = "Resource ID of the action group the alerts notify."
  value       = azurerm_monitor_action_group.this.id
}

output "connection_string" {
  description = "Application Insights connection string (carries the ingestion key, which lets a caller send telemetry): the root sets it as an app setting of the Function App and never outputs it."
  value       = azurerm_application_insights.this.connection_string
  sensitive   = true
}

output "name" {
  description = "Name of the Application Insights resource."
  value       = azurerm_application_insights.this.name
}

output "resource_id" {
  description = "Resource ID of the Application Insights resource."
  value       = azurerm_application_insights.this.id
}

output "workspace_id" {
  description = "Resource ID of the Log Analytics workspace."
  value       = azurerm_log_analytics_workspace.this.id
}
