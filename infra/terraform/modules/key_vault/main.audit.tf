# Every data-plane operation on the vault, allowed or refused.
resource "azurerm_monitor_diagnostic_setting" "audit" {
  count = var.audit_logs == null ? 0 : 1

  name                       = "audit-to-log-analytics"
  target_resource_id         = azurerm_key_vault.this.id
  log_analytics_workspace_id = var.audit_logs.log_analytics_workspace_id

  enabled_log {
    category = "AuditEvent"
  }
}
