# Creating an Application Insights component makes Azure add, minutes later, a "Failure
# Anomalies" smart detector rule and an action group "Application Insights Smart Detection"
# next to it, neither known to Terraform. The provider flag `disable_generated_rule`
# (providers.tf) disables the rule at create and deletes it at destroy; the action group it
# leaves (the provider change that would delete it, hashicorp/terraform-provider-azurerm#22163,
# was closed unmerged) is deleted here, at destroy only, once the component is gone. So a
# teardown leaves the resource group as empty as it found it.
resource "azapi_resource_action" "delete_generated_action_group" {
  method      = "DELETE"
  resource_id = "${split("/providers/", azurerm_log_analytics_workspace.this.id)[0]}/providers/microsoft.insights/actionGroups/Application Insights Smart Detection"
  type        = "Microsoft.Insights/actionGroups@2023-01-01"
  # Azure adds the group asynchronously (it can take an hour) and reuses one per resource
  # group, so it may not be there.
  ignore_not_found       = true
  response_export_values = []
  when                   = "destroy"
}
