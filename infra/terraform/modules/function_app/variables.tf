variable "host_storage_account_name" {
  type        = string
  description = "Name of the storage account the Functions host uses (AzureWebJobsStorage), reached with the app's identity."
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9]{3,24}$", var.host_storage_account_name))
    error_message = "host_storage_account_name must be a storage account name: 3-24 lower-case letters and digits."
  }
}

variable "location" {
  type        = string
  description = "Azure region of the plan and the app, as a short name such as `westeurope`."
  nullable    = false

  validation {
    condition     = can(regex("^[a-z]+[0-9]?$", var.location))
    error_message = "The location must be a short region name in lower case, such as `westeurope` or `eastus2`."
  }
}

variable "name" {
  type        = string
  description = "Globally unique Function App name (it becomes `<name>.azurewebsites.net`): 2-32 characters, letters, digits and hyphens, not starting or ending with a hyphen."
  nullable    = false

  validation {
    # Azure allows 60 characters, but the Functions host ID is the name cut to 32 characters:
    # two apps sharing a storage account whose names agree in the first 32 would collide.
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9-]{0,30}[a-zA-Z0-9]$", var.name))
    error_message = "name must be 2-32 characters of letters, digits and hyphens, not starting or ending with a hyphen."
  }
}

variable "resource_group_id" {
  type        = string
  description = "Resource ID of the resource group that holds the plan and the app (`/subscriptions/<id>/resourceGroups/<name>`)."
  nullable    = false

  validation {
    condition     = can(regex("^/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[-\\w.()]+$", var.resource_group_id))
    error_message = "resource_group_id must be a resource group ID, such as /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-fluxops-dev."
  }
}

variable "service_plan_name" {
  type        = string
  description = "Name of the hosting plan (1-60 characters: letters, digits, hyphens)."
  nullable    = false

  validation {
    condition     = can(regex("^[a-zA-Z0-9-]{1,60}$", var.service_plan_name))
    error_message = "service_plan_name must be 1-60 characters of letters, digits and hyphens."
  }
}

variable "always_ready_instances" {
  type        = number
  description = "Flex Consumption only: instances of the `http` always-ready group, warm at all times and billed around the clock; 0 lets the app scale to zero."
  default     = 0
  nullable    = false

  validation {
    condition     = var.always_ready_instances >= 0 && floor(var.always_ready_instances) == var.always_ready_instances
    error_message = "always_ready_instances must be a whole number of at least 0."
  }
}

variable "app_settings" {
  type        = map(string)
  description = "Settings handed to the custom handler as environment variables (FLUXOPS_*, RUST_LOG, ...). Platform settings the module or the provider manages are refused."
  default     = {}
  nullable    = false

  validation {
    condition = alltrue([for k in keys(var.app_settings) : !contains([
      "APPINSIGHTS_INSTRUMENTATIONKEY",
      "APPLICATIONINSIGHTS_CONNECTION_STRING",
      "AzureWebJobsStorage",
      "AzureWebJobsStorage__accountName",
      "AzureWebJobsStorage__credential",
      "DEPLOYMENT_STORAGE_CONNECTION_STRING",
      "FUNCTIONS_EXTENSION_VERSION",
      "FUNCTIONS_WORKER_RUNTIME",
      "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
      "WEBSITE_CONTENTSHARE",
      "WEBSITE_RUN_FROM_PACKAGE",
    ], k)])
    error_message = "app_settings must not set platform settings (AzureWebJobsStorage*, FUNCTIONS_*, WEBSITE_CONTENT*, WEBSITE_RUN_FROM_PACKAGE, Application Insights keys): the module and the provider manage them, and Flex Consumption rejects several."
  }
}

variable "application_insights_connection_string" {
  type        = string
  description = "Value of APPLICATIONINSIGHTS_CONNECTION_STRING, as a plain app setting (never a Key Vault reference: one can still be unresolved when the handler first starts). Null leaves telemetry export off."
  default     = null
  sensitive   = true
}

variable "custom_runtime_version" {
  type        = string
  description = "Flex Consumption only: runtime version sent with `runtime_name = \"custom\"`. Not checkable offline: confirm at the first apply with `az functionapp list-flexconsumption-runtimes --location <region> --runtime custom`."
  default     = "1.0"
  nullable    = false

  validation {
    condition     = can(regex("^[0-9]+(\\.[0-9]+)*$", var.custom_runtime_version))
    error_message = "custom_runtime_version must be a dotted version number such as 1.0."
  }
}

variable "deployment_container_url" {
  type        = string
  description = "Flex Consumption only: URL of the blob container the app package is published to, such as `https://<account>.blob.core.windows.net/app-package`."
  default     = null

  validation {
    condition     = var.deployment_container_url == null || can(regex("^https://[a-z0-9]{3,24}\\.blob\\.[a-z0-9.]+/[a-z0-9-]{3,63}$", var.deployment_container_url))
    error_message = "deployment_container_url must be a blob container URL such as https://<account>.blob.core.windows.net/<container>."
  }
}

variable "health_check_path" {
  type        = string
  description = "Path the platform probes on Dedicated plans to take unhealthy instances out of rotation (Flex Consumption has no platform health check)."
  default     = "/api/health"
  nullable    = false

  validation {
    condition     = startswith(var.health_check_path, "/")
    error_message = "health_check_path must start with '/'."
  }
}

variable "http_concurrency" {
  type        = number
  description = "Flex Consumption only: HTTP requests one instance takes at once before the platform scales out (per-instance concurrency, 1-1000)."
  default     = 16
  nullable    = false

  validation {
    condition     = var.http_concurrency >= 1 && var.http_concurrency <= 1000 && floor(var.http_concurrency) == var.http_concurrency
    error_message = "http_concurrency must be a whole number between 1 and 1000."
  }
}

variable "instance_memory_in_mb" {
  type        = number
  description = "Flex Consumption only: memory of each instance, 2048 or 4096 MB (billing is per GB-second of this size)."
  default     = 2048
  nullable    = false

  validation {
    condition     = contains([2048, 4096], var.instance_memory_in_mb)
    error_message = "instance_memory_in_mb must be 2048 or 4096."
  }
}

variable "maximum_instance_count" {
  type        = number
  description = "Flex Consumption only: scale-out ceiling, instances per app (1-1000); Dedicated plans do not scale out by themselves."
  default     = 40
  nullable    = false

  validation {
    condition     = var.maximum_instance_count >= 1 && var.maximum_instance_count <= 1000 && floor(var.maximum_instance_count) == var.maximum_instance_count
    error_message = "maximum_instance_count must be a whole number between 1 and 1000."
  }
}

variable "public_network_access_enabled" {
  type        = bool
  description = "Whether the app answers on its public endpoint (false needs a private endpoint, which this module does not create)."
  default     = true
  nullable    = false
}

variable "sku_name" {
  type        = string
  description = "Hosting plan SKU: `FC1` (Flex Consumption, default) or a Linux Dedicated SKU (`B1`-`B3`, `S1`-`S3`, `P0v3`-`P3v3`)."
  default     = "FC1"
  nullable    = false

  validation {
    condition     = contains(["FC1", "B1", "B2", "B3", "S1", "S2", "S3", "P0v3", "P1v3", "P2v3", "P3v3"], var.sku_name)
    error_message = "sku_name must be FC1, B1-B3, S1-S3 or P0v3-P3v3. Consumption (Y1) retires on 30 September 2028; Elastic Premium (EP*) needs an Azure Files content share, which only takes an account key."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to the plan and the app."
  default     = {}
  nullable    = false
}
