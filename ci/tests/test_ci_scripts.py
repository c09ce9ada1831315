"""The pipeline's job scripts, run for real against stand-in `terraform`, `az` and trainer
commands (no Azure, no GitLab): each test copies ci/ into a scratch repository, puts the stubs
first on PATH (or in TF_BIN) and checks what the script did and how it ended.

  ci/terraform.sh  refuses to destroy prod; takes the environment from its argument only;
                   plans as the read-only identity with --read-only; inits with the lock file
                   read-only; fails when the plan right after an apply is not empty, naming
                   what would change; writes a missing lock file and asks for it to be committed
  ci/tools.sh      installs the hash-checked build tool set on its own, and before the test
                   tools; each set once per pinned list
  ci/deploy.sh     retries what Azure refuses while roles propagate and is safe to repeat, all
                   within one deadline; cuts off a zip deploy that never returns; publishes
                   the model once, and says whether a failed publish moved latest.json
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import textwrap
import time
import unittest

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PLANS = os.path.join(ROOT, "infra", "tests", "plans")

AZURE = {
    "AZURE_CLIENT_ID": "00000000-0000-0000-0000-00000000dep1",
    "AZURE_TENANT_ID": "00000000-0000-0000-0000-0000000tenant",
    "AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000sub",
    "AZURE_ID_TOKEN": "header.payload.signature",
}
GITLAB = {"CI_API_V4_URL": "https://gitlab.example.com/api/v4", "CI_PROJECT_ID": "42", "CI_JOB_TOKEN": "job-token"}

# A stand-in terraform: appends "<ARM_CLIENT_ID> <args>" to $STUB_LOG; `plan ... -detailed-exitcode`
# exits with $STUB_PLAN_STATUS; `show -json` prints $STUB_SHOW; `output -json` prints outputs;
# `providers lock` writes the lock file.
TERRAFORM_STUB = textwrap.dedent("""\
    #!/bin/sh
    printf '%s %s\\n' "${ARM_CLIENT_ID:-}" "$*" >>"$STUB_LOG"
    dir=.
    case "$1" in -chdir=*) dir=${1#-chdir=}; shift ;; esac
    case "$1" in
      plan)
        case "$*" in *-detailed-exitcode*) exit "${STUB_PLAN_STATUS:-0}" ;; esac ;;
      show) cat "$STUB_SHOW" ;;
      output)
        echo '{"function_app_name":{"value":"func-fluxops-dev-abc123"},"resource_group_name":{"value":"rg-fluxops-dev"},"function_app_default_hostname":{"value":"func-fluxops-dev-abc123.azurewebsites.net"},"hosting_plan_sku":{"value":"FC1"},"model_container_url":{"value":"https://stfluxopsdevabc123.blob.core.windows.net/models"}}' ;;
      providers) echo '# lock' >"$dir/.terraform.lock.hcl" ;;
    esac
    exit 0
    """)

# A stand-in az: logs its arguments; `functionapp deployment ...` fails the first
# $STUB_ZIP_FAILURES times, or sleeps $STUB_ZIP_SLEEP seconds; `storage blob list` fails the
# first $STUB_READ_FAILURES times, and prints the ETag in $STUB_LATEST when asked for one.
AZ_STUB = textwrap.dedent("""\
    #!/bin/sh
    printf '%s\\n' "$*" >>"$STUB_LOG"
    case "$1 $2 $3" in
      "functionapp deployment source")
        [ -z "${STUB_ZIP_SLEEP:-}" ] || exec sleep "$STUB_ZIP_SLEEP"
        count=$(grep -c '^functionapp deployment' "$STUB_LOG")
        [ "$count" -gt "${STUB_ZIP_FAILURES:-0}" ] || { echo 'Forbidden (403)' >&2; exit 1; }
        ;;
      "storage blob list")
        count=$(grep -c '^storage blob list' "$STUB_LOG")
        [ "$count" -gt "${STUB_READ_FAILURES:-0}" ] || { echo 'AuthorizationPermissionMismatch (403)' >&2; exit 1; }
        case "$*" in *--query*) cat "$STUB_LATEST" 2>/dev/null || true ;; esac
        ;;
    esac
    exit 0
    """)

# A stand-in fluxops-train. STUB_TRAINER: `ok` moves latest.json (a new ETag in $STUB_LATEST);
# `fails-after-publishing` moves it and then fails, as the trainer did when it could not write
# its log to `logs`; `fails-before-publishing` fails without moving it.
TRAINER_STUB = textwrap.dedent("""\
    #!/bin/sh
    echo "train $*" >>"$STUB_LOG"
    case "${STUB_TRAINER:-ok}" in
      ok) echo "etag-$$" >"$STUB_LATEST" ;;
      fails-after-publishing)
        echo "etag-$$" >"$STUB_LATEST"
        echo "cannot upload the run's metrics.json: AuthorizationPermissionMismatch (403)" >&2
        exit 1 ;;
      fails-before-publishing) echo 'cannot publish the model: AuthorizationPermissionMismatch (403)' >&2; exit 1 ;;
    esac
    """)


class ScratchRepo:
    """ci/ copied into a temporary repository with stubs in bin/."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ci-scripts-")
        shutil.copytree(os.path.join(ROOT, "ci"), os.path.join(self.dir, "ci"))
        for root in ("infra/terraform", "infra/bootstrap"):
            os.makedirs(os.path.join(self.dir, root))
        self.bin = os.path.join(self.dir, "bin")
        os.makedirs(self.bin)
        self.log = os.path.join(self.dir, "stub.log")
        open(self.log, "w").close()
        self.write("bin/terraform", TERRAFORM_STUB, executable=True)
        self.write("bin/az", AZ_STUB, executable=True)

    def write(self, path: str, text: str, executable: bool = False) -> str:
        full = os.path.join(self.dir, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as handle:
            handle.write(text)
        if executable:
            os.chmod(full, 0o755)
        return full

    def run(self, args: list[str], **env: str) -> subprocess.CompletedProcess:
        environment = {
            "PATH": f"{self.bin}:{os.environ['PATH']}",
            "HOME": self.dir,
            "STUB_LOG": self.log,
            "STUB_LATEST": os.path.join(self.dir, "latest-etag"),
            "TF_BIN": os.path.join(self.bin, "terraform"),
        }
        environment.update(env)
        return subprocess.run(["sh", *args], cwd=self.dir, env=environment, capture_output=True, text=True, timeout=60)

    def calls(self) -> list[str]:
        with open(self.log, encoding="utf-8") as handle:
            return handle.read().splitlines()

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class TerraformScript(unittest.TestCase):
    def setUp(self):
        self.repo = ScratchRepo()
        self.repo.write("infra/terraform/.terraform.lock.hcl", "# lock\n")
        self.repo.write("infra/bootstrap/.terraform.lock.hcl", "# lock\n")
        self.addCleanup(self.repo.close)

    def test_prod_is_never_destroyed(self):
        result = self.repo.run(["ci/terraform.sh", "destroy", "prod"], **AZURE, **GITLAB)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("refusing to destroy prod", result.stderr)
        self.assertEqual(self.repo.calls(), [], "terraform must not even be initialised")

    def test_the_environment_comes_from_the_argument_not_from_variables(self):
        result = self.repo.run(["ci/terraform.sh", "destroy", "dev"], DEPLOY_ENV="prod", **AZURE, **GITLAB)
        self.assertEqual(result.returncode, 0, result.stderr)
        destroy = [c for c in self.repo.calls() if " destroy " in f" {c} "]
        self.assertEqual(len(destroy), 1, self.repo.calls())
        self.assertIn("-var-file=envs/dev.tfvars", destroy[0])
        self.assertNotIn("prod", " ".join(self.repo.calls()))

    def test_every_init_keeps_the_lock_file_read_only(self):
        show = self.repo.write("plan.json", json.dumps({"resource_changes": []}))
        self.repo.run(["ci/terraform.sh", "plan", "dev"], STUB_SHOW=show, **AZURE, **GITLAB)
        self.repo.run(["ci/terraform.sh", "destroy", "staging"], **AZURE, **GITLAB)
        self.repo.run(["ci/terraform.sh", "validate"])
        inits = [c for c in self.repo.calls() if " init " in f" {c} "]
        self.assertEqual(len(inits), 4, self.repo.calls())
        for call in inits:
            self.assertIn("-lockfile=readonly", call)

    def test_a_missing_lock_file_is_written_and_must_be_committed(self):
        os.remove(os.path.join(self.repo.dir, "infra/terraform/.terraform.lock.hcl"))
        result = self.repo.run(["ci/terraform.sh", "validate"])
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("commit infra/terraform/.terraform.lock.hcl", result.stderr)
        self.assertTrue(os.path.isfile(os.path.join(self.repo.dir, "infra/terraform/.terraform.lock.hcl")))
        lock_calls = [c for c in self.repo.calls() if "providers lock" in c]
        self.assertEqual(len(lock_calls), 1)
        for platform in ("linux_amd64", "darwin_arm64", "windows_amd64"):
            self.assertIn(f"-platform={platform}", lock_calls[0])
        # Plans and applies never write one themselves.
        os.remove(os.path.join(self.repo.dir, "infra/terraform/.terraform.lock.hcl"))
        result = self.repo.run(["ci/terraform.sh", "destroy", "dev"], **AZURE, **GITLAB)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn(".terraform.lock.hcl is missing", result.stderr)

    def test_read_only_plans_use_the_plan_identity(self):
        show = self.repo.write("plan.json", json.dumps({"resource_changes": []}))
        result = self.repo.run(["ci/terraform.sh", "plan", "staging", "--read-only"], STUB_SHOW=show,
                               AZURE_PLAN_CLIENT_ID="00000000-0000-0000-0000-0000000plan1", **AZURE, **GITLAB)
        self.assertEqual(result.returncode, 0, result.stderr)
        for call in self.repo.calls():
            self.assertTrue(call.startswith("00000000-0000-0000-0000-0000000plan1 "), call)
        missing = self.repo.run(["ci/terraform.sh", "plan", "staging", "--read-only"], STUB_SHOW=show, **AZURE, **GITLAB)
        self.assertNotEqual(missing.returncode, 0)
        self.assertIn("AZURE_PLAN_CLIENT_ID", missing.stderr)

    def _apply(self, plan_status: str, fixture: str) -> subprocess.CompletedProcess:
        self.repo.write("infra/terraform/plan.tfplan", "plan")
        return self.repo.run(["ci/terraform.sh", "apply", "dev"], STUB_PLAN_STATUS=plan_status,
                             STUB_SHOW=os.path.join(PLANS, fixture), **AZURE, **GITLAB)

    def test_apply_passes_when_the_second_plan_is_empty(self):
        result = self._apply("0", "second-plan-clean.json")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("second plan: no changes", result.stderr)
        with open(os.path.join(self.repo.dir, "deploy.env"), encoding="utf-8") as handle:
            self.assertIn("FUNCTION_APP_HOSTNAME=func-fluxops-dev-abc123.azurewebsites.net", handle.read())

    def test_apply_fails_when_the_second_plan_would_change_something(self):
        result = self._apply("2", "second-plan-noisy.json")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("the second plan is not empty", result.stderr)
        self.assertIn("module.function_app.azurerm_function_app_flex_consumption.this[0]: update [app_settings]", result.stderr)


# A stand-in python3 whose `-m venv DIR` makes DIR/bin/pip, a stand-in that logs its arguments.
PYTHON_STUB = textwrap.dedent("""\
    #!/bin/sh
    [ "$1 $2" = "-m venv" ] || exit 0
    mkdir -p "$3/bin"
    printf '#!/bin/sh\\necho "pip $*" >>"$STUB_LOG"\\n' >"$3/bin/pip"
    chmod +x "$3/bin/pip"
    """)


class ToolSets(unittest.TestCase):
    """ci/tools.sh: the build tool set (zig, cargo-zigbuild) installs on its own and only with
    hashes; the test command's sets install it first; each set installs once per pinned list."""

    def setUp(self):
        self.repo = ScratchRepo()
        self.addCleanup(self.repo.close)
        self.repo.write("bin/python3", PYTHON_STUB, executable=True)

    def _pip_calls(self) -> list[str]:
        return [c for c in self.repo.calls() if c.startswith("pip ")]

    def test_the_build_set_installs_alone_and_hash_checked(self):
        result = self.repo.run(["ci/tools.sh", "build"])
        self.assertEqual(result.returncode, 0, result.stderr)
        calls = self._pip_calls()
        self.assertEqual(len(calls), 1, calls)
        self.assertIn("--require-hashes", calls[0])
        self.assertTrue(calls[0].endswith("/ci/requirements-build.txt"), calls[0])
        again = self.repo.run(["ci/tools.sh", "build"])
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertEqual(len(self._pip_calls()), 1, "an unchanged list is not installed again")

    def test_the_python_set_adds_the_test_tools_after_the_build_set(self):
        result = self.repo.run(["ci/tools.sh", "python"])
        self.assertEqual(result.returncode, 0, result.stderr)
        calls = self._pip_calls()
        self.assertEqual([c.rsplit("/", 1)[-1] for c in calls], ["requirements-build.txt", "requirements.txt"])
        self.assertNotIn("--require-hashes", calls[1])

    def test_every_build_requirement_is_pinned_with_a_hash(self):
        with open(os.path.join(ROOT, "ci", "requirements-build.txt"), encoding="utf-8") as handle:
            lines = handle.read().replace("\\\n", " ").splitlines()
        requirements = [line.split() for line in lines if line.strip() and not line.startswith("#")]
        self.assertEqual(sorted(r[0].split("==")[0] for r in requirements), ["cargo-zigbuild", "ziglang"])
        for requirement in requirements:
            with self.subTest(requirement=requirement[0]):
                self.assertRegex(requirement[0], r"^[a-z-]+==\d+(\.\d+)+$")
                hashes = [word for word in requirement[1:] if word.startswith("--hash=sha256:")]
                self.assertTrue(hashes and len(hashes) == len(requirement) - 1, requirement)
        with open(os.path.join(ROOT, "ci", "requirements.txt"), encoding="utf-8") as handle:
            test_set = handle.read()
        for name in ("ziglang", "cargo-zigbuild"):
            self.assertNotRegex(test_set, rf"(?m)^{name}\b", f"{name} is pinned in ci/requirements-build.txt only")

    def test_the_package_command_installs_only_the_build_set(self):
        with open(os.path.join(ROOT, "xtask", "src", "package.rs"), encoding="utf-8") as handle:
            self.assertIn('&["ci/setup-tools.sh", "build"]', handle.read())


class DeployScript(unittest.TestCase):
    def setUp(self):
        self.repo = ScratchRepo()
        self.addCleanup(self.repo.close)
        self.repo.write("dist/fluxops-functions.zip", "zip")
        self.repo.write("dist/fluxops-train", TRAINER_STUB, executable=True)
        self.env = {
            **AZURE,
            "FUNCTION_APP_NAME": "func-fluxops-dev-abc123",
            "RESOURCE_GROUP_NAME": "rg-fluxops-dev",
            "MODEL_CONTAINER_URL": "https://stfluxopsdevabc123.blob.core.windows.net/models",
            "DEPLOY_RETRY_INTERVAL": "1",
            "DEPLOY_SECONDS": "10",
            "DEPLOY_ATTEMPT_SECONDS": "2",
        }

    def _deploy(self, **env: str) -> subprocess.CompletedProcess:
        return self.repo.run(["ci/deploy.sh", "dev"], **{**self.env, **env})

    def _calls(self, prefix: str) -> list[str]:
        return [c for c in self.repo.calls() if c.startswith(prefix)]

    def test_refusals_while_roles_propagate_are_retried_and_the_model_published_once(self):
        result = self._deploy(STUB_ZIP_FAILURES="2", STUB_READ_FAILURES="2")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(len(self._calls("functionapp deployment")), 3)
        reads = self._calls("storage blob list")
        self.assertEqual(len(reads), 4, "two refused reads of models, then models and logs")
        self.assertIn("--container-name models", reads[-2])
        self.assertIn("--container-name logs", reads[-1])
        for read in reads:
            self.assertIn("--account-name stfluxopsdevabc123", read)
        self.assertEqual(len(self._calls("train ")), 1)
        self.assertIn("retrying in 1 s", result.stderr)

    def test_a_trainer_that_fails_after_publishing_is_not_run_again(self):
        self.repo.write("latest-etag", "etag-before\n")
        result = self._deploy(STUB_TRAINER="fails-after-publishing")
        self.assertNotEqual(result.returncode, 0)
        self.assertEqual(len(self._calls("train ")), 1, "a second run would publish a second version")
        self.assertIn("failed after moving fluxops/latest.json to its new version, which is now served; not retried",
                      result.stderr)

    def test_a_trainer_that_fails_before_publishing_says_nothing_was_published(self):
        self.repo.write("latest-etag", "etag-before\n")
        result = self._deploy(STUB_TRAINER="fails-before-publishing")
        self.assertNotEqual(result.returncode, 0)
        self.assertEqual(len(self._calls("train ")), 1)
        self.assertIn("nothing was published", result.stderr)

    def test_no_model_is_published_while_the_registry_refuses_the_identity(self):
        result = self._deploy(STUB_READ_FAILURES="100", DEPLOY_SECONDS="4")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("reading models and logs in stfluxopsdevabc123: still failing", result.stderr)
        self.assertFalse(self._calls("train "))

    def test_a_refusal_that_lasts_fails_at_the_deadline(self):
        started = time.monotonic()
        result = self._deploy(STUB_ZIP_FAILURES="100", DEPLOY_SECONDS="4")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("zip deploy to func-fluxops-dev-abc123: still failing", result.stderr)
        self.assertIn("the script's 4 s are up", result.stderr)
        self.assertLess(time.monotonic() - started, 15)
        self.assertFalse(self._calls("train "), "no model is published without the code")

    def test_a_zip_deploy_that_never_returns_is_cut_off(self):
        started = time.monotonic()
        result = self._deploy(STUB_ZIP_SLEEP="30", DEPLOY_SECONDS="4")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("still failing", result.stderr)
        self.assertLess(time.monotonic() - started, 20)

    def test_one_deadline_covers_every_step(self):
        # The zip deploy takes 4 of the 6 seconds; the reads that follow get only what is left
        # (each step with its own 6 s bound would take 10 s or more).
        started = time.monotonic()
        result = self._deploy(STUB_ZIP_SLEEP="4", DEPLOY_ATTEMPT_SECONDS="10", STUB_READ_FAILURES="100",
                              DEPLOY_SECONDS="6")
        elapsed = time.monotonic() - started
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("reading models and logs in stfluxopsdevabc123: still failing", result.stderr)
        self.assertLess(elapsed, 9.5, result.stderr)


if __name__ == "__main__":
    unittest.main()
