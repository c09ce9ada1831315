#!/bin/sh
# Local checks of the GitLab pipeline (.gitlab-ci.yml), run by `cargo xtask test`:
#   1. the file against GitLab's CI schema (check-jsonschema's vendor.gitlab-ci);
#   2. for each pipeline described in ci/pipeline-jobs/*.txt (a push to main, to develop, a
#      merge request, a schedule...): the jobs gitlab-ci-local lists for it, with their stage,
#      `when`, environment and `needs`, must be exactly those of the file, and every `needs`
#      must point at a job that is in that pipeline;
#   3. the rules of ci/tests/: every job's own timeout, environments named in scripts (never
#      through a variable), no automatic retry of what changes Azure, read-only MR plans, the
#      pinned nextest; and the job scripts themselves (ci/terraform.sh, ci/deploy.sh) run
#      against stand-in terraform and az commands;
#   4. the jobs that need no Azure and no container run through gitlab-ci-local on this
#      machine (shell executor): rust:fmt, functions:schema, and build:package, which builds
#      the zip, starts the zipped handler (ci/smoke-package.sh) and whose zip must have the
#      same layout (entry names and modes) as the one `cargo xtask package` writes.
#
# Usage: sh ci/check-pipeline.sh            all four: about a minute when the release build is
#                                           up to date (`cargo xtask test` builds it just
#                                           before); a cold target/ adds one release build of
#                                           the handler (about 6 min of CPU on 2 cores)
#        sh ci/check-pipeline.sh --static   1 to 3 (the pipeline's pipeline:lint job)
# FLUXOPS_CI_FILE names another pipeline file (relative to the repository root) to check, for
# trying a change or proving that a broken file fails.
#
# A job run by this script must never run the test command or this script again: the script
# refuses to start when FLUXOPS_PIPELINE_CHECK is set, and sets it for the jobs it runs.
# gitlab-ci-local works in place (state under .tools/gitlab-ci-local, which git ignores) and
# changes nothing in the repository's git configuration.
set -eu
cd "$(dirname "$0")/.."
ci_name=check-pipeline
. ci/lib.sh

if [ -n "${FLUXOPS_PIPELINE_CHECK:-}" ]; then
  die "started from inside a job that ci/check-pipeline.sh runs (FLUXOPS_PIPELINE_CHECK is set): jobs must not run \`cargo xtask test\` or this script"
fi
export FLUXOPS_PIPELINE_CHECK=1

mode=all
case "${1:-}" in
  "") ;;
  --static) mode=static ;;
  *) die "usage: sh ci/check-pipeline.sh [--static]" ;;
esac

started=$(date +%s)
sh ci/setup-tools.sh

ci_file=${FLUXOPS_CI_FILE:-.gitlab-ci.yml}
gcl=.tools/node/node_modules/.bin/gitlab-ci-local
state=.tools/gitlab-ci-local
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The pipelines below are told their branch and source on purpose.
export GCL_IGNORE_PREDEFINED_VARS=CI_COMMIT_BRANCH,CI_PIPELINE_SOURCE,CI_MERGE_REQUEST_TARGET_BRANCH_NAME

# gitlab-ci-local's own log (git remote probing, schema timing) goes to a file and is shown
# only when it fails.
gcl() {
  if ! "$gcl" --state-dir "$state" --file "$ci_file" --no-color "$@" 2>"$work/gcl.log"; then
    sed 's/^/  | /' "$work/gcl.log" >&2
    return 1
  fi
}

echo "check-pipeline: [1/4] $ci_file against GitLab's CI schema"
.tools/venv/bin/check-jsonschema --builtin-schema vendor.gitlab-ci "$ci_file" ||
  die "$ci_file does not follow GitLab's CI schema"

