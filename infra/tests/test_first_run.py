"""The first apply comes up healthy and the teardown leaves nothing: one offline test per fix
(issue 11), read from the parsed HCL (python-hcl2) or from a JSON plan, each saying in its
docstring what broke before and which source the fix rests on (docs/IaC_Design.md has the
citations). Run by test_terraform_structure.py, or alone:
    .tools/venv/bin/python -m unittest infra/tests/test_first_run.py
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import unittest

import hcl2

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
ROOT = os.path.join(REPO, "infra", "terraform")
BOOTSTRAP = os.path.join(REPO, "infra", "bootstrap")
MODULES = os.path.join(ROOT, "modules")
PLANS = os.path.join(HERE, "plans")

# App settings that never read back as written, so they show as a change in every plan and
# restart the app at every apply: the azurerm Flex resource filters `AzureWebJobsStorage` out
# of what it reads, and App Service drops settings it manages itself.
NEVER_READ_BACK = {"AzureWebJobsStorage", "AzureWebJobsDashboard", "WEBSITE_CONTENTSHARE", "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING"}
# The roles the environment identity may grant (infra/bootstrap), by name.
GRANTABLE_ROLES = {
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
}


def load(*parts: str) -> dict:
    with open(os.path.join(*parts), encoding="utf-8") as handle:
        return hcl2.load(handle)


def first(value):
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def blocks(directory: str, kind: str) -> dict[str, dict]:
    """Every `kind` block ("resource", "data", "module", "locals") of a directory, by
    `<type>.<name>` (resources, data) or name (modules) or key (locals)."""
    found: dict[str, dict] = {}
    for path in sorted(glob.glob(os.path.join(directory, "*.tf"))):
        for entry in load(path).get(kind, []):
            for key, body in entry.items():
                if kind in ("resource", "data"):
                    for name, inner in body.items():
                        found[f"{key}.{name}"] = inner
                else:
                    found[key] = body
    return found


def provider(directory: str, name: str) -> dict:
    """The `provider "<name>"` block of a root module's providers.tf."""
    return next(first(entry[name]) for entry in load(directory, "providers.tf")["provider"] if name in entry)


def text(*parts: str) -> str:
    with open(os.path.join(*parts), encoding="utf-8") as handle:
        return handle.read()


def tf_sources(directory: str) -> str:
    return "\n".join(text(path) for path in sorted(glob.glob(os.path.join(directory, "**", "*.tf"), recursive=True)))


class Teardown(unittest.TestCase):
    """1. `terraform destroy` failed on the resource group: Azure adds a "Failure Anomalies"
    rule and an "Application Insights Smart Detection" action group that Terraform does not
    manage (azurerm #18026, #18357, #22163)."""

    def test_the_provider_disables_and_removes_the_generated_rule(self):
        features = first(provider(ROOT, "azurerm")["features"])
        self.assertIs(first(first(features["application_insights"])["disable_generated_rule"]), True)

    def test_the_generated_action_group_is_deleted_at_destroy_after_the_component(self):
        resources = blocks(os.path.join(MODULES, "app_insights"), "resource")
        action = resources["azapi_resource_action.delete_generated_action_group"]
        self.assertEqual(first(action["when"]), "destroy")
        self.assertEqual(first(action["method"]), "DELETE")
        self.assertIs(first(action["ignore_not_found"]), True)
        self.assertIn("/actionGroups/Application Insights Smart Detection", first(action["resource_id"]))
        self.assertNotIn("azurerm_application_insights", first(action["resource_id"]), "it must not depend on the component")
        component = resources["azurerm_application_insights.this"]
        self.assertIn("${azapi_resource_action.delete_generated_action_group}", first(component["depends_on"]))

    def test_the_environment_never_deletes_its_resource_group(self):
        self.assertNotIn("azurerm_resource_group.this", blocks(ROOT, "resource"))
        self.assertIn("azurerm_resource_group.this", blocks(ROOT, "data"))
        self.assertFalse(os.path.isdir(os.path.join(MODULES, "resource_group")))


