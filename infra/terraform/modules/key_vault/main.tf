resource "azurerm_key_vault" "this" {
  #checkov:skip=CKV_AZURE_109:The Machine Learning workspace and the CI runners reach the vault from shared public addresses (no VNet in this design); default Deny would lock them out. RBAC-only authorization guards the vault; var.network_acls_default_action switches to Deny.
  #checkov:skip=CKV_AZURE_189:Same reason: without VNet integration its users reach the vault over its public endpoint; only RBAC-authorized Entra ID principals get through.
  #checkov:skip=CKV2_AZURE_32:Private endpoints need a VNet and private DNS zones this single-API project does not have; see docs/IaC_Design.md for the upgrade path.
  location            = var.location
  name                = var.name
  resource_group_name = var.resource_group_name
  sku_name            = var.sku_name
  tenant_id           = var.tenant_id
  # The vault serves no VM, disk or ARM deployment.
  enabled_for_deployment          = false
  enabled_for_disk_encryption     = false
  enabled_for_template_deployment = false
  public_network_access_enabled   = var.public_network_access_enabled
  purge_protection_enabled        = var.purge_protection_enabled
  # Azure RBAC decides every data-plane call; access policies are ignored.
  rbac_authorization_enabled = true
  soft_delete_retention_days = var.soft_delete_retention_days
  tags                       = var.tags

  network_acls {
    bypass                     = "AzureServices"
    default_action             = var.network_acls_default_action
    ip_rules                   = var.allowed_ip_ranges
    virtual_network_subnet_ids = var.allowed_subnet_ids
  }
}
