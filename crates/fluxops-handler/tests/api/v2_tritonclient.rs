//! A real Open Inference Protocol client against the handler over a real socket:
//! `tests/tritonclient_check.py` drives `tritonclient[http]` (from the test tools' venv, installed
//! by `sh ci/tools.sh`) and validates every answer against the protocol's own OpenAPI document.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::helpers::{MODEL, spawn_app};

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

#[tokio::test]
async fn tritonclient_gets_the_answers_of_api_predict_in_the_protocols_shapes() {
    let app = spawn_app().await;
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
