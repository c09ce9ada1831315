"""Structural tests of infra/terraform, offline (python-hcl2; no provider, no network).

Run from the repository root with the tools venv (ci/tools.sh installs it):
    .tools/venv/bin/python infra/tests/test_terraform_structure.py

Three groups of tests:
  * RealTree  checks infra/terraform and infra/bootstrap with every rule of tfstructure.py
              and module_readme.py, plus project-specific promises (backend, provider pins,
              naming limits, no credential in app settings);
  * FirstRun  (test_first_run.py) the fixes that make the first apply come up healthy and
              the teardown leave nothing, one test per fix, each naming what it guards;
  * Fixtures  runs the same rules on the small configurations in infra/tests/fixtures/:
              `good/` must be clean, and every other folder must trip exactly the rule it
              is named after, which shows each rule can fail.

The last line printed is `terraform-structure: N passed, M failed, K skipped`, after one
line per skip with its reason; the exit status is non-zero when anything failed.
"""

from __future__ import annotations

import glob
import os
import re
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import hcl2  # noqa: E402

import module_readme  # noqa: E402
import test_first_run  # noqa: E402
import tfstructure  # noqa: E402

REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
ROOT = os.path.join(REPO, "infra", "terraform")
BOOTSTRAP = os.path.join(REPO, "infra", "bootstrap")
FIXTURES = os.path.join(HERE, "fixtures")


def all_violations(root_dir: str) -> list[tfstructure.Violation]:
    found = tfstructure.check_tree(root_dir)
    for module_dir in tfstructure.child_module_dirs(root_dir):
        found += module_readme.check_readme(module_dir, root_dir)
    return found


def _load(path: str) -> dict:
    with open(path, encoding="utf-8") as handle:
        return hcl2.load(handle)


def _first(value):
    return value[0] if isinstance(value, list) and len(value) == 1 else value


