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
/// `FLUXOPS_TEST_HANDLER`, then a short `scripts/bench-http.sh` load run, the contract runs of
/// schemathesis for `/api` and the Open Inference Protocol ([`contract`]) and the smoke test of
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
    contract(root, Path::new(handler), Path::new(models))?;
    run_command_with_env(
        root,
        "sh",
        &["ci/smoke-package.sh", package::ZIP_PATH],
        &[("SMOKE_MODELS", models)],
    )
}

/// The variable that points the handler's process tests at another executable.
const HANDLER_UNDER_TEST: &str = "FLUXOPS_TEST_HANDLER";

/// schemathesis, from the test tools' venv (`ci/requirements.txt`).
const SCHEMATHESIS: &str = ".tools/venv/bin/schemathesis";
/// Its settings for the `/api` contract: examples per operation, the expected refusals.
const SCHEMATHESIS_CONFIG: &str = "crates/fluxops-handler/tests/contract/schemathesis.toml";
/// Its settings for the Open Inference Protocol contract: examples per operation, the served
/// model's name and version, the one check left out and why.
const SCHEMATHESIS_V2_CONFIG: &str = "crates/fluxops-handler/tests/contract/schemathesis-v2.toml";
/// The Open Inference Protocol's own OpenAPI document, as published.
const OPEN_INFERENCE_SPEC: &str =
    "crates/fluxops-handler/tests/open-inference/open_inference_rest.yaml";
/// The model the handler serves by default (`FLUXOPS_MODEL_NAME`), as the V2 settings name it.
const MODEL_NAME: &str = "fluxops";
/// One seed, so that every run tries the same requests.
const CONTRACT_SEED: &str = "42";

/// The published contracts, checked by a third party: schemathesis against the release
/// `handler` serving the registry `models` over a real socket, with a fixed seed and a bounded
/// number of examples (seconds each), once with the `/api` document the handler generates (every
/// check) and once with the Open Inference Protocol's own document (see its settings for the one
/// check left out on infer). Both must find nothing; their summaries are part of the test output.
fn contract(root: &Path, handler: &Path, models: &Path) -> anyhow::Result<()> {
    let port = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .context("cannot find a free port")?
        .port();
    let mut served = std::process::Command::new(handler)
        .env_clear()
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env("FLUXOPS_MODEL_SOURCE", models)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", handler.display()))?;
    let base = format!("http://127.0.0.1:{port}");
    let checked = wait_until_healthy(port)
        .and_then(|()| {
            run_command(
                root,
                SCHEMATHESIS,
                &[
                    "--config-file",
                    SCHEMATHESIS_CONFIG,
                    "--no-color",
                    "run",
                    &format!("{base}/api/openapi.json"),
                    "--checks",
                    "all",
                    "--seed",
                    CONTRACT_SEED,
                ],
            )
        })
        .and_then(|()| served_version(port))
        .and_then(|version| {
            run_command_with_env(
                root,
                SCHEMATHESIS,
                &[
                    "--config-file",
                    SCHEMATHESIS_V2_CONFIG,
                    "--no-color",
                    "run",
                    OPEN_INFERENCE_SPEC,
                    "--url",
                    &base,
                    "--seed",
                    CONTRACT_SEED,
                ],
                &[("FLUXOPS_SERVED_VERSION", &version)],
            )
        });
    // Ours to stop: the handler started above, by its own handle.
    let _ = served.kill();
    let _ = served.wait();
    checked
}

/// `GET path` from the handler on `port`: the answer's status and body.
fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect((std::net::Ipv4Addr::LOCALHOST, port))?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(2)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let malformed = || std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP answer");
    let (head, body) = answer.split_once("\r\n\r\n").ok_or_else(malformed)?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(malformed)?;
    Ok((status, body.to_owned()))
}

/// Waits up to 20 s until the handler on `port` answers `GET /api/health` with 200.
fn wait_until_healthy(port: u16) -> anyhow::Result<()> {
    for _ in 0..400 {
        if http_get(port, "/api/health").is_ok_and(|(status, _)| status == 200) {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    anyhow::bail!("the handler on port {port} did not become healthy within 20 s")
}

/// The model version the handler on `port` serves, as its V2 model metadata says.
fn served_version(port: u16) -> anyhow::Result<String> {
    let path = format!("/v2/models/{MODEL_NAME}");
    let (status, body) =
        http_get(port, &path).with_context(|| format!("cannot GET {path} from the handler"))?;
    anyhow::ensure!(status == 200, "GET {path} answered {status}: {body}");
    let metadata: serde_json::Value =
        serde_json::from_str(&body).with_context(|| format!("GET {path} is not JSON: {body}"))?;
    metadata["versions"][0]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("GET {path} names no version: {body}"))
}
