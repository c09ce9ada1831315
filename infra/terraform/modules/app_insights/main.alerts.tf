resource "azurerm_monitor_action_group" "this" {
  name                = var.action_group_name
  resource_group_name = var.resource_group_name
  short_name          = var.action_group_short_name
  tags                = var.tags

  dynamic "email_receiver" {
    for_each = toset(var.alert_email_addresses)

    content {
      email_address           = email_receiver.value
      name                    = "email-${replace(email_receiver.value, "/[^a-zA-Z0-9]/", "-")}"
      use_common_alert_schema = true
    }
  }
}

locals {
  # The rows both alerts count: the handler's own requests (the only ones with an
  # `http.route` dimension; the Functions host writes a second row for every request into
  # the same table, under the same role), of the app's role, without the readiness and
  # health probes, whose volume and latency say nothing about callers. The same filter is in
  # docs/Monitoring.md; infra/tests checks both queries use it.
  alert_requests = join("\n", compact([
    "requests",
    var.role_name == null ? null : "| where cloud_RoleName == \"${var.role_name}\"",
    "| extend route = tostring(customDimensions[\"http.route\"])",
    "| where isnotempty(route) and route !in (\"/\", \"/api/health\") and not(route startswith \"/v2/health/\")",
  ]))
}

# Azure Monitor metric alerts aggregate a metric with avg/min/max/total/count only: they can
# neither divide 5xx by all requests nor take a 95th percentile. Both alerts are therefore
# log search alerts over the Application Insights `requests` table, evaluated every 5 minutes
# over the last 5 minutes, and quiet below `minimum_request_count` requests so one failed
# call at 3 a.m. does not page anyone. Counts use itemCount, which stays right if sampling
# is ever turned on.
resource "azurerm_monitor_scheduled_query_rules_alert_v2" "failure_rate" {
  evaluation_frequency    = "PT5M"
  location                = var.location
  name                    = "${var.name}-5xx-rate"
  resource_group_name     = var.resource_group_name
  scopes                  = [azurerm_application_insights.this.id]
  severity                = 1
  window_duration         = "PT5M"
  auto_mitigation_enabled = true
  description             = "Share of requests answered with a 5xx status is above ${var.failure_rate_threshold_percent}% over 5 minutes."
  display_name            = "${var.name}: 5xx rate above ${var.failure_rate_threshold_percent}%"
  enabled                 = var.alerts_enabled
  tags                    = var.tags

  action {
    action_groups = [azurerm_monitor_action_group.this.id]
  }

  criteria {
    metric_measure_column   = "failure_rate_percent"
    operator                = "GreaterThan"
    query                   = <<-KQL
      ${local.alert_requests}
      | summarize total = sum(itemCount), failed = sumif(itemCount, toint(resultCode) >= 500)
      | where total >= ${var.minimum_request_count}
      | extend failure_rate_percent = 100.0 * failed / total
    KQL
    threshold               = var.failure_rate_threshold_percent
    time_aggregation_method = "Maximum"

    failing_periods {
      minimum_failing_periods_to_trigger_alert = 1
      number_of_evaluation_periods             = 1
    }
  }
}

resource "azurerm_monitor_scheduled_query_rules_alert_v2" "latency_p95" {
  evaluation_frequency    = "PT5M"
  location                = var.location
  name                    = "${var.name}-p95-latency"
  resource_group_name     = var.resource_group_name
  scopes                  = [azurerm_application_insights.this.id]
  severity                = 2
  window_duration         = "PT5M"
  auto_mitigation_enabled = true
  description             = "95th percentile request duration is above ${var.latency_p95_threshold_ms} ms over 5 minutes."
  display_name            = "${var.name}: p95 latency above ${var.latency_p95_threshold_ms} ms"
  enabled                 = var.alerts_enabled
  tags                    = var.tags

  action {
    action_groups = [azurerm_monitor_action_group.this.id]
  }

  criteria {
    metric_measure_column   = "p95_ms"
    operator                = "GreaterThan"
    query                   = <<-KQL
      ${local.alert_requests}
      | summarize total = sum(itemCount), p95_ms = percentile(duration, 95)
      | where total >= ${var.minimum_request_count}
      | project p95_ms
    KQL
    threshold               = var.latency_p95_threshold_ms
    time_aggregation_method = "Maximum"

    failing_periods {
      minimum_failing_periods_to_trigger_alert = 1
      number_of_evaluation_periods             = 1
    }
  }
}
