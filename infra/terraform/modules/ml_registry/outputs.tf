output "name" {
  description = "Name of the Machine Learning workspace."
  value       = azurerm_machine_learning_workspace.this.name
}

output "principal_id" {
  description = "Object ID of the workspace's system-assigned identity, for role assignments."
  value       = azurerm_machine_learning_workspace.this.identity[0].principal_id
}

output "resource_id" {
  description = "Resource ID of the Machine Learning workspace."
  value       = azurerm_machine_learning_workspace.this.id
}
