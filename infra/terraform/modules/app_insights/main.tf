resource "azurerm_log_analytics_workspace" "this" {
  location            = var.location
  name                = var.workspace_name
  resource_group_name = var.resource_group_name
  daily_quota_gb      = var.daily_quota_gb
  retention_in_days   = var.retention_in_days
  sku                 = "PerGB2018"
  tags                = var.tags
}

# Workspace-based Application Insights: telemetry lands in the workspace above, which owns
# retention and billing (classic, standalone Application Insights was retired in 2024).
resource "azurerm_application_insights" "this" {
  application_type    = "other"
  location            = var.location
  name                = var.name
  resource_group_name = var.resource_group_name
  tags                = var.tags
  workspace_id        = azurerm_log_analytics_workspace.this.id

  # Destroyed before the clean-up below runs (main.cleanup.tf).
  depends_on = [azapi_resource_action.delete_generated_action_group]
}