class TelemetrySetting(unittest.TestCase):
    """2. The connection string was a Key Vault reference, unresolved on the first start (the
    app's role on the vault propagates after the app starts), and the handler exited on it."""

    def test_no_key_vault_reference_and_no_secret_left(self):
        sources = tf_sources(ROOT)
        self.assertNotIn("@Microsoft.KeyVault(", sources)
        self.assertNotIn("azurerm_key_vault_secret", sources)
        self.assertFalse(os.path.exists(os.path.join(ROOT, "main.secrets.tf")))

    def test_the_app_gets_the_connection_string_as_a_plain_setting(self):
        call = blocks(ROOT, "module")["function_app"]
        self.assertEqual(first(call["application_insights_connection_string"]), "${module.app_insights.connection_string}")
        fa_locals = {}
        for entry in blocks(os.path.join(MODULES, "function_app"), "locals").items():
            fa_locals[entry[0]] = entry[1]
        self.assertIn("APPLICATIONINSIGHTS_CONNECTION_STRING", str(fa_locals["telemetry_settings"]))
        self.assertIn("local.telemetry_settings", str(fa_locals["flex_app_settings"]))


class RolePropagation(unittest.TestCase):
    """3. The first deploy and model publish ran seconds after their role assignments, which
    Azure RBAC takes minutes to apply (azurerm #23927 for the same race on a vault)."""

    def test_apply_waits_for_every_role_assignment(self):
        resources = blocks(ROOT, "resource")
        assignments = {key.split(".", 1)[1] for key in resources if key.startswith("azurerm_role_assignment.")}
        self.assertTrue(assignments)
        wait = resources["time_sleep.role_propagation"]
        self.assertEqual(first(wait["create_duration"]), "${var.role_propagation_wait}")
        triggers = first(wait["triggers"])
        waited_for = {re.search(r"azurerm_role_assignment\.(\w+)\.id", v).group(1) for v in triggers.values()}
        self.assertEqual(waited_for, assignments, "every role assignment must be waited for")
        providers = first(load(ROOT, "versions.tf")["terraform"][0]["required_providers"])
        self.assertEqual(first(providers["time"])["source"], "hashicorp/time")

    def test_deploy_retries_within_one_deadline_and_cuts_a_hanging_deploy_off(self):
        deploy = text(REPO, "ci", "deploy.sh")
        self.assertIn('deadline_start "${DEPLOY_SECONDS:-1500}"', deploy)
        self.assertIn('retry_until_deadline "zip deploy to $FUNCTION_APP_NAME" zip_deploy', deploy)
        self.assertRegex(deploy, r'before_deadline "\$\{DEPLOY_ATTEMPT_SECONDS:-\d+\}" az functionapp deployment')
        self.assertNotIn("retry_bounded", deploy)

    def test_the_publish_is_never_retried(self):
        """Every run of the trainer moves latest.json to a new version: the deploy retries only
        the reads that show the roles apply, then runs the trainer once."""
        deploy = text(REPO, "ci", "deploy.sh")
        self.assertIn("retry_until_deadline \"reading $models_container and $logs_container in $account\" registry_accepts_us",
                      deploy)
        retried = re.findall(r"^retry_until_deadline .* (\w+)$", deploy, re.MULTILINE)
        self.assertEqual(retried, ["zip_deploy", "registry_accepts_us"])
        self.assertEqual(len(re.findall(r'"\$trainer" "\$@"', deploy)), 1, "the trainer runs in one place, unretried")

    def test_the_publisher_may_write_the_run_logs_beside_the_models(self):
        """`fluxops-train --publish` writes metrics.json and train.log to the `logs` container;
        without a role there the first deploy failed after publishing."""
        resources = blocks(ROOT, "resource")
        publisher = {first(body["scope"]): first(body["role_definition_name"]) for key, body in resources.items()
                     if key.startswith("azurerm_role_assignment.") and first(body["principal_id"]) == "${local.deployer_principal_id}"}
        self.assertEqual(publisher, {
            '${module.model_storage.container_ids["models"]}': "Storage Blob Data Contributor",
            '${module.model_storage.container_ids["logs"]}': "Storage Blob Data Contributor",
        })


class PlanChoice(unittest.TestCase):
    """4. Elastic Premium ran with the content share disabled and WEBSITE_RUN_FROM_PACKAGE=1,
    which Microsoft documents as unsupported there; EP is no longer offered."""

    def test_elastic_premium_is_not_accepted(self):
        for path in (os.path.join(ROOT, "variables.tf"), os.path.join(MODULES, "function_app", "variables.tf")):
            for entry in load(path)["variable"]:
                for name, body in entry.items():
                    if name not in ("hosting_plan_sku", "sku_name"):
                        continue
                    condition = first(first(body["validation"])["condition"])
                    with self.subTest(variable=name):
                        self.assertRegex(condition, r"['\"]FC1['\"]")
                        self.assertNotRegex(condition, r"['\"]EP\d['\"]")

    def test_no_elastic_premium_code_is_left(self):
        sources = tf_sources(os.path.join(MODULES, "function_app"))
        self.assertNotIn("maximum_elastic_worker_count", sources)
        self.assertNotIn("is_elastic_premium", sources)


