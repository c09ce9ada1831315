variable "environment" {
  type        = string
  description = "Deployment environment: `dev`, `staging` or `prod`. Part of every resource name; `prod` also turns on purge protection of the optional Machine Learning vault."
  nullable    = false

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of dev, staging, prod."
  }
}

variable "resource_group_name" {
  type        = string
  description = "The environment's resource group, made by infra/bootstrap (with the pipeline identity scoped to it); every resource goes there, in its region."
  nullable    = false

  validation {
    condition     = can(regex("^[-\\w.()]{0,89}[-\\w()]$", var.resource_group_name))
    error_message = "resource_group_name must be 1-90 characters of letters, digits, '-', '_', '.', '(' or ')', and must not end with '.'."
  }
}

variable "alert_email_addresses" {
  type        = list(string)
  description = "E-mail addresses notified when the 5xx-rate or p95-latency alert fires; empty keeps alerts in the portal only."
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for a in var.alert_email_addresses : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", a))])
    error_message = "Every entry of alert_email_addresses must be an e-mail address."
  }
}

variable "alert_failure_rate_percent" {
  type        = number
  description = "Alert when more than this percentage of requests in 5 minutes return a 5xx status."
  default     = 5
  nullable    = false

  validation {
    condition     = var.alert_failure_rate_percent > 0 && var.alert_failure_rate_percent < 100
    error_message = "alert_failure_rate_percent must be between 0 and 100 (exclusive)."
  }
}

variable "alert_latency_p95_ms" {
  type        = number
  description = "Alert when the 95th percentile request duration over 5 minutes exceeds this many milliseconds."
  default     = 1000
  nullable    = false

  validation {
    condition     = var.alert_latency_p95_ms > 0
    error_message = "alert_latency_p95_ms must be positive."
  }
}

variable "app_always_ready_instances" {
  type        = number
  description = "Flex Consumption only: instances kept warm for HTTP requests at all times (the `http` always-ready group), so a request never waits for a cold start; each is billed around the clock. 0 scales to zero. See docs/IaC_Design.md, \"Capacity\"."
  default     = 0
  nullable    = false

  validation {
    condition     = var.app_always_ready_instances >= 0 && floor(var.app_always_ready_instances) == var.app_always_ready_instances
    error_message = "app_always_ready_instances must be a whole number of at least 0."
  }
}

variable "app_http_concurrency" {
  type        = number
  description = "Flex Consumption only: HTTP requests one instance takes at once before the platform adds an instance (per-instance concurrency, 1-1000). See docs/IaC_Design.md, \"Capacity\", for how the value is derived."
  default     = 16
  nullable    = false

  validation {
    condition     = var.app_http_concurrency >= 1 && var.app_http_concurrency <= 1000 && floor(var.app_http_concurrency) == var.app_http_concurrency
    error_message = "app_http_concurrency must be a whole number between 1 and 1000."
  }
}

variable "app_instance_memory_mb" {
  type        = number
  description = "Flex Consumption only: memory per instance, 2048 or 4096 MB (billed per GB-second of this size)."
  default     = 2048
  nullable    = false

  validation {
    condition     = contains([2048, 4096], var.app_instance_memory_mb)
    error_message = "app_instance_memory_mb must be 2048 or 4096."
  }
}

variable "app_maximum_instance_count" {
  type        = number
  description = "Scale-out ceiling, and so a cost ceiling: instances on Flex Consumption (1-1000; older Flex documentation put the lowest allowed value at 40, so the environments stay at 40 or more); ignored on Dedicated plans."
  default     = 40
  nullable    = false

  validation {
    condition     = var.app_maximum_instance_count >= 1 && var.app_maximum_instance_count <= 1000 && floor(var.app_maximum_instance_count) == var.app_maximum_instance_count
    error_message = "app_maximum_instance_count must be a whole number between 1 and 1000."
  }
}

