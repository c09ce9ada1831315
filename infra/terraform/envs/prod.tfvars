# Production: zone-redundant model storage, longer retention, purge protection (implied by
# environment = "prod"). Alert e-mails are set by the pipeline with
# -var='alert_email_addresses=["oncall@example.com"]' so no address lives in the repository.
environment = "prod"
location    = "westeurope"

# FC1 scales to zero and bills per use; switch to "EP1" for always-warm instances.
hosting_plan_sku           = "FC1"
app_instance_memory_mb     = 2048
app_maximum_instance_count = 100

storage_replication_type             = "ZRS"
log_retention_days                   = 90
blob_soft_delete_retention_days      = 30
container_soft_delete_retention_days = 30
key_vault_soft_delete_retention_days = 90

alert_failure_rate_percent = 2
alert_latency_p95_ms       = 500