class SecondPlanIsEmpty(unittest.TestCase):
    """5. `AzureWebJobsStorage = ""` on Flex never read back, so every plan showed a change and
    every apply restarted the app; the empty value also broke the .NET 10 host (host #11796,
    PR #11794; the web-site verified module removed the same placeholder in its PR #376)."""

    def _flex_site(self) -> dict:
        return blocks(os.path.join(MODULES, "function_app"), "resource")["azapi_resource.flex"]

    def test_the_flex_site_is_managed_without_the_azurerm_resource(self):
        resources = blocks(os.path.join(MODULES, "function_app"), "resource")
        self.assertNotIn("azurerm_function_app_flex_consumption.this", resources)
        site = self._flex_site()
        self.assertTrue(first(site["type"]).startswith("Microsoft.Web/sites@"))
        self.assertIs(first(site["ignore_casing"]), True, "the service echoes some enumerations in lower case")

    def test_no_app_setting_that_never_reads_back(self):
        fa_locals = blocks(os.path.join(MODULES, "function_app"), "locals")
        root_locals = blocks(ROOT, "locals")
        settings = {
            "function_app host_storage_settings": fa_locals["host_storage_settings"],
            "function_app telemetry_settings": fa_locals["telemetry_settings"],
            "function_app plan_app_settings": fa_locals["plan_app_settings"],
            "root handler_app_settings": root_locals["handler_app_settings"],
        }
        for where, value in settings.items():
            rendered = str(value)
            with self.subTest(settings=where):
                for key in NEVER_READ_BACK:
                    self.assertNotRegex(rendered, rf"'{key}'\s*:", f"{key} never reads back")
                self.assertNotRegex(rendered, r":\s*''", "an empty setting never reads back")

    def _noise(self, fixture: str) -> list[str]:
        output = subprocess.run(["jq", "-r", "-f", os.path.join(REPO, "ci", "plan-noise.jq"), os.path.join(PLANS, fixture)],
                                capture_output=True, text=True, check=True).stdout
        return output.splitlines()

    def test_plan_noise_is_reported_from_the_json_plan(self):
        self.assertEqual(
            self._noise("second-plan-noisy.json"),
            ["module.function_app.azurerm_function_app_flex_consumption.this[0]: update [app_settings]"],
        )

    def test_an_empty_second_plan_reports_nothing(self):
        self.assertEqual(self._noise("second-plan-clean.json"), [])

    def test_apply_checks_the_second_plan(self):
        script = text(REPO, "ci", "terraform.sh")
        self.assertIn("-detailed-exitcode", script)
        self.assertIn("jq -r -f ci/plan-noise.jq", script)


