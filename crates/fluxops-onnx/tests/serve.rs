//! Import -> registry -> handler -> `/api/predict`: every fixture is imported by the real
//! `fluxops-import` into a registry folder, the real `handler` binary serves it on a free port,
//! and its answers to `features` and `instances` requests must be onnxruntime's recorded ones
//! (identical labels, probabilities and values within 1e-5). Rows with a missing value are left
//! out: JSON cannot carry NaN.
//!
//! The handler is the file named by `FLUXOPS_TEST_HANDLER` (as for the handler's own process
//! tests), or cargo's build of it, made with the features `cargo test --workspace` uses so that
//! nothing is built twice.

mod support;

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Value, json};
use support::{Expected, Record, TOLERANCE, manifest};
use tokio::process::{Child, Command};

/// Whether the handler answers for regressors (`{"prediction": <number>}`) and for string labels
/// (`prediction` the label, probabilities keyed `class_<label>`). Today's handler serves
/// classifiers with integer labels only; set this to `true` once the handler's response shapes
/// for the other tasks are merged, and the regressor and string-label fixtures are served too.
const HANDLER_SERVES_REGRESSORS_AND_STRING_LABELS: bool = true;

/// What a fixture's model is, as far as the HTTP API is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    IntegerLabels,
    StringLabels,
    Regressor,
    /// More than one value per row, which `/api/predict`'s one `prediction` cannot carry.
    MultiTargetRegressor,
}

fn kind(record: &Record) -> Kind {
    match (&record.labels, &record.values) {
        (Some(labels), _) if labels.iter().all(Value::is_i64) => Kind::IntegerLabels,
        (Some(_), _) => Kind::StringLabels,
        (None, Some(values)) if values[0].len() == 1 => Kind::Regressor,
        _ => Kind::MultiTargetRegressor,
    }
}

/// The handler executable: `FLUXOPS_TEST_HANDLER`, or built by cargo once per test run.
fn handler_binary() -> &'static Path {
    static HANDLER: OnceLock<PathBuf> = OnceLock::new();
    HANDLER.get_or_init(|| {
        if let Some(path) = std::env::var_os("FLUXOPS_TEST_HANDLER").filter(|p| !p.is_empty()) {
            return PathBuf::from(path);
        }
        // This test runs from <target>/<profile>/deps; cargo puts the handler in <profile>.
        let test = std::env::current_exe().expect("the test's path");
        let profile_dir = test
            .parent()
            .and_then(Path::parent)
            .expect("a test binary under <target>/<profile>/deps");
        let profile = match profile_dir.file_name().and_then(|name| name.to_str()) {
            Some("debug") | None => Vec::new(),
            Some(other) => vec!["--profile", other],
        };
        // Building the handler's own tests builds the handler with the same features as
        // `cargo test --workspace` did, so after that this is a no-op.
        let output = std::process::Command::new(env!("CARGO"))
            .args(["test", "--workspace", "--test", "api", "--no-run"])
            .args(profile)
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
            .output()
            .expect("run cargo");
        assert!(
            output.status.success(),
            "cannot build the handler:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        profile_dir.join(format!("handler{}", std::env::consts::EXE_SUFFIX))
    })
}

