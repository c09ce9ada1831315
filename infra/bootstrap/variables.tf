variable "environments" {
  type = map(object({
    branch              = string
    resource_group_name = string
  }))
  description = <<-EOT
    One entry per environment, keyed `dev`, `staging`, `prod`:
    - `branch`: the only branch whose pipelines may act as the environment's identity, a different one per environment (the identity cannot tell two environments' jobs on one branch apart);
    - `resource_group_name`: the environment's resource group (the same name as `resource_group_name` in infra/terraform/envs/<env>.tfvars; a test checks it).
  EOT
  nullable    = false

  validation {
    condition     = alltrue([for name in keys(var.environments) : contains(["dev", "staging", "prod"], name)])
    error_message = "environments keys must be dev, staging or prod."
  }

  validation {
    condition     = length(distinct([for env in values(var.environments) : env.branch])) == length(var.environments)
    error_message = "Each environment needs a branch of its own: Entra matches only the ID token's subject (project, ref type, ref), so environments sharing a branch would trust each other's jobs."
  }
}

variable "gitlab_project_path" {
  type        = string
  description = "The project's full path on GitLab, `<group>/<project>` (subgroups allowed): the `project_path` of its ID tokens."
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$", var.gitlab_project_path))
    error_message = "gitlab_project_path must look like group/project."
  }
}

variable "location" {
  type        = string
  description = "Azure region of the resource groups (and so of every resource in them), as a short name such as `westeurope`; it must offer Flex Consumption (`az functionapp list-flexconsumption-locations`)."
  nullable    = false

  validation {
    condition     = can(regex("^[a-z]+[0-9]?$", var.location))
    error_message = "location must be a short region name in lower case, such as westeurope or eastus2."
  }
}

variable "gitlab_url" {
  type        = string
  description = "Issuer of the GitLab ID tokens: `https://gitlab.com`, or the URL of a self-managed instance."
  default     = "https://gitlab.com"
  nullable    = false

  validation {
    condition     = can(regex("^https://[^/]+$", var.gitlab_url))
    error_message = "gitlab_url must be an https:// URL without a path or a trailing slash."
  }
}

variable "identity_resource_group_name" {
  type        = string
  description = "Resource group of the pipeline identities, apart from the environments they act on."
  default     = "rg-fluxops-identities"
  nullable    = false
}

variable "project" {
  type        = string
  description = "Short project name, the first part of every name (as in infra/terraform)."
  default     = "fluxops"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,9}$", var.project))
    error_message = "project must be 2-10 lower-case letters and digits, starting with a letter."
  }
}

variable "tags" {
  type        = map(string)
  description = "Extra tags for the resource groups and identities."
  default     = {}
  nullable    = false
}
