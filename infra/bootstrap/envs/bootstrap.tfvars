# The one bootstrap of FluxOps: one resource group and one pipeline identity per environment.
# Set gitlab_project_path to your project before the first run.
gitlab_project_path = "fluxops/fluxops"
location            = "westeurope"

environments = {
  dev = {
    branch              = "develop"
    resource_group_name = "rg-fluxops-dev"
  }
  staging = {
    branch              = "main"
    resource_group_name = "rg-fluxops-stg"
  }
  prod = {
    branch              = "production"
    resource_group_name = "rg-fluxops-prd"
  }
}