class OneIdentityPerEnvironment(unittest.TestCase):
    """6. One subscription-wide identity with Contributor and RBAC Administrator served develop
    and main alike: a job on develop could change or destroy prod."""

    def setUp(self):
        self.resources = blocks(BOOTSTRAP, "resource")

    def test_roles_are_scoped_to_the_environment_resource_group(self):
        assignments = [body for key, body in self.resources.items() if key.startswith("azurerm_role_assignment.")]
        self.assertEqual(len(assignments), 2)
        for body in assignments:
            self.assertEqual(first(body["for_each"]), "${var.environments}")
            self.assertEqual(first(body["scope"]), "${azurerm_resource_group.this[each.key].id}")
            self.assertEqual(first(body["principal_id"]), "${azurerm_user_assigned_identity.deploy[each.key].principal_id}")

    def test_the_rbac_administrator_may_grant_only_the_storage_roles(self):
        rbac = self.resources["azurerm_role_assignment.deploy_role_assignments"]
        self.assertEqual(first(rbac["role_definition_name"]), "Role Based Access Control Administrator")
        self.assertEqual(first(rbac["condition_version"]), "2.0")
        bootstrap_locals = blocks(BOOTSTRAP, "locals")
        self.assertEqual(set(first(bootstrap_locals["grantable_roles"]).values()), set(GRANTABLE_ROLES.values()))
        assignments = [body for key, body in blocks(ROOT, "resource").items() if key.startswith("azurerm_role_assignment.")]
        granted = {first(body["role_definition_name"]) for body in assignments}
        self.assertLessEqual(granted, set(GRANTABLE_ROLES), "infra/terraform grants a role the environment identity may not")
        for body in assignments:
            with self.subTest(role=first(body["role_definition_name"])):
                self.assertEqual(first(body.get("principal_type")), "ServicePrincipal",
                                 "the bootstrap condition allows service principals only, by the type the request names")
        self.assertIn("PrincipalType] StringEqualsIgnoreCase 'ServicePrincipal'", first(bootstrap_locals["role_assignment_condition"]))

    def test_each_identity_trusts_only_its_branch(self):
        credential = self.resources["azurerm_federated_identity_credential.deploy"]
        self.assertEqual(first(credential["subject"]),
                         "project_path:${var.gitlab_project_path}:ref_type:branch:ref:${each.value.branch}")
        self.assertEqual(first(credential["resource_group_name"]), "${azurerm_resource_group.identities.name}",
                         "identities live outside the resource groups they act on")
        environments = first(load(BOOTSTRAP, "envs", "bootstrap.tfvars")["environments"])
        self.assertEqual({name: env["branch"] for name, env in environments.items()},
                         {"dev": "develop", "staging": "main", "prod": "production"},
                         "one branch per environment: Entra matches only the token's sub (project, ref type, "
                         "ref), so two environments on one branch would trust each other's jobs")

    def test_bootstrap_and_environments_agree_on_the_resource_groups(self):
        environments = first(load(BOOTSTRAP, "envs", "bootstrap.tfvars")["environments"])
        for name, env in environments.items():
            tfvars = load(ROOT, "envs", f"{name}.tfvars")
            with self.subTest(environment=name):
                self.assertEqual(first(tfvars["resource_group_name"]), env["resource_group_name"])

    def test_the_environment_identity_registers_no_resource_provider(self):
        self.assertEqual(first(provider(ROOT, "azurerm")["resource_provider_registrations"]), "none")
        self.assertIs(first(provider(ROOT, "azapi")["skip_provider_registration"]), True)


class ScopedRoles(unittest.TestCase):
    """8. The app's Key Vault role covered the whole vault, which the optional ML workspace
    shared, together with the model storage account."""

    def test_the_app_reads_only_the_models_container_and_its_host_account(self):
        resources = blocks(ROOT, "resource")
        app = {first(body["scope"]): first(body["role_definition_name"]) for key, body in resources.items()
               if key.startswith("azurerm_role_assignment.") and "module.function_app.principal_id" in first(body["principal_id"])}
        self.assertEqual(app, {
            '${module.model_storage.container_ids["models"]}': "Storage Blob Data Reader",
            "${module.host_storage.resource_id}": "Storage Blob Data Owner",
        })

    def test_the_ml_workspace_has_its_own_vault_and_storage(self):
        call = blocks(ROOT, "module")["ml_registry"]
        self.assertEqual(first(call["key_vault_id"]), "${module.ml_key_vault[0].resource_id}")
        self.assertEqual(first(call["storage_account_id"]), "${module.ml_storage[0].resource_id}")


class AuditLogs(unittest.TestCase):
    """9. Neither the model storage account nor the vault had audit logs."""

    def test_model_storage_and_vaults_send_audit_logs_to_the_workspace(self):
        modules = blocks(ROOT, "module")
        for name in ("model_storage", "ml_key_vault", "ml_storage"):
            with self.subTest(module=name):
                self.assertEqual(first(modules[name]["audit_logs"]), {"log_analytics_workspace_id": "${module.app_insights.workspace_id}"})

    def test_the_storage_module_logs_writes_and_deletes_of_blobs(self):
        setting = blocks(os.path.join(MODULES, "storage"), "resource")["azurerm_monitor_diagnostic_setting.blob_audit"]
        self.assertEqual(first(setting["target_resource_id"]), "${azurerm_storage_account.this.id}/blobServices/default")
        self.assertEqual({first(log["category"]) for log in setting["enabled_log"]}, {"StorageWrite", "StorageDelete"})

    def test_the_vault_module_logs_audit_events(self):
        setting = blocks(os.path.join(MODULES, "key_vault"), "resource")["azurerm_monitor_diagnostic_setting.audit"]
        self.assertEqual({first(log["category"]) for log in setting["enabled_log"]}, {"AuditEvent"})