variable "blob_soft_delete_retention_days" {
  type        = number
  description = "Days a deleted or overwritten blob (a model, a pointer) can still be restored (1-365)."
  default     = 7
  nullable    = false

  validation {
    condition     = var.blob_soft_delete_retention_days >= 1 && var.blob_soft_delete_retention_days <= 365 && floor(var.blob_soft_delete_retention_days) == var.blob_soft_delete_retention_days
    error_message = "blob_soft_delete_retention_days must be a whole number between 1 and 365."
  }
}

variable "container_soft_delete_retention_days" {
  type        = number
  description = "Days a deleted container can still be restored (1-365)."
  default     = 7
  nullable    = false

  validation {
    condition     = var.container_soft_delete_retention_days >= 1 && var.container_soft_delete_retention_days <= 365 && floor(var.container_soft_delete_retention_days) == var.container_soft_delete_retention_days
    error_message = "container_soft_delete_retention_days must be a whole number between 1 and 365."
  }
}

variable "deployer_principal_id" {
  type        = string
  description = "Object ID of the service principal (a managed identity or an app) that publishes models (Storage Blob Data Contributor on `models`); null means the identity running Terraform. Users and groups cannot be granted by the pipeline identity."
  default     = null

  validation {
    condition     = var.deployer_principal_id == null || can(regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", var.deployer_principal_id))
    error_message = "deployer_principal_id must be an object ID (a GUID) or null."
  }
}

variable "hosting_plan_sku" {
  type        = string
  description = "Hosting plan: `FC1` (Flex Consumption, default) or a Linux Dedicated SKU (`B1`-`B3`, `S1`-`S3`, `P0v3`-`P3v3`). See docs/IaC_Design.md for costs."
  default     = "FC1"
  nullable    = false

  validation {
    condition     = contains(["FC1", "B1", "B2", "B3", "S1", "S2", "S3", "P0v3", "P1v3", "P2v3", "P3v3"], var.hosting_plan_sku)
    error_message = "hosting_plan_sku must be FC1, B1-B3, S1-S3 or P0v3-P3v3. Linux Consumption (Y1) retires on 30 September 2028; Elastic Premium (EP*) is not offered because it needs an Azure Files content share, which only takes an account key (docs/IaC_Design.md)."
  }
}

variable "key_vault_purge_protection_enabled" {
  type        = bool
  description = "Purge protection of the optional Machine Learning workspace's vault; null (default) means on in `prod` and off elsewhere, so dev and staging vaults can be purged and recreated. Irreversible once on."
  default     = null
}

variable "key_vault_soft_delete_retention_days" {
  type        = number
  description = "Days the optional Machine Learning workspace's deleted vault or secret stays recoverable (7-90); fixed when the vault is created."
  default     = 90
  nullable    = false

  validation {
    condition     = var.key_vault_soft_delete_retention_days >= 7 && var.key_vault_soft_delete_retention_days <= 90 && floor(var.key_vault_soft_delete_retention_days) == var.key_vault_soft_delete_retention_days
    error_message = "key_vault_soft_delete_retention_days must be a whole number between 7 and 90."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Days the Log Analytics workspace keeps telemetry (30-730); beyond 31 days retention is billed per GB per month."
  default     = 30
  nullable    = false

  validation {
    condition     = var.log_retention_days >= 30 && var.log_retention_days <= 730 && floor(var.log_retention_days) == var.log_retention_days
    error_message = "log_retention_days must be a whole number between 30 and 730."
  }
}

variable "max_batch" {
  type        = number
  description = "FLUXOPS_MAX_BATCH: most instances one /api/predict call may carry."
  default     = 1000
  nullable    = false

  validation {
    condition     = var.max_batch >= 1 && floor(var.max_batch) == var.max_batch
    error_message = "max_batch must be a whole number of at least 1."
  }
}

variable "max_body_bytes" {
  type        = number
  description = "FLUXOPS_MAX_BODY_BYTES: largest request body the handler accepts, in bytes (the Functions front end caps HTTP requests at 100 MB)."
  default     = 1048576
  nullable    = false

  validation {
    condition     = var.max_body_bytes >= 1024 && var.max_body_bytes <= 104857600 && floor(var.max_body_bytes) == var.max_body_bytes
    error_message = "max_body_bytes must be a whole number between 1024 and 104857600 (100 MB)."
  }
}

variable "ml_registry_enabled" {
  type        = bool
  description = "Also create the optional Azure Machine Learning workspace (the original project's optional model registry), with a vault and a storage account of its own. The handler does not use it."
  default     = false
  nullable    = false
}

variable "model_name" {
  type        = string
  description = "FLUXOPS_MODEL_NAME: the model the handler serves, i.e. the folder `<model_name>/` in the `models` container."
  default     = "fluxops"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._-]{0,62}$", var.model_name))
    error_message = "model_name must be 1-63 characters of lower-case letters, digits, '.', '_' or '-', starting with a letter or digit."
  }
}

