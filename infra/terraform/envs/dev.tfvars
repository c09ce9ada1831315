# Development: cheapest settings, short retention, purgeable vault.
environment = "dev"
location    = "westeurope"

hosting_plan_sku           = "FC1"
app_instance_memory_mb     = 2048
app_maximum_instance_count = 40

log_retention_days                   = 30
blob_soft_delete_retention_days      = 7
container_soft_delete_retention_days = 7
key_vault_soft_delete_retention_days = 7

rust_log = "info,fluxops_handler=debug"
