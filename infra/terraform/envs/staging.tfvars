# Staging: production-like plan and limits, shorter retention.
environment = "staging"
location    = "westeurope"

hosting_plan_sku           = "FC1"
app_instance_memory_mb     = 2048
app_maximum_instance_count = 40

log_retention_days                   = 30
blob_soft_delete_retention_days      = 14
container_soft_delete_retention_days = 14
key_vault_soft_delete_retention_days = 30

alert_failure_rate_percent = 5
alert_latency_p95_ms       = 1000
