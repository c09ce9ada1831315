# Optional Azure Machine Learning workspace: the original Python project's optional model
# registry. The handler never talks to it (it reads models from the `models` blob
# container), so it is off by default and exists for teams that want AML's experiment
# tracking and model catalogue next to the blob registry.
resource "azurerm_machine_learning_workspace" "this" {
  #checkov:skip=CKV_AZURE_144:Optional and off by default (count = 0 in the root); a workspace without public access needs private endpoints this design does not have.
  #checkov:skip=CKV2_AZURE_49:Same reason as CKV_AZURE_144.
  application_insights_id       = var.application_insights_id
  key_vault_id                  = var.key_vault_id
  location                      = var.location
  name                          = var.name
  resource_group_name           = var.resource_group_name
  storage_account_id            = var.storage_account_id
  description                   = "FluxOps optional model registry (the blob container `models` stays the serving source)."
  high_business_impact          = var.high_business_impact
  public_network_access_enabled = var.public_network_access_enabled
  sku_name                      = "Basic"
  tags                          = var.tags

  identity {
    type = "SystemAssigned"
  }
}
