# Who wrote or deleted which blob, for instance which identity published or removed a model.
# Reads are left out: every handler instance reads `latest.json` every 30 seconds, which
# would cost more to keep than it tells.
resource "azurerm_monitor_diagnostic_setting" "blob_audit" {
  count = var.audit_logs == null ? 0 : 1

  name                       = "audit-to-log-analytics"
  target_resource_id         = "${azurerm_storage_account.this.id}/blobServices/default"
  log_analytics_workspace_id = var.audit_logs.log_analytics_workspace_id

  enabled_log {
    category = "StorageWrite"
  }

  enabled_log {
    category = "StorageDelete"
  }
}
