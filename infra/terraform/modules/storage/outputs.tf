output "container_ids" {
  description = "Resource Manager IDs of the containers by name: the scopes for container-level role assignments."
  value       = { for name, c in azurerm_storage_container.this : name => c.id }
}

output "container_urls" {
  description = "HTTPS URLs of the containers by name, such as `https://<account>.blob.core.windows.net/models`."
  value       = { for name, c in azurerm_storage_container.this : name => "${trimsuffix(azurerm_storage_account.this.primary_blob_endpoint, "/")}/${c.name}" }
}

output "name" {
  description = "Name of the storage account."
  value       = azurerm_storage_account.this.name
}

output "primary_blob_endpoint" {
  description = "Blob service endpoint of the account, ending in `/`."
  value       = azurerm_storage_account.this.primary_blob_endpoint
}

output "resource_id" {
  description = "Resource ID of the storage account: the scope for account-level role assignments."
  value       = azurerm_storage_account.this.id
}
