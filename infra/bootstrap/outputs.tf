output "deploy_client_ids" {
  description = "Client ID of each environment's pipeline identity: the value of the environment-scoped CI/CD variable AZURE_CLIENT_ID (an identifier, not a credential)."
  value       = { for name, identity in azurerm_user_assigned_identity.deploy : name => identity.client_id }
}

output "resource_group_names" {
  description = "Each environment's resource group, for `resource_group_name` in infra/terraform/envs/<env>.tfvars."
  value       = { for name, group in azurerm_resource_group.this : name => group.name }
}

output "tenant_id" {
  description = "Entra tenant of the identities: the value of the CI/CD variable AZURE_TENANT_ID."
  value       = one(distinct([for identity in azurerm_user_assigned_identity.deploy : identity.tenant_id]))
}
