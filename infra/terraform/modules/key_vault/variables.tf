variable "location" {
  type        = string
  description = "Azure region of the key vault, as a short name such as `westeurope`."
  nullable    = false

  validation {
    condition     = can(regex("^[a-z]+[0-9]?$", var.location))
    error_message = "The location must be a short region name in lower case, such as `westeurope` or `eastus2`."
  }
}

variable "name" {
  type        = string
  description = "Globally unique vault name: 3-24 characters, letters, digits and single hyphens, starting with a letter and ending with a letter or digit."
  nullable    = false

  validation {
    condition     = can(regex("^[a-zA-Z](?:[a-zA-Z0-9]|-[a-zA-Z0-9]){2,23}$", var.name))
    error_message = "A key vault name is 3-24 characters of letters, digits and single hyphens, starts with a letter and ends with a letter or digit."
  }
}

variable "resource_group_name" {
  type        = string
  description = "Name of the resource group that holds the key vault."
  nullable    = false
}

variable "tenant_id" {
  type        = string
  description = "Entra ID tenant (a GUID) that authenticates requests to the vault."
  nullable    = false

  validation {
    condition     = can(regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", var.tenant_id))
    error_message = "tenant_id must be a GUID, such as 00000000-0000-0000-0000-000000000000."
  }
}

variable "allowed_ip_ranges" {
  type        = set(string)
  description = "Public IPv4 addresses or CIDR ranges let through the vault firewall when `network_acls_default_action` is `Deny`."
  default     = []
  nullable    = false
}

variable "allowed_subnet_ids" {
  type        = set(string)
  description = "Subnet IDs (with a `Microsoft.KeyVault` service endpoint) let through the vault firewall when `network_acls_default_action` is `Deny`."
  default     = []
  nullable    = false
}

variable "audit_logs" {
  type = object({
    log_analytics_workspace_id = string
  })
  description = <<-EOT
    Audit log of the vault: every data-plane operation (category `AuditEvent`: who read or changed which secret, key or certificate, and whether it was allowed) goes to a Log Analytics workspace. Null (the default) sends nothing.
    - `log_analytics_workspace_id`: resource ID of the workspace.
  EOT
  default     = null
}

variable "network_acls_default_action" {
  type        = string
  description = "What the vault firewall does with traffic not matched by the allow lists: `Allow` (default; RBAC alone guards the vault) or `Deny`."
  default     = "Allow"
  nullable    = false

  validation {
    condition     = contains(["Allow", "Deny"], var.network_acls_default_action)
    error_message = "network_acls_default_action must be `Allow` or `Deny`."
  }
}

variable "public_network_access_enabled" {
  type        = bool
  description = "Whether the vault's public endpoint is reachable (false needs a private endpoint, which this module does not create)."
  default     = true
  nullable    = false
}

variable "purge_protection_enabled" {
  type        = bool
  description = "Forbid purging deleted vaults and secrets before the retention ends. Cannot be turned off again once on; the root turns it on in prod."
  default     = false
  nullable    = false
}

variable "sku_name" {
  type        = string
  description = "Vault SKU: `standard` (software keys) or `premium` (HSM-backed keys)."
  default     = "standard"
  nullable    = false

  validation {
    condition     = contains(["standard", "premium"], var.sku_name)
    error_message = "sku_name must be `standard` or `premium`."
  }
}

variable "soft_delete_retention_days" {
  type        = number
  description = "Days a deleted vault or secret stays recoverable (7-90). Fixed once the vault exists."
  default     = 90
  nullable    = false

  validation {
    condition     = var.soft_delete_retention_days >= 7 && var.soft_delete_retention_days <= 90 && floor(var.soft_delete_retention_days) == var.soft_delete_retention_days
    error_message = "soft_delete_retention_days must be a whole number between 7 and 90."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to the key vault."
  default     = {}
  nullable    = false
}