class RealTree(unittest.TestCase):
    """infra/terraform itself."""

    @classmethod
    def setUpClass(cls):
        cls.found = all_violations(ROOT) + [
            tfstructure.Violation(v.rule, f"infra/bootstrap/{v.where}", v.message) for v in all_violations(BOOTSTRAP)
        ]

    def assert_clean(self, *rules: str) -> None:
        hits = [v for v in self.found if v.rule in rules]
        self.assertEqual(hits, [], "\n" + "\n".join(str(v) for v in hits))

    def test_variables_have_type_and_description(self):
        self.assert_clean("variable-missing-type", "variable-missing-description")

    def test_outputs_have_description(self):
        self.assert_clean("output-missing-description")

    def test_module_calls_match_module_interfaces(self):
        self.assert_clean("module-unknown-argument", "module-missing-argument", "module-missing-source")

    def test_module_references_name_real_modules_and_outputs(self):
        self.assert_clean("module-unknown-call", "module-unknown-output")

    def test_tfvars_set_only_declared_variables_and_all_required_ones(self):
        self.assert_clean("tfvars-unknown-variable", "tfvars-missing-required")

    def test_variables_and_outputs_follow_avm_order(self):
        self.assert_clean("variable-order", "output-order")

    def test_modules_have_main_resource_this_and_their_files(self):
        self.assert_clean("module-missing-this", "module-missing-file")

    def test_secrets_are_sensitive_and_never_root_outputs(self):
        self.assert_clean("secret-output-not-sensitive", "root-outputs-secret")

    def test_module_readmes_match_their_interface(self):
        self.assert_clean("module-readme-stale")

    def test_no_violation_of_any_rule(self):
        self.assertEqual(self.found, [], "\n" + "\n".join(str(v) for v in self.found))

    def test_expected_modules_exist(self):
        for name in ("storage", "key_vault", "app_insights", "function_app", "ml_registry"):
            with self.subTest(module=name):
                self.assertTrue(os.path.isdir(os.path.join(ROOT, "modules", name)), name)

    def test_every_environment_has_a_tfvars_file(self):
        for env in ("dev", "staging", "prod"):
            with self.subTest(env=env):
                values = _load(os.path.join(ROOT, "envs", f"{env}.tfvars"))
                self.assertEqual(_first(values.get("environment")), env)

    def test_versions_pin_terraform_azurerm_and_http_backend(self):
        for root in (ROOT, BOOTSTRAP):
            terraform = _load(os.path.join(root, "versions.tf"))["terraform"][0]
            with self.subTest(root=os.path.relpath(root, REPO)):
                self.assertEqual(_first(terraform["required_version"]), ">= 1.5.0")
                azurerm = _first(_first(terraform["required_providers"])["azurerm"])
                constraint = azurerm["version"]
                self.assertIn(">= 4.42", constraint, "rbac_authorization_enabled needs azurerm 4.42 or newer")
                self.assertIn("< 5.0", constraint, "stay on the azurerm 4.x line")
                self.assertIn("http", _first(terraform["backend"]), "GitLab-managed state uses backend \"http\"")
                self.assertEqual(_first(terraform["backend"])["http"], {}, "backend settings come from the environment only")

    def test_key_vault_uses_rbac_and_soft_delete(self):
        vault = _load(os.path.join(ROOT, "modules", "key_vault", "main.tf"))["resource"][0]["azurerm_key_vault"]["this"]
        self.assertIs(_first(vault["rbac_authorization_enabled"]), True)
        self.assertNotIn("enable_rbac_authorization", vault, "deprecated in azurerm 4.42, removed in 5.0")
        self.assertNotIn("access_policy", vault)
        self.assertIn("soft_delete_retention_days", vault)

    def test_storage_is_keyless_private_and_recoverable(self):
        account = _load(os.path.join(ROOT, "modules", "storage", "main.tf"))["resource"][0]["azurerm_storage_account"]["this"]
        self.assertIs(_first(account["shared_access_key_enabled"]), False)
        self.assertIs(_first(account["allow_nested_items_to_be_public"]), False)
        self.assertEqual(_first(account["min_tls_version"]), "TLS1_2")
        self.assertEqual(_first(account["account_kind"]), "StorageV2")
        blob = _first(account["blob_properties"])
        self.assertIs(_first(blob["versioning_enabled"]), True)
        self.assertIn("delete_retention_policy", blob)
        self.assertIn("container_delete_retention_policy", blob)

    def test_app_settings_hold_no_credentials(self):
        """No account key, SAS or storage connection string reaches an app setting (storage is
        identity-based); the one telemetry connection string comes from its module output, not
        from text in the configuration."""
        credential = re.compile(
            r"AccountKey=|SharedAccessSignature=|InstrumentationKey=|sig=|"
            r"\.(?:primary_|secondary_)?(?:access_key|connection_string)\b|"
            r"AZURE_STORAGE_CONNECTION_STRING|AZURE_CLIENT_SECRET|AZURE_CLIENT_ID",
        )
        sources = []
        root_main = tfstructure.load_config(ROOT)
        module_dir = os.path.join(ROOT, "modules", "function_app")
        for path in glob.glob(os.path.join(module_dir, "*.tf")) + glob.glob(os.path.join(ROOT, "*.tf")):
            parsed = _load(path)
            for entry in parsed.get("locals", []):
                for key, value in entry.items():
                    if key.endswith("settings"):
                        sources.append((f"{os.path.relpath(path, ROOT)}: local.{key}", value))
            for entry in parsed.get("resource", []):
                for rtype, named in entry.items():
                    for name, body in named.items():
                        if "app_settings" in body:
                            sources.append((f"{rtype}.{name}.app_settings", body["app_settings"]))
        self.assertTrue(sources, "found no app settings to check")
        for where, value in sources:
            text = repr(value)
            with self.subTest(where=where):
                self.assertIsNone(credential.search(text), f"{where} looks like it carries a credential: {text}")
        call = next(c for c in root_main.modules if c.name == "function_app")
        self.assertEqual(_first(call.body["application_insights_connection_string"]), "${module.app_insights.connection_string}")

    def test_handler_contract_settings_are_set(self):
        main = _load(os.path.join(ROOT, "main.tf"))
        settings = next(_first(e["handler_app_settings"]) for e in main["locals"] if "handler_app_settings" in e)
        for name in ("FLUXOPS_MODEL_SOURCE", "FLUXOPS_MODEL_NAME", "FLUXOPS_MODEL_REFRESH_SECS",
                     "FLUXOPS_MAX_BATCH", "FLUXOPS_MAX_BODY_BYTES", "RUST_LOG"):
            with self.subTest(setting=name):
                self.assertIn(name, settings)
        self.assertIn('container_urls["models"]', settings["FLUXOPS_MODEL_SOURCE"])

    def test_globally_unique_names_fit_azure_limits_for_the_longest_project(self):
        """Expand the name templates of main.tf with the longest values the variables allow."""
        main = _load(os.path.join(ROOT, "main.tf"))
        names = next(_first(e["names"]) for e in main["locals"] if "names" in e)
        values = {
            "${var.project}": "abcdefghij",  # 10 characters: the variable's maximum
            "${local.environment_short}": "stg",
            "${local.name_suffix}": "a1b2c3",
            "${local.name_base}": "abcdefghij-stg",
        }
        limits = {
            "model_storage": (r"^[a-z0-9]{3,24}$", "storage account: 3-24 lower-case letters and digits"),
            "host_storage": (r"^[a-z0-9]{3,24}$", "storage account: 3-24 lower-case letters and digits"),
            "ml_key_vault": (r"^[a-zA-Z](?:[a-zA-Z0-9]|-[a-zA-Z0-9]){2,23}$", "key vault: 3-24, letters, digits, single hyphens"),
            "ml_storage": (r"^[a-z0-9]{3,24}$", "storage account: 3-24 lower-case letters and digits"),
            "function_app": (r"^[a-zA-Z0-9][a-zA-Z0-9-]{0,30}[a-zA-Z0-9]$", "function app: 2-32 (host ID length)"),
        }
        for key, (pattern, rule) in limits.items():
            template = names[key]
            name = template
            for placeholder, value in values.items():
                name = name.replace(placeholder, value)
            with self.subTest(name=key):
                self.assertNotIn("${", name, f"unexpanded template {template}")
                self.assertRegex(name, pattern, f"{key} = {name!r} breaks the {rule} rule")


