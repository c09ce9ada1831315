"""Rules of .gitlab-ci.yml that the job graphs of ci/pipeline-jobs/ cannot show.

Read from gitlab-ci-local's `--preview` of the file (every `extends:` and anchor resolved),
whose path ci/check-pipeline.sh passes in FLUXOPS_PIPELINE_PREVIEW, plus the raw file:

  * every job has its own `timeout:`;
  * a job that acts on an environment names that environment in its script and in
    `environment:`, never through a variable (a pipeline or schedule variable outranks job
    variables: `DEPLOY_ENV=prod` on a schedule once turned `cleanup:dev` against prod);
  * jobs that change an environment are not interruptible and never retried automatically;
    every job that names an environment (plans too) holds its resource group, and the
    read-only merge-request plans hold none;
  * the deploy jobs' timeout outlasts ci/deploy.sh's one deadline;
  * every job of an environment, the cleanup schedule too, runs only on the branch that the
    environment's identity trusts (infra/bootstrap), one branch per environment;
  * merge-request plans are read-only, in no environment, and keep no plan file;
  * each cache has one writer, and the build jobs cache only the build tool set;
  * the test job pins cargo-nextest and also runs the doctests.
"""

from __future__ import annotations

import os
import re
import unittest

import yaml

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
ENVIRONMENTS = ("dev", "staging", "prod")
# `sh ci/<script>.sh <command> <env>` or `sh ci/deploy.sh <env>`.
ENV_SCRIPT = re.compile(r"^sh ci/(?:terraform\.sh (?:plan|apply|destroy)|deploy\.sh) (\w+)")
RESERVED = {"stages", "workflow", "variables", "default", "include"}


def _preview() -> dict:
    path = os.environ.get("FLUXOPS_PIPELINE_PREVIEW")
    if not path:
        raise unittest.SkipTest("FLUXOPS_PIPELINE_PREVIEW is not set (ci/check-pipeline.sh sets it)")
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _env_name(job: dict) -> str | None:
    environment = job.get("environment")
    if isinstance(environment, dict):
        return environment.get("name")
    return environment


def _env_action(job: dict) -> str:
    environment = job.get("environment")
    return environment.get("action", "start") if isinstance(environment, dict) else "start"


