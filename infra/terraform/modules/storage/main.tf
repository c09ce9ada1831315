resource "azurerm_storage_account" "this" {
  #checkov:skip=CKV_AZURE_35:The firewall is opt-in through var.network_rules (default Deny when set). Without VNet integration the Function App and the CI runners reach storage from shared public addresses, so default-deny would lock them out; shared keys are off, so every request needs an Entra ID token and an RBAC role.
  #checkov:skip=CKV_AZURE_36:The AzureServices bypass is part of var.network_rules (its default); with no firewall configured there is nothing to bypass.
  #checkov:skip=CKV_AZURE_59:No private endpoints in this design (no VNet); the public endpoint accepts Entra ID tokens only. var.public_network_access_enabled turns it off once private endpoints exist.
  #checkov:skip=CKV2_AZURE_33:Private endpoints need a VNet, private DNS zones and VNet integration of the app, none of which this single-API project has; access is identity-only instead.
  #checkov:skip=CKV_AZURE_33:The queue service is unused (HTTP triggers only), and classic queue logging is written through the shared-key data plane, which is disabled.
  #checkov:skip=CKV_AZURE_206:Replication is a variable: the model account is ZRS in prod (envs/prod.tfvars) and LRS elsewhere; the host account only holds state the Functions host recreates and packages the pipeline republishes.
  #checkov:skip=CKV2_AZURE_1:Microsoft-managed keys plus infrastructure (double) encryption; customer-managed keys would add a user-assigned identity, a key and a rotation procedure that no requirement here calls for.
  account_replication_type = var.replication_type
  account_tier             = "Standard"
  location                 = var.location
  name                     = var.name
  resource_group_name      = var.resource_group_name
  access_tier              = "Hot"
  account_kind             = "StorageV2"
  # No anonymous reads, ever: every container is private and read through RBAC.
  allow_nested_items_to_be_public  = false
  cross_tenant_replication_enabled = false
  # The portal uses Entra ID by default too, so nobody reaches for the keys by habit.
  default_to_oauth_authentication   = true
  https_traffic_only_enabled        = true
  infrastructure_encryption_enabled = var.infrastructure_encryption_enabled
  local_user_enabled                = false
  min_tls_version                   = "TLS1_2"
  public_network_access_enabled     = var.public_network_access_enabled
  # Identity only: the Functions host, the handler and the model publisher all use Entra ID
  # tokens, so account keys (and account/service SAS signed with them) are switched off.
  shared_access_key_enabled = false
  tags                      = var.tags

  blob_properties {
    # Every overwrite of a blob (for instance a model's `latest.json` pointer) keeps the
    # previous version, so a bad publish can be rolled back.
    versioning_enabled = true

    container_delete_retention_policy {
      days = var.container_soft_delete_retention_days
    }

    delete_retention_policy {
      days = var.blob_soft_delete_retention_days
    }
  }

  dynamic "network_rules" {
    for_each = var.network_rules == null ? [] : [var.network_rules]

    content {
      default_action             = network_rules.value.default_action
      bypass                     = network_rules.value.bypass
      ip_rules                   = network_rules.value.ip_rules
      virtual_network_subnet_ids = network_rules.value.virtual_network_subnet_ids
    }
  }

  # Belt and braces: with shared keys off no key-signed SAS can be made at all; should keys
  # ever be turned back on, SAS tokens valid for longer than this are logged.
  sas_policy {
    expiration_action = "Log"
    expiration_period = var.sas_expiration_period
  }
}

resource "azurerm_storage_container" "this" {
  #checkov:skip=CKV2_AZURE_21:The check only accepts azurerm_log_analytics_storage_insights, which reads the account with its key, and keys are disabled here. Blob audit logs go to Log Analytics through the diagnostic setting in main.audit.tf instead (writes and deletes; reads are every handler's 30-second poll and are left out on purpose).
  for_each = var.containers

  name                  = each.value
  storage_account_id    = azurerm_storage_account.this.id
  container_access_type = "private"
}
