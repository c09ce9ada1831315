variable "location" {
  type        = string
  description = "Azure region of the resource group, as a short name such as `westeurope`."
  nullable    = false

  validation {
    condition     = can(regex("^[a-z]+[0-9]?$", var.location))
    error_message = "The location must be a short region name in lower case, such as `westeurope` or `eastus2`."
  }
}

variable "name" {
  type        = string
  description = "Name of the resource group (1-90 characters: letters, digits, `-`, `_`, `.`, `(`, `)`; not ending in `.`)."
  nullable    = false

  validation {
    condition     = can(regex("^[-\\w.()]{0,89}[-\\w()]$", var.name))
    error_message = "The name must be 1-90 characters of letters, digits, '-', '_', '.', '(' or ')', and must not end with '.'."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to the resource group."
  default     = {}
  nullable    = false
}
