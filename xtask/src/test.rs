//! `cargo xtask test`: the README's test command and the body of `.ci/run`.
//!
//! [`STEPS`] is the whole command, cheapest first; it stops at the first failure. To add a
//! check, add a step (a name and a function of [`Context`]) where its cost places it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;

use crate::package;
use crate::{run_command, run_command_with_env};

use fluxops_azurite as azurite;

/// What every step gets: the repository root.
pub struct Context {
    root: PathBuf,
}

impl Context {
    /// `sh <args>` in the repository root: the pipeline's own job scripts.
    fn sh(&self, args: &[&str]) -> anyhow::Result<()> {
        run_command(&self.root, "sh", args)
    }
}

/// One check of the test command.
struct Step {
    name: &'static str,
    run: fn(&Context) -> anyhow::Result<()>,
}

/// The test command, in order. The formatting, lint, Terraform and pipeline steps are the
/// scripts the pipeline's jobs run, so the two cannot drift.
const STEPS: &[Step] = &[
    Step {
        name: "tools",
        run: |cx| cx.sh(&["ci/setup-tools.sh"]),
    },
    Step {
        name: "fmt",
        run: |cx| cx.sh(&["ci/rust-check.sh", "fmt"]),
    },
    Step {
        name: "clippy",
        run: |cx| cx.sh(&["ci/rust-check.sh", "clippy"]),
    },
    Step {
        name: "terraform",
        run: |cx| cx.sh(&["ci/check-terraform.sh"]),
    },
    Step {
        name: "workspace tests",
        run: workspace_tests,
    },
    Step {
        name: "package",
        run: |cx| package::run(&cx.root),
    },
    Step {
        name: "shipped handler",
        run: shipped_handler,
    },
    Step {
        name: "pipeline",
        run: |cx| cx.sh(&["ci/check-pipeline.sh"]),
    },
];

/// Runs every step, stopping at the first failure, and says how long each took.
pub fn run(root: &Path) -> anyhow::Result<()> {
    let cx = Context {
        root: root.to_path_buf(),
    };
    let started = Instant::now();
    let mut timings = Vec::new();
    for step in STEPS {
        eprintln!("xtask: == {}", step.name);
        let step_started = Instant::now();
        (step.run)(&cx).with_context(|| format!("step `{}` failed", step.name))?;
        timings.push(format!(
            "{} {:.0} s",
            step.name,
            step_started.elapsed().as_secs_f64()
        ));
    }
    eprintln!(
        "xtask: all checks passed in {:.0} s ({})",
        started.elapsed().as_secs_f64(),
        timings.join(", ")
    );
    Ok(())
}

/// `cargo test --workspace` (unit, integration and doc tests); the Blob Storage tests talk to
/// a real Azurite, started here and stopped even on failure.
fn workspace_tests(cx: &Context) -> anyhow::Result<()> {
    let azurite = azurite::Azurite::start(&cx.root, &[])
        .context("cannot start Azurite for the Blob Storage tests")?;
    let tested = run_command_with_env(
        &cx.root,
        "cargo",
        &["test", "--workspace"],
        &[(azurite::AZURITE_ENV, azurite.blob_endpoint())],
    );
    drop(azurite);
    tested
}

/// The binary inside the zip that ships, not the one cargo built for the tests: the handler's
/// process tests (start-up, shutdown, concurrent load) run against it through
/// `FLUXOPS_TEST_HANDLER`, then a short `scripts/bench-http.sh` load run and the smoke test of
/// `ci/smoke-package.sh` (the build job's) with a trained model.
fn shipped_handler(cx: &Context) -> anyhow::Result<()> {
    let root = &cx.root;
    let work = package::target_dir(root).join("xtask/shipped");
    let handler = package::extract_handler(&root.join(package::ZIP_PATH), &work.join("bin"))?;
    let handler = handler
        .to_str()
        .context("the handler's path is not UTF-8")?;
    // `--workspace`, as in `workspace_tests`: the same features, so nothing is built again
    // (`-p fluxops-handler` would resolve the features of that package alone).
    run_command_with_env(
        root,
        "cargo",
        &["test", "--workspace", "--test", "api", "process::"],
        &[(HANDLER_UNDER_TEST, handler)],
    )?;
    let models = work.join("models");
    let models = models
        .to_str()
        .context("the registry's path is not UTF-8")?;
    let trainer = package::target_dir(root).join("debug/fluxops-train");
    let trainer = trainer
        .to_str()
        .context("the trainer's path is not UTF-8")?;
    run_command_with_env(
        root,
        "bash",
        &["scripts/bench-http.sh"],
        &[
            ("BENCH_HANDLER", handler),
            ("BENCH_TRAINER", trainer),
            ("BENCH_MODELS", models),
            ("BENCH_SECONDS", "3"),
            ("BENCH_COLD_RUNS", "3"),
        ],
    )?;
    run_command_with_env(
        root,
        "sh",
        &["ci/smoke-package.sh", package::ZIP_PATH],
        &[("SMOKE_MODELS", models)],
    )
}

/// The variable that points the handler's process tests at another executable.
const HANDLER_UNDER_TEST: &str = "FLUXOPS_TEST_HANDLER";
