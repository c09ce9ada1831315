# Staging: production-like plan and limits, shorter retention, scale to zero.
environment         = "staging"
resource_group_name = "rg-fluxops-stg"

hosting_plan_sku           = "FC1"
app_instance_memory_mb     = 2048
app_http_concurrency       = 16
app_always_ready_instances = 0
app_maximum_instance_count = 40

log_retention_days                   = 30
blob_soft_delete_retention_days      = 14
container_soft_delete_retention_days = 14
key_vault_soft_delete_retention_days = 30

alert_failure_rate_percent = 5
alert_latency_p95_ms       = 1000
