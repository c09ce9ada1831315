output "name" {
  description = "Name of the key vault."
  value       = azurerm_key_vault.this.name
}

output "resource_id" {
  description = "Resource ID of the key vault: the scope for its role assignments and the parent of its secrets."
  value       = azurerm_key_vault.this.id
}

output "uri" {
  description = "Data-plane URI of the vault, such as `https://<name>.vault.azure.net/`."
  value       = azurerm_key_vault.this.vault_uri
}
