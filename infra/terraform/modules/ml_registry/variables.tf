variable "application_insights_id" {
  type        = string
  description = "Resource ID of the Application Insights resource the workspace reports to."
  nullable    = false
}

variable "key_vault_id" {
  type        = string
  description = "Resource ID of the key vault the workspace uses (it must allow Azure RBAC)."
  nullable    = false
}

variable "location" {
  type        = string
  description = "Azure region of the workspace, as a short name such as `westeurope`."
  nullable    = false

  validation {
    condition     = can(regex("^[a-z]+[0-9]?$", var.location))
    error_message = "The location must be a short region name in lower case, such as `westeurope` or `eastus2`."
  }
}

variable "name" {
  type        = string
  description = "Name of the Machine Learning workspace: 3-33 characters, letters, digits, hyphens and underscores, starting with a letter or digit."
  nullable    = false

  validation {
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9_-]{2,32}$", var.name))
    error_message = "name must be 3-33 characters of letters, digits, '-' or '_', starting with a letter or digit."
  }
}

variable "resource_group_name" {
  type        = string
  description = "Name of the resource group that holds the workspace."
  nullable    = false
}

variable "storage_account_id" {
  type        = string
  description = "Resource ID of the (Standard tier) storage account the workspace keeps its artifacts in."
  nullable    = false
}

variable "high_business_impact" {
  type        = bool
  description = "Flag the workspace as holding high-business-impact data, which reduces the diagnostic data Microsoft collects."
  default     = false
  nullable    = false
}

variable "public_network_access_enabled" {
  type        = bool
  description = "Whether the workspace is reachable on its public endpoint."
  default     = true
  nullable    = false
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to the workspace."
  default     = {}
  nullable    = false
}
