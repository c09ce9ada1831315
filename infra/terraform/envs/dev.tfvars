# Development: cheapest settings, short retention, scale to zero.
environment         = "dev"
resource_group_name = "rg-fluxops-dev"

hosting_plan_sku           = "FC1"
app_instance_memory_mb     = 2048
app_http_concurrency       = 16
app_always_ready_instances = 0
app_maximum_instance_count = 40

log_retention_days                   = 30
blob_soft_delete_retention_days      = 7
container_soft_delete_retention_days = 7
key_vault_soft_delete_retention_days = 7

rust_log = "info,fluxops_handler=debug"
