# Production: one always-ready instance (no cold start for the first caller), zone-redundant
# model storage, longer retention. Alert e-mails are set by the pipeline with
# TF_VAR_alert_email_addresses so no address lives in the repository. Capacity figures:
# docs/IaC_Design.md, "Capacity".
environment         = "prod"
resource_group_name = "rg-fluxops-prd"

hosting_plan_sku           = "FC1"
app_instance_memory_mb     = 2048
app_http_concurrency       = 16
app_always_ready_instances = 1
app_maximum_instance_count = 100

storage_replication_type             = "ZRS"
log_retention_days                   = 90
blob_soft_delete_retention_days      = 30
container_soft_delete_retention_days = 30
key_vault_soft_delete_retention_days = 90

alert_failure_rate_percent = 2
alert_latency_p95_ms       = 500
