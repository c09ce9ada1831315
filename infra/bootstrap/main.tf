# What the pipeline cannot make for itself: one resource group per environment, and one
# identity per environment that may change what is inside that resource group and nothing
# else, trusted only by pipelines of the branch that deploys the environment, one branch per
# environment (develop, main, production). A job on `develop` or `main` therefore holds no
# right at all over production.

locals {
  # Built-in roles the environment identity may grant inside its resource group (the Function
  # App's identity and the model publisher need them; see infra/terraform/main.rbac.tf).
  grantable_roles = {
    storage_blob_data_contributor = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
    storage_blob_data_owner       = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
    storage_blob_data_reader      = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
  }
  grantable_role_list = join(", ", values(local.grantable_roles))

  # Role Based Access Control Administrator, limited by an ABAC condition to creating and
  # deleting assignments of the roles above, and to service principals (managed identities),
  # never users or groups.
  role_assignment_condition = <<-EOT
    (
     (
      !(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})
     )
     OR
     (
      @Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${local.grantable_role_list}}
      AND
      @Request[Microsoft.Authorization/roleAssignments:PrincipalType] StringEqualsIgnoreCase 'ServicePrincipal'
     )
    )
    AND
    (
     (
      !(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})
     )
     OR
     (
      @Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${local.grantable_role_list}}
     )
    )
  EOT
}

resource "azurerm_resource_group" "this" {
  for_each = var.environments

  location = var.location
  name     = each.value.resource_group_name
  tags     = merge(var.tags, { environment = each.key, managed-by = "terraform-bootstrap", project = var.project })
}

# The identities live apart from the environments they act on: a Contributor on an
# environment's resource group cannot add a federated credential to its own identity.
resource "azurerm_resource_group" "identities" {
  location = var.location
  name     = var.identity_resource_group_name
  tags     = merge(var.tags, { managed-by = "terraform-bootstrap", project = var.project })
}

resource "azurerm_user_assigned_identity" "deploy" {
  for_each = var.environments

  location            = var.location
  name                = "id-${var.project}-${each.key}-deploy"
  resource_group_name = azurerm_resource_group.identities.name
  tags                = merge(var.tags, { environment = each.key, managed-by = "terraform-bootstrap", project = var.project })
}

# GitLab's ID token for a pipeline of the environment's branch; its subject is
# `project_path:<group>/<project>:ref_type:branch:ref:<branch>`. That subject is all Entra can
# check: GitLab lets a project's `sub` combine only project_path, ref_type and ref, and Entra's
# flexible credentials match only `sub` for GitLab tokens, never the `environment` or
# `environment_protected` claims. So each environment has a branch of its own; prod's,
# `production`, is a protected branch (docs/Pipeline_Logic.md, "Azure identity").
# `parent_id` and `resource_group_name` are the arguments every azurerm 4.x release accepts
# (4.70 renamed `parent_id` to `user_assigned_identity_id` and deprecated both).
resource "azurerm_federated_identity_credential" "deploy" {
  for_each = var.environments

  audience            = ["api://AzureADTokenExchange"]
  issuer              = var.gitlab_url
  name                = "gitlab-${each.value.branch}"
  parent_id           = azurerm_user_assigned_identity.deploy[each.key].id
  resource_group_name = azurerm_resource_group.identities.name
  subject             = "project_path:${var.gitlab_project_path}:ref_type:branch:ref:${each.value.branch}"
}

resource "azurerm_role_assignment" "deploy_contributor" {
  for_each = var.environments

  principal_id         = azurerm_user_assigned_identity.deploy[each.key].principal_id
  scope                = azurerm_resource_group.this[each.key].id
  principal_type       = "ServicePrincipal"
  role_definition_name = "Contributor"
}

resource "azurerm_role_assignment" "deploy_role_assignments" {
  for_each = var.environments

  principal_id         = azurerm_user_assigned_identity.deploy[each.key].principal_id
  scope                = azurerm_resource_group.this[each.key].id
  condition            = local.role_assignment_condition
  condition_version    = "2.0"
  principal_type       = "ServicePrincipal"
  role_definition_name = "Role Based Access Control Administrator"
}