echo "check-pipeline: [2/4] jobs, stages and needs of each pipeline (ci/pipeline-jobs/)"
n_pipelines=0
for expected in ci/pipeline-jobs/*.txt; do
  name=$(basename "$expected" .txt)
  # The `# variables:` line: NAME=value sets a variable, -NAME unsets one.
  set --
  for setting in $(sed -n 's/^# variables://p' "$expected"); do
    case "$setting" in
      -*) set -- "$@" --unset-variable "${setting#-}" ;;
      *) set -- "$@" --variable "$setting" ;;
    esac
  done
  [ $# -gt 0 ] || die "$expected has no '# variables:' line"
  gcl --list-csv "$@" >"$work/$name.csv" || die "gitlab-ci-local cannot list the $name pipeline"
  grep -v '^#' "$expected" >"$work/$name.expected"
  if ! diff -u "$work/$name.expected" "$work/$name.csv" >"$work/$name.diff"; then
    sed 's/^/  /' "$work/$name.diff" >&2
    die "the $name pipeline differs from $expected (- expected, + listed). If the change is intended, update $expected"
  fi
  # Every needed job must be in the same pipeline (GitLab refuses the pipeline otherwise;
  # gitlab-ci-local 4.73's --validate-dependency-chain cannot be told about manual jobs).
  awk -F';' 'NR > 1 { in_pipeline[$1] = 1; needs[$1] = $6 }
    END {
      for (job in needs) {
        list = needs[job]; gsub(/[][]/, "", list)
        n = split(list, needed, ",")
        for (i = 1; i <= n; i++) if (!(needed[i] in in_pipeline)) {
          printf "  %s needs %s, which is not in this pipeline\n", job, needed[i]; bad = 1
        }
      }
      exit bad
    }' "$work/$name.csv" >&2 || die "the $name pipeline has a needs: edge to a job that is not in it"
  n_jobs=$(($(wc -l <"$work/$name.csv") - 1))
  echo "check-pipeline:   $name: $n_jobs jobs as expected"
  n_pipelines=$((n_pipelines + 1))
done
[ "$n_pipelines" -gt 0 ] || die "no pipeline descriptions in ci/pipeline-jobs/"

echo "check-pipeline: [3/4] pipeline rules and job scripts (ci/tests/)"
# Every extends: and anchor resolved, as GitLab would read the file.
gcl --preview >"$work/preview.yml" || die "gitlab-ci-local cannot resolve $ci_file"
need jq
FLUXOPS_PIPELINE_PREVIEW="$work/preview.yml" .tools/venv/bin/python -m unittest discover \
  --start-directory ci/tests --pattern 'test_*.py' >"$work/rules.log" 2>&1 || {
  sed 's/^/  /' "$work/rules.log" >&2
  die "the pipeline rules or job script tests failed (ci/tests/)"
}
echo "check-pipeline:   $(tail -n 3 "$work/rules.log" | grep -E '^(OK|FAILED)' || echo ok) ($(grep -Eo 'Ran [0-9]+ tests' "$work/rules.log"))"

if [ "$mode" = static ]; then
  echo "check-pipeline: static checks passed ($n_pipelines pipelines) in $(($(date +%s) - started)) s"
  exit 0
fi

echo "check-pipeline: [4/4] jobs that run here, through gitlab-ci-local's shell executor"
# gitlab-ci-local copies the tracked files with rsync before it runs a job.
need rsync
# The jobs' own settings are for GitLab's runners: here, the developer's Cargo home (the
# pipeline keeps one in the project directory for its cache).
set -- --force-shell-executor --variable "CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}" --variable CARGO_TERM_COLOR=never \
  --variable FLUXOPS_PIPELINE_CHECK=1

for job in rust:fmt functions:schema; do
  echo "check-pipeline:   $job"
  gcl "$@" "$job" >"$work/job.log" || {
    sed 's/^/  /' "$work/job.log" >&2
    die "the $job job failed"
  }
done

echo "check-pipeline:   cargo xtask package (the local package command)"
zip=dist/fluxops-functions.zip
rm -f "$zip"
cargo xtask package >"$work/package.log" 2>&1 || {
  tail -n 40 "$work/package.log" >&2
  die "cargo xtask package failed"
}
[ -f "$zip" ] || die "cargo xtask package did not write $zip"
sh ci/zip-layout.sh "$zip" >"$work/layout.local"

echo "check-pipeline:   build:package (the pipeline's job)"
rm -f "$zip"
gcl "$@" build:package >"$work/build-package.log" || {
  tail -n 40 "$work/build-package.log" >&2
  die "the build:package job failed"
}
[ -f "$zip" ] || die "the build:package job did not write $zip"
sh ci/zip-layout.sh "$zip" >"$work/layout.job"
if ! diff -u "$work/layout.local" "$work/layout.job" >&2; then
  die "the build:package zip's layout differs from cargo xtask package's (- local, + job)"
fi
for entry in host.json handler health/function.json predict/function.json model-info/function.json openapi/function.json; do
  grep -q " $entry\$" "$work/layout.job" || die "$zip has no $entry"
done
grep -q '^-rwx..x..x handler$' "$work/layout.job" || die "handler is not executable (mode 0755) in $zip"
echo "check-pipeline:   $zip: $(wc -l <"$work/layout.job" | tr -d ' ') entries, same layout both ways"

cat "$work/build-package.log" "$work/gcl.log" | grep -q 'smoke-package: ok: stopped cleanly' ||
  die "the build:package job did not smoke-test the zipped handler"
echo "check-pipeline: all checks passed ($n_pipelines pipelines, 3 jobs run) in $(($(date +%s) - started)) s"
