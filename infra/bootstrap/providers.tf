provider "azurerm" {
  # Exactly the resource providers infra/terraform uses, registered once here, because the
  # environment identities may not register any (their rights end at their resource group).
  resource_provider_registrations = "none"
  resource_providers_to_register = [
    "Microsoft.AlertsManagement",
    "Microsoft.Insights",
    "Microsoft.KeyVault",
    "Microsoft.MachineLearningServices",
    "Microsoft.ManagedIdentity",
    "Microsoft.OperationalInsights",
    "Microsoft.Storage",
    "Microsoft.Web",
  ]

  features {
    resource_group {
      # An environment's resource group is deleted here only once the pipeline has torn the
      # environment down: refuse while it still holds anything.
      prevent_deletion_if_contains_resources = true
    }
  }
}