class Fixtures(unittest.TestCase):
    """Each rule demonstrably fails on a configuration that breaks it."""

    def test_good_fixture_is_clean(self):
        found = all_violations(os.path.join(FIXTURES, "good"))
        self.assertEqual(found, [], "\n" + "\n".join(str(v) for v in found))


def _fixture_test(case: str):
    expected = case.replace("_", "-")

    def test(self):
        found = all_violations(os.path.join(FIXTURES, case))
        self.assertEqual({v.rule for v in found}, {expected},
                         f"fixture {case} should trip exactly [{expected}]:\n" + "\n".join(str(v) for v in found))

    test.__doc__ = f"fixtures/{case} trips {expected}"
    return test


for _case in sorted(os.listdir(FIXTURES)):
    if _case != "good" and os.path.isdir(os.path.join(FIXTURES, _case)):
        setattr(Fixtures, f"test_fixture_{_case}", _fixture_test(_case))


def main() -> int:
    suite = unittest.TestSuite()
    loader = unittest.TestLoader()
    suite.addTests(loader.loadTestsFromTestCase(RealTree))
    suite.addTests(loader.loadTestsFromModule(test_first_run))
    suite.addTests(loader.loadTestsFromTestCase(Fixtures))
    verbose = 2 if "-v" in sys.argv[1:] else 1
    result = unittest.TextTestRunner(stream=sys.stdout, verbosity=verbose).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    # A skip is never silent: each one says what it waits for.
    for test, reason in result.skipped:
        print(f"terraform-structure: skipped {test.id().rsplit('.', 1)[-1]}: {reason}")
    skipped = {getattr(test, "test_case", test).id() for test, _ in result.skipped}
    passed = result.testsRun - failed - len(skipped)
    print(f"terraform-structure: {passed} passed, {failed} failed, {len(skipped)} skipped")
    return 0 if failed == 0 and result.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
