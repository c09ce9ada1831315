variable "action_group_name" {
  type        = string
  description = "Name of the action group that alerts notify (1-260 characters)."
  nullable    = false

  validation {
    condition     = length(var.action_group_name) >= 1 && length(var.action_group_name) <= 260
    error_message = "action_group_name must be 1-260 characters."
  }
}

variable "action_group_short_name" {
  type        = string
  description = "Short name of the action group shown in e-mails and SMS (1-12 characters)."
  nullable    = false

  validation {
    condition     = length(var.action_group_short_name) >= 1 && length(var.action_group_short_name) <= 12
    error_message = "action_group_short_name must be 1-12 characters."
  }
}

variable "location" {
  type        = string
  description = "Azure region of the workspace, Application Insights and alert rules, as a short name such as `westeurope`."
  nullable    = false

  validation {
    condition     = can(regex("^[a-z]+[0-9]?$", var.location))
    error_message = "The location must be a short region name in lower case, such as `westeurope` or `eastus2`."
  }
}

variable "name" {
  type        = string
  description = "Name of the Application Insights resource (1-255 characters; also the prefix of the alert rule names)."
  nullable    = false

  validation {
    condition     = can(regex("^[-\\w.()]{1,240}$", var.name))
    error_message = "name must be 1-240 characters of letters, digits, '-', '_', '.', '(' or ')'."
  }
}

variable "resource_group_name" {
  type        = string
  description = "Name of the resource group that holds the monitoring resources."
  nullable    = false
}

variable "workspace_name" {
  type        = string
  description = "Name of the Log Analytics workspace: 4-63 characters, letters, digits and hyphens, starting and ending with a letter or digit."
  nullable    = false

  validation {
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9-]{2,61}[a-zA-Z0-9]$", var.workspace_name))
    error_message = "workspace_name must be 4-63 characters of letters, digits and hyphens, starting and ending with a letter or digit."
  }
}

variable "alert_email_addresses" {
  type        = list(string)
  description = "E-mail addresses the action group notifies; empty means the alerts fire into the portal only."
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for a in var.alert_email_addresses : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", a))])
    error_message = "Every entry of alert_email_addresses must be an e-mail address."
  }
}

variable "alerts_enabled" {
  type        = bool
  description = "Whether the 5xx-rate and p95-latency alert rules are evaluated."
  default     = true
  nullable    = false
}

variable "daily_quota_gb" {
  type        = number
  description = "Daily ingestion cap of the workspace in GB; -1 (the default) means no cap."
  default     = -1
  nullable    = false

  validation {
    condition     = var.daily_quota_gb == -1 || var.daily_quota_gb > 0
    error_message = "daily_quota_gb must be -1 (no cap) or a positive number of GB."
  }
}

variable "failure_rate_threshold_percent" {
  type        = number
  description = "Alert when more than this percentage of requests in 5 minutes return a 5xx status."
  default     = 5
  nullable    = false

  validation {
    condition     = var.failure_rate_threshold_percent > 0 && var.failure_rate_threshold_percent < 100
    error_message = "failure_rate_threshold_percent must be between 0 and 100 (exclusive)."
  }
}

variable "latency_p95_threshold_ms" {
  type        = number
  description = "Alert when the 95th percentile request duration over 5 minutes exceeds this many milliseconds."
  default     = 1000
  nullable    = false

  validation {
    condition     = var.latency_p95_threshold_ms > 0
    error_message = "latency_p95_threshold_ms must be positive."
  }
}

variable "minimum_request_count" {
  type        = number
  description = "Neither alert fires on a 5-minute window with fewer requests than this."
  default     = 20
  nullable    = false

  validation {
    condition     = var.minimum_request_count >= 1 && floor(var.minimum_request_count) == var.minimum_request_count
    error_message = "minimum_request_count must be a whole number of at least 1."
  }
}

variable "retention_in_days" {
  type        = number
  description = "Days the workspace keeps telemetry (30-730); retention beyond 31 days is billed per GB per month."
  default     = 30
  nullable    = false

  validation {
    condition     = var.retention_in_days >= 30 && var.retention_in_days <= 730 && floor(var.retention_in_days) == var.retention_in_days
    error_message = "retention_in_days must be a whole number between 30 and 730."
  }
}

variable "role_name" {
  type        = string
  description = "Cloud role name of the monitored app (the Function App's name, which the handler reports as `cloud_RoleName`); the alerts count only its rows. Null counts every role."
  default     = null
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to every monitoring resource."
  default     = {}
  nullable    = false
}