class AlertQueries(unittest.TestCase):
    """10. The alert queries counted the host's and the handler's rows of each request and the
    health probes."""

    FILTER = 'where isnotempty(route) and route !in ("/", "/api/health") and not(route startswith "/v2/health/")'

    def test_both_alerts_count_only_the_handler_s_rows_without_probes(self):
        alerts_locals = blocks(os.path.join(MODULES, "app_insights"), "locals")
        # python-hcl2 keeps the escapes of the HCL strings; the query text is without them.
        lines = str(first(alerts_locals["alert_requests"])).replace("\\", "")
        self.assertIn('extend route = tostring(customDimensions["http.route"])', lines)
        self.assertIn(self.FILTER, lines)
        self.assertIn("cloud_RoleName", lines)
        resources = blocks(os.path.join(MODULES, "app_insights"), "resource")
        for name in ("failure_rate", "latency_p95"):
            query = first(first(resources[f"azurerm_monitor_scheduled_query_rules_alert_v2.{name}"]["criteria"])["query"])
            with self.subTest(alert=name):
                self.assertTrue(query.lstrip().startswith("${local.alert_requests}"), query)
                self.assertIn("sum(itemCount)", query)
        self.assertEqual(first(blocks(ROOT, "module")["app_insights"]["role_name"]), "${local.names.function_app}")

    def test_the_monitoring_page_shows_the_same_filter(self):
        self.assertTrue(self.FILTER in text(REPO, "docs", "Monitoring.md"), f"docs/Monitoring.md must show the alert filter: {self.FILTER}")


class ProvidersAndCapacity(unittest.TestCase):
    """11. Providers pinned by a committed lock file; scale-out is configuration."""

    def test_the_lock_file_is_committed_not_ignored(self):
        ignored = subprocess.run(["git", "check-ignore", "-q", "infra/terraform/.terraform.lock.hcl"], cwd=REPO).returncode
        self.assertEqual(ignored, 1, ".terraform.lock.hcl must not be ignored by git")

    def test_a_committed_lock_file_covers_exactly_the_required_providers(self):
        for root in (ROOT, BOOTSTRAP):
            lock = os.path.join(root, ".terraform.lock.hcl")
            with self.subTest(root=os.path.relpath(root, REPO)):
                if not os.path.isfile(lock):
                    self.skipTest(f"{os.path.relpath(lock, REPO)} is not committed yet: the first pipeline's "
                                  "terraform:validate writes it, to be committed (docs/Pipeline_Logic.md, \"Providers\")")
                providers = first(load(root, "versions.tf")["terraform"][0]["required_providers"])
                required = {f"registry.terraform.io/{first(p)['source'].lower()}" for p in providers.values()}
                locked = {key.lower() for entry in load(lock).get("provider", []) for key in entry}
                self.assertEqual(locked, required)

    def test_every_provider_has_a_version_range(self):
        for root in (ROOT, BOOTSTRAP):
            providers = first(load(root, "versions.tf")["terraform"][0]["required_providers"])
            for name, spec in providers.items():
                with self.subTest(root=os.path.relpath(root, REPO), provider=name):
                    self.assertRegex(first(spec)["version"], r">= [\d.]+, < \d+\.0\.0")

    def test_flex_scale_out_is_configuration_per_environment(self):
        call = blocks(ROOT, "module")["function_app"]
        self.assertEqual(first(call["http_concurrency"]), "${var.app_http_concurrency}")
        self.assertEqual(first(call["always_ready_instances"]), "${var.app_always_ready_instances}")
        for env in ("dev", "staging", "prod"):
            tfvars = load(ROOT, "envs", f"{env}.tfvars")
            with self.subTest(environment=env):
                for name in ("app_http_concurrency", "app_always_ready_instances", "app_maximum_instance_count"):
                    self.assertIn(name, tfvars)
        site = str(blocks(os.path.join(MODULES, "function_app"), "resource")["azapi_resource.flex"]["body"])
        self.assertIn("perInstanceConcurrency", site)
        self.assertIn("alwaysReady", site)


if __name__ == "__main__":
    unittest.main()