class PipelineRules(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        config = _preview()
        cls.jobs = {
            name: body
            for name, body in config.items()
            if name not in RESERVED and not name.startswith(".") and isinstance(body, dict) and "script" in body
        }
        with open(os.path.join(ROOT, ".gitlab-ci.yml"), encoding="utf-8") as handle:
            cls.raw = handle.read()

    def test_there_are_jobs(self):
        self.assertIn("apply:prod", self.jobs)
        self.assertIn("cleanup:dev", self.jobs)

    def test_every_job_has_its_own_timeout(self):
        for name, job in self.jobs.items():
            with self.subTest(job=name):
                self.assertRegex(str(job.get("timeout", "")), r"^\d+ (minutes|hours?)$")

    def test_environments_are_named_in_the_script_never_through_a_variable(self):
        self.assertNotIn("DEPLOY_ENV", self.raw, "no job may take its environment from a variable")
        for name, job in self.jobs.items():
            env = _env_name(job)
            targets = [m.group(1) for line in job["script"] if (m := ENV_SCRIPT.match(line))]
            with self.subTest(job=name):
                if env is not None:
                    self.assertIn(env, ENVIRONMENTS, "environment names are literal")
                    self.assertNotIn("$", env)
                if targets:
                    self.assertEqual(len(targets), 1, job["script"])
                    if env is not None:
                        self.assertEqual(targets[0], env, f"{name} acts on {targets[0]} but is recorded against {env}")
                    else:
                        self.assertTrue(name.startswith("mr-plan:"), f"{name} acts on {targets[0]} outside any environment")
                        self.assertEqual(name, f"mr-plan:{targets[0]}")

    def test_every_environment_job_runs_only_on_the_branch_its_identity_trusts(self):
        """Each environment's identity trusts ID tokens of one branch (infra/bootstrap): a job
        of that environment on another branch could not sign in, and no other branch's job may
        sign in as it (prod has its own branch, `production`: Entra matches only the token's
        `sub`, which names the branch, never the environment). The cleanup schedule too."""
        with open(os.path.join(ROOT, "infra", "bootstrap", "envs", "bootstrap.tfvars"), encoding="utf-8") as handle:
            bootstrap = handle.read()
        branches = {env: re.search(rf'\b{env}\s*=\s*\{{\s*branch\s*=\s*"([^"]+)"', bootstrap).group(1)
                    for env in ENVIRONMENTS}
        self.assertEqual(len(set(branches.values())), 3, f"one branch per environment: {branches}")
        checked = 0
        for name, job in self.jobs.items():
            env = _env_name(job)
            if env is None:
                continue
            conditions = [rule.get("if", "") for rule in job.get("rules", []) if rule.get("when") != "never"]
            with self.subTest(job=name):
                self.assertTrue(conditions, "an environment job needs rules that name its branch")
                for condition in conditions:
                    self.assertEqual(re.findall(r'\$CI_COMMIT_BRANCH == "([^"]+)"', condition), [branches[env]], condition)
            checked += 1
        self.assertGreaterEqual(checked, 14)

    def test_nothing_in_the_pipeline_destroys_prod(self):
        for name, job in self.jobs.items():
            with self.subTest(job=name):
                self.assertFalse(any("destroy prod" in line for line in job["script"]), name)
                if _env_name(job) == "prod":
                    self.assertNotEqual(_env_action(job), "stop")

    def test_jobs_that_change_an_environment_hold_it_and_are_never_retried(self):
        for name, job in self.jobs.items():
            env = _env_name(job)
            if env is None:
                continue
            # Plans too: one taken while an earlier pipeline's apply runs would be stale.
            with self.subTest(job=name):
                self.assertEqual(job.get("resource_group"), f"azure-{env}")
        for name in ("mr-plan:dev", "mr-plan:staging", "mr-plan:prod"):
            with self.subTest(job=name):
                self.assertIsNone(self.jobs[name].get("resource_group"),
                                  "a read-only merge-request plan must not queue ahead of a deploy")
        changers = [n for n in self.jobs if n.split(":")[0] in ("apply", "deploy", "stop", "cleanup")]
        self.assertGreaterEqual(len(changers), 9, changers)
        for name in changers:
            job = self.jobs[name]
            with self.subTest(job=name):
                self.assertIs(job.get("interruptible"), False)
                self.assertIn(job.get("retry"), (0, {"max": 0}), "apply/deploy/destroy must not be retried automatically")

    def test_deploy_jobs_outlast_the_deploy_script_s_deadline(self):
        """ci/deploy.sh ends by its one deadline (plus 10 s for a cut-off command to stop); the
        job's timeout must leave time beyond that for the image and the artifacts."""
        with open(os.path.join(ROOT, "ci", "deploy.sh"), encoding="utf-8") as handle:
            script = handle.read()
        deadline = int(re.search(r'deadline_start "\$\{DEPLOY_SECONDS:-(\d+)\}"', script).group(1))
        deploys = [n for n in self.jobs if n.startswith("deploy:")]
        self.assertEqual(len(deploys), 3, deploys)
        for name in deploys:
            minutes = re.fullmatch(r"(\d+) minutes", str(self.jobs[name]["timeout"]))
            with self.subTest(job=name):
                self.assertIsNotNone(minutes, self.jobs[name]["timeout"])
                self.assertGreaterEqual(int(minutes.group(1)) * 60, deadline + 10 + 240,
                                        "at least 4 minutes for the job's set-up beyond the script's deadline")

    def test_merge_request_plans_are_read_only_and_cannot_be_applied(self):
        mr_plans = [n for n in self.jobs if n.startswith("mr-plan:")]
        self.assertEqual(sorted(mr_plans), ["mr-plan:dev", "mr-plan:prod", "mr-plan:staging"])
        for name in mr_plans:
            job = self.jobs[name]
            with self.subTest(job=name):
                self.assertTrue(job["script"][0].endswith("--read-only"), job["script"])
                self.assertIsNone(job.get("environment"))
                self.assertNotIn("paths", job.get("artifacts", {}), "an MR plan keeps no plan file")

    def test_apply_jobs_apply_the_plan_of_their_own_environment(self):
        for env in ENVIRONMENTS:
            needs = [n["job"] if isinstance(n, dict) else n for n in self.jobs[f"apply:{env}"]["needs"]]
            with self.subTest(env=env):
                self.assertIn(f"plan:{env}", needs)
                self.assertFalse([n for n in needs if n.startswith("plan:") and n != f"plan:{env}"])

    def _caches(self, name: str) -> list[dict]:
        cache = self.jobs[name].get("cache") or []
        return cache if isinstance(cache, list) else [cache]

    def test_every_cache_has_one_writer(self):
        """A job that pushes a cache it did not fill completely (the build jobs once pushed the
        tools cache without the Node tools) makes every later job reinstall."""
        writers: dict[str, list[str]] = {}
        for name in self.jobs:
            for cache in self._caches(name):
                if cache.get("policy", "pull-push") != "pull":
                    writers.setdefault(cache["key"]["prefix"], []).append(name)
        for prefix, jobs in writers.items():
            with self.subTest(cache=prefix):
                self.assertEqual(len(jobs), 1, f"{prefix} is written by {jobs}")
        self.assertEqual(writers.get("tools"), ["pipeline:lint"])
        self.assertEqual(writers.get("tools-build"), ["build:package"])

    def test_the_build_jobs_cache_only_the_build_tool_set(self):
        for name in ("build:package", "build:trainer"):
            caches = {cache["key"]["prefix"]: cache for cache in self._caches(name)}
            with self.subTest(job=name):
                self.assertNotIn("tools", caches, "the build jobs need neither the test tools nor Node")
                self.assertEqual(caches["tools-build"]["key"]["files"], ["ci/requirements-build.txt"])
                self.assertEqual(caches["tools-build"]["paths"], [".tools/venv/"])

    def test_nextest_is_pinned_and_doctests_run(self):
        with open(os.path.join(ROOT, "ci", "rust-test.sh"), encoding="utf-8") as handle:
            script = handle.read()
        self.assertRegex(script, r"\nNEXTEST_VERSION=\d+\.\d+\.\d+\n")
        self.assertIn('cargo install cargo-nextest --version "=$NEXTEST_VERSION" --locked', script)
        self.assertNotIn("get.nexte.st/latest", script)
        self.assertIn("cargo test --doc --workspace --locked", script)
        self.assertEqual(self.jobs["rust:test"]["script"], ["sh ci/rust-test.sh"])


if __name__ == "__main__":
    unittest.main()