variable "model_refresh_secs" {
  type        = number
  description = "FLUXOPS_MODEL_REFRESH_SECS: how often the handler checks `latest.json` for a new model."
  default     = 30
  nullable    = false

  validation {
    condition     = var.model_refresh_secs >= 5 && var.model_refresh_secs <= 86400 && floor(var.model_refresh_secs) == var.model_refresh_secs
    error_message = "model_refresh_secs must be a whole number between 5 and 86400."
  }
}

variable "model_storage_network_rules" {
  type = object({
    default_action             = optional(string, "Deny")
    bypass                     = optional(set(string), ["AzureServices"])
    ip_rules                   = optional(set(string), [])
    virtual_network_subnet_ids = optional(set(string), [])
  })
  description = <<-EOT
    Optional firewall for the model storage account; null (default) leaves it reachable and guarded by Entra ID and RBAC alone.
    - `default_action`: `Deny` (default) or `Allow`.
    - `bypass`: any of `AzureServices`, `Logging`, `Metrics`, `None`.
    - `ip_rules`: public IPv4 addresses or CIDR ranges allowed (for instance the CI runners that publish models).
    - `virtual_network_subnet_ids`: subnets allowed (for instance the Function App's integration subnet).
    The app reaches storage from shared outbound addresses unless it has VNet integration, so `Deny` needs that first.
  EOT
  default     = null
}

variable "project" {
  type        = string
  description = "Short project name, the first part of every resource name: 2-10 lower-case letters and digits, starting with a letter (storage account names allow nothing else)."
  default     = "fluxops"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,9}$", var.project))
    error_message = "project must be 2-10 lower-case letters and digits, starting with a letter."
  }
}

variable "role_propagation_wait" {
  type        = string
  description = "How long apply waits after creating a role assignment before it ends, so the deploy that follows is not refused while Azure RBAC propagates (a duration such as `180s` or `5m`; Microsoft documents up to 10 minutes, and ci/deploy.sh retries the rest)."
  default     = "180s"
  nullable    = false

  validation {
    condition     = can(regex("^[0-9]+[sm]$", var.role_propagation_wait))
    error_message = "role_propagation_wait must be a number of seconds or minutes, such as 180s or 5m."
  }
}

variable "rust_log" {
  type        = string
  description = "RUST_LOG: the handler's log filter, such as `info` or `info,fluxops_handler=debug`."
  default     = "info"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_:=,.\\-]+$", var.rust_log))
    error_message = "rust_log must be a tracing filter without spaces, such as info or info,fluxops_handler=debug."
  }
}

variable "storage_replication_type" {
  type        = string
  description = "Redundancy of the model storage account: `LRS`, `ZRS`, `GRS`, `RAGRS`, `GZRS` or `RAGZRS` (the host storage account is always LRS: it holds nothing that cannot be recreated)."
  default     = "LRS"
  nullable    = false

  validation {
    condition     = contains(["LRS", "ZRS", "GRS", "RAGRS", "GZRS", "RAGZRS"], var.storage_replication_type)
    error_message = "storage_replication_type must be one of LRS, ZRS, GRS, RAGRS, GZRS, RAGZRS."
  }
}

variable "tags" {
  type        = map(string)
  description = "Extra tags for every resource; `project`, `environment` and `managed-by` are always set."
  default     = {}
  nullable    = false
}
