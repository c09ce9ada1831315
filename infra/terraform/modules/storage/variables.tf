variable "location" {
  type        = string
  description = "Azure region of the storage account, as a short name such as `westeurope`."
  nullable    = false

  validation {
    condition     = can(regex("^[a-z]+[0-9]?$", var.location))
    error_message = "The location must be a short region name in lower case, such as `westeurope` or `eastus2`."
  }
}

variable "name" {
  type        = string
  description = "Globally unique name of the storage account: 3-24 lower-case letters and digits."
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9]{3,24}$", var.name))
    error_message = "A storage account name is 3-24 characters of lower-case letters and digits only."
  }
}

variable "resource_group_name" {
  type        = string
  description = "Name of the resource group that holds the storage account."
  nullable    = false
}

variable "audit_logs" {
  type = object({
    log_analytics_workspace_id = string
  })
  description = <<-EOT
    Audit log of the blob service: every write and every delete (categories `StorageWrite` and `StorageDelete`: who, from where, which blob, with which result) goes to a Log Analytics workspace. Null (the default) sends nothing.
    - `log_analytics_workspace_id`: resource ID of the workspace.
  EOT
  default     = null
}

variable "blob_soft_delete_retention_days" {
  type        = number
  description = "Days a deleted or overwritten blob can still be restored (1-365)."
  default     = 7
  nullable    = false

  validation {
    condition     = var.blob_soft_delete_retention_days >= 1 && var.blob_soft_delete_retention_days <= 365 && floor(var.blob_soft_delete_retention_days) == var.blob_soft_delete_retention_days
    error_message = "Blob soft delete retention must be a whole number of days between 1 and 365."
  }
}

variable "container_soft_delete_retention_days" {
  type        = number
  description = "Days a deleted container can still be restored (1-365)."
  default     = 7
  nullable    = false

  validation {
    condition     = var.container_soft_delete_retention_days >= 1 && var.container_soft_delete_retention_days <= 365 && floor(var.container_soft_delete_retention_days) == var.container_soft_delete_retention_days
    error_message = "Container soft delete retention must be a whole number of days between 1 and 365."
  }
}

variable "containers" {
  type        = set(string)
  description = "Names of the private blob containers to create (3-63 characters: lower-case letters, digits and single hyphens)."
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for c in var.containers : can(regex("^[a-z0-9](?:[a-z0-9]|-[a-z0-9]){2,62}$", c))])
    error_message = "Container names are 3-63 characters of lower-case letters, digits and hyphens, start and end with a letter or digit, and have no consecutive hyphens."
  }
}

variable "infrastructure_encryption_enabled" {
  type        = bool
  description = "Add a second, infrastructure-level layer of encryption at rest (no extra charge; changing it recreates the account)."
  default     = true
  nullable    = false
}

variable "network_rules" {
  type = object({
    default_action             = optional(string, "Deny")
    bypass                     = optional(set(string), ["AzureServices"])
    ip_rules                   = optional(set(string), [])
    virtual_network_subnet_ids = optional(set(string), [])
  })
  description = <<-EOT
    Optional firewall for the account; null (the default) leaves the public endpoint open and relies on Entra ID and RBAC alone.
    - `default_action`: `Deny` (default) or `Allow`.
    - `bypass`: any of `AzureServices`, `Logging`, `Metrics`, or `None`.
    - `ip_rules`: public IPv4 addresses or CIDR ranges allowed through.
    - `virtual_network_subnet_ids`: subnets (with a `Microsoft.Storage` service endpoint) allowed through.
    A Function App without virtual network integration reaches storage from shared outbound addresses, so `Deny` needs VNet integration first.
  EOT
  default     = null

  validation {
    condition     = var.network_rules == null || contains(["Allow", "Deny"], try(var.network_rules.default_action, ""))
    error_message = "network_rules.default_action must be `Allow` or `Deny`."
  }

  validation {
    condition     = var.network_rules == null || alltrue([for b in try(var.network_rules.bypass, []) : contains(["AzureServices", "Logging", "Metrics", "None"], b)])
    error_message = "network_rules.bypass entries must be `AzureServices`, `Logging`, `Metrics` or `None`."
  }
}

variable "public_network_access_enabled" {
  type        = bool
  description = "Whether the account's public endpoint is reachable at all (false needs private endpoints, which this module does not create)."
  default     = true
  nullable    = false
}

variable "replication_type" {
  type        = string
  description = "Redundancy of the account: `LRS`, `ZRS`, `GRS`, `RAGRS`, `GZRS` or `RAGZRS`."
  default     = "LRS"
  nullable    = false

  validation {
    condition     = contains(["LRS", "ZRS", "GRS", "RAGRS", "GZRS", "RAGZRS"], var.replication_type)
    error_message = "replication_type must be one of LRS, ZRS, GRS, RAGRS, GZRS, RAGZRS."
  }
}

variable "sas_expiration_period" {
  type        = string
  description = "SAS expiration policy, as `DD.HH:MM:SS`: account or service SAS valid for longer are logged (moot while shared keys are off, which forbids them)."
  default     = "01.00:00:00"
  nullable    = false

  validation {
    condition     = can(regex("^[0-9]{1,3}\\.[0-2][0-9]:[0-5][0-9]:[0-5][0-9]$", var.sas_expiration_period))
    error_message = "sas_expiration_period must look like `DD.HH:MM:SS`, for example `01.00:00:00`."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to the storage account."
  default     = {}
  nullable    = false
}
