# The only secret the app consumes: the Application Insights connection string, whose
# instrumentation key lets anyone send telemetry into the resource. It lives in Key Vault,
# and the app setting holds a Key Vault reference that the platform resolves with the
# app's identity (Key Vault Secrets User), so the key never appears in app settings,
# outputs or the portal's configuration blade. Terraform state still holds it, as it holds
# every attribute it manages: the GitLab state backend is access-controlled for that reason.
resource "azurerm_key_vault_secret" "app_insights_connection_string" {
  #checkov:skip=CKV_AZURE_41:Not a rotating credential; an expiry date would silently cut telemetry when it passes. Rotation means recreating the Application Insights resource, which rewrites this secret.
  key_vault_id = module.key_vault.resource_id
  name         = "appinsights-connection-string"
  value        = module.app_insights.connection_string
  content_type = "text/plain"
  tags         = local.tags

  # The identity running Terraform writes the secret through the data plane, which Azure
  # RBAC guards: wait for its Key Vault Secrets Officer role.
  depends_on = [azurerm_role_assignment.terraform_key_vault_secrets_officer]
}

locals {
  app_insights_key_vault_reference = "@Microsoft.KeyVault(SecretUri=${azurerm_key_vault_secret.app_insights_connection_string.versionless_id})"
}