/// Imports fixture `name` with the real importer into a new registry folder.
fn import(name: &str) -> tempfile::TempDir {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let model = support::fixtures().join(format!("{name}.onnx"));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_fluxops-import"))
        .arg(&model)
        .args(["--name", name, "--out"])
        .arg(folder.path())
        .output()
        .expect("run fluxops-import");
    assert!(
        output.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    folder
}

/// The handler serving model `name` from `registry`, on a free port, once it has loaded it.
async fn serve(registry: &Path, name: &str, client: &reqwest::Client) -> (Child, SocketAddr) {
    for _ in 0..3 {
        let address = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|listener| listener.local_addr())
            .expect("a free port");
        let console = || {
            if std::env::var_os("TEST_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            }
        };
        let mut child = Command::new(handler_binary())
            .env_clear()
            .env("FUNCTIONS_CUSTOMHANDLER_PORT", address.port().to_string())
            .env("FLUXOPS_MODEL_SOURCE", registry)
            .env("FLUXOPS_MODEL_NAME", name)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(console())
            .stderr(console())
            .kill_on_drop(true)
            .spawn()
            .expect("start the handler");
        // Up in 20 s at most, serving the model (a port taken in between makes it exit).
        for _ in 0..2000 {
            if child.try_wait().expect("the handler's status").is_some() {
                break;
            }
            if let Ok(response) = client
                .get(format!("http://{address}/api/health"))
                .send()
                .await
                && response.status() == 200
            {
                return (child, address);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    panic!("{name}: the handler did not serve the model");
}

/// The labels of the imported model, in class order, as JSON values.
fn labels(registry: &Path, name: &str) -> Vec<Value> {
    let pointer: Value =
        serde_json::from_slice(&std::fs::read(registry.join(name).join("latest.json")).unwrap())
            .unwrap();
    let path = registry.join(pointer["path"].as_str().expect("a path"));
    let artifact: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let labels = &artifact["schema"]["task"]["classifier"]["labels"];
    labels["integers"]
        .as_array()
        .or_else(|| labels["strings"].as_array())
        .cloned()
        .unwrap_or_default()
}

/// The key of a class's probability: `class_<label>`.
fn key(label: &Value) -> String {
    match label {
        Value::String(label) => format!("class_{label}"),
        other => format!("class_{other}"),
    }
}

/// Checks one answer (a `features` response, or an element of `predictions`) against
/// onnxruntime's.
#[track_caller]
fn check_answer(what: &str, answer: &Value, expected: Expected<'_>, labels: &[Value]) {
    let close = |got: Option<f64>, expected: f64| {
        got.is_some_and(|got| (got - expected).abs() <= TOLERANCE)
    };
    match expected {
        Expected::Class {
            label,
            probabilities,
        } => {
            assert_eq!(&answer["prediction"], label, "{what}: {answer}");
            for (class, probability) in labels.iter().zip(probabilities) {
                assert!(
                    close(answer["probability"][key(class)].as_f64(), *probability),
                    "{what}: {answer}, onnxruntime {probabilities:?}"
                );
            }
            let predicted = labels.iter().position(|class| class == label).unwrap();
            assert!(
                close(answer["confidence"].as_f64(), probabilities[predicted]),
                "{what}: {answer}"
            );
        }
        Expected::Values(values) => {
            let prediction = answer.get("prediction").unwrap_or(answer);
            assert!(
                close(prediction.as_f64(), values[0]),
                "{what}: {answer}, onnxruntime {values:?}"
            );
        }
    }
}

/// Serves fixture `name` and compares every finite row, alone and as one batch.
async fn check_fixture(name: &str, client: &reqwest::Client) -> usize {
    let record = Record::read(name);
    let registry = import(name);
    let labels = labels(registry.path(), name);
    let (_handler, address) = serve(registry.path(), name, client).await;
    let predict = |body: Value| {
        let request = client
            .post(format!("http://{address}/api/predict"))
            .json(&body);
        async move {
            let response = request.send().await.expect("the handler answers");
            let status = response.status();
            let answer: Value = response.json().await.expect("a JSON answer");
            assert_eq!(status, 200, "{name}: {answer}");
            answer
        }
    };
    let rows: Vec<usize> = (0..record.inputs.len())
        .filter(|&row| record.inputs[row].iter().all(Option::is_some))
        .collect();
    for &row in &rows {
        let answer = predict(json!({ "features": record.row(row) })).await;
        check_answer(
            &format!("{name} row {row}"),
            &answer,
            record.expected(row),
            &labels,
        );
    }
    let instances: Vec<Vec<f64>> = rows.iter().map(|&row| record.row(row)).collect();
    let answer = predict(json!({ "instances": instances })).await;
    let predictions = answer["predictions"].as_array().expect("predictions");
    assert_eq!(predictions.len(), rows.len(), "{name}");
    for (answer, &row) in predictions.iter().zip(&rows) {
        check_answer(
            &format!("{name} batch row {row}"),
            answer,
            record.expected(row),
            &labels,
        );
    }
    rows.len()
}

/// Checks every fixture of the given kinds; returns how many rows were compared.
async fn check_fixtures(kinds: &[Kind]) -> usize {
    let client = reqwest::Client::new();
    let mut n_rows = 0;
    for entry in manifest().fixtures {
        if kinds.contains(&kind(&Record::read(&entry.name))) {
            let rows = check_fixture(&entry.name, &client).await;
            eprintln!("{}: {rows} rows served as onnxruntime answers", entry.name);
            n_rows += rows;
        }
    }
    n_rows
}

#[tokio::test]
async fn classifiers_with_integer_labels_answer_as_onnxruntime() {
    let n_rows = check_fixtures(&[Kind::IntegerLabels]).await;
    assert!(n_rows > 1000, "only {n_rows} rows compared");
}

#[tokio::test]
async fn regressors_and_string_labels_answer_as_onnxruntime() {
    if !HANDLER_SERVES_REGRESSORS_AND_STRING_LABELS {
        eprintln!(
            "skipped until the handler serves regressors and string labels: \
             set HANDLER_SERVES_REGRESSORS_AND_STRING_LABELS in {}",
            file!()
        );
        return;
    }
    let n_rows = check_fixtures(&[Kind::StringLabels, Kind::Regressor]).await;
    assert!(n_rows > 500, "only {n_rows} rows compared");
}
