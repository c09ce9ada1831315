//! A real Open Inference Protocol client against the handler over a real socket:
//! `tests/tritonclient_check.py` drives `tritonclient[http]` (from the test tools' venv, installed
//! by `sh ci/tools.sh`) and validates every answer against the protocol's own OpenAPI document.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use fluxops_inference::ModelArtifact;

use crate::helpers::{
    MODEL, regression_stumps, spawn_app_with, string_stumps, stumps, test_config,
};

/// The venv's Python, with tritonclient, jsonschema and numpy.
fn tools_python() -> PathBuf {
    let python = fluxops_azurite::workspace_root().join(".tools/venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `sh ci/tools.sh` once (it installs tritonclient and jsonschema)",
        python.display()
    );
    python
}

/// Runs the check against a handler serving `model` (as version `v1`).
async fn check_against(model: ModelArtifact) {
    let app = spawn_app_with(test_config(), Some(model)).await;
    app.wait_for_version("v1").await;
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let check = Command::new(tools_python())
        .arg(tests.join("tritonclient_check.py"))
        .arg(format!("127.0.0.1:{}", app.port))
        .arg(MODEL)
        .arg(tests.join("open-inference/open_inference_rest.yaml"))
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(180), check)
        .await
        .expect("the check finishes within 3 minutes")
        .expect("the check runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the tritonclient check failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    // The summary, for the test output (`--nocapture`).
    println!("{}", stdout.lines().last().unwrap_or_default());
    app.stop().await;
}

#[tokio::test]
async fn tritonclient_gets_the_answers_of_api_predict_in_the_protocols_shapes() {
    check_against(stumps([0, 1])).await;
}

#[tokio::test]
async fn tritonclient_gets_string_labels_as_bytes() {
    check_against(string_stumps(["cold", "warm"])).await;
}

#[tokio::test]
async fn tritonclient_gets_a_regressors_values() {
    check_against(regression_stumps(2.5, 10.0)).await;
}
