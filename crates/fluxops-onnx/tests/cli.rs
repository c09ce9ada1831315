//! `fluxops-import` end to end, the real binary: a folder registry, `--publish` to another
//! folder and to Azurite, the check data, and refusals that exit 1 and write nothing.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use fluxops_inference::{ClassLabels, DEFAULT_MAX_MODEL_BYTES, Model, ModelLimits, Origin, Task};
use fluxops_store::{AccountKey, BlobAuth, BlobSettings, BlobStore, ByteLimit, Registry};
use serde_json::Value;
use support::{Record, fixtures, manifest};

fn import(args: &[&str], envs: &[(&str, String)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fluxops-import"))
        .args(args)
        .env_remove("AZURE_STORAGE_CONNECTION_STRING")
        .envs(envs.iter().map(|(name, value)| (*name, value.as_str())))
        .output()
        .expect("run fluxops-import")
}

fn fixture(name: &str) -> String {
    fixtures()
        .join(format!("{name}.onnx"))
        .to_string_lossy()
        .into_owned()
}

fn path(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

#[track_caller]
fn assert_success(run: &Output) -> String {
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        run.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&run.stderr)
    );
    stdout
}

/// Runs a refused import: exit status 1, the message on stderr, nothing written.
#[track_caller]
fn assert_refused(run: &Output, out: &Path, expected: &str) {
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("fluxops-import: error: "), "{stderr}");
    assert!(stderr.contains(expected), "{stderr}");
    assert!(!out.exists(), "{} was written", out.display());
}

/// The registry folder's current model: its version, artifact and metrics.
fn latest(registry: &Path, name: &str) -> (String, Model, Value) {
    let pointer: Value = serde_json::from_slice(
        &std::fs::read(registry.join(name).join("latest.json")).expect("latest.json"),
    )
    .expect("the pointer parses");
    let version = pointer["version"].as_str().expect("a version").to_owned();
    let folder = registry.join(name).join(&version);
    let model = Model::from_json(
        &std::fs::read(folder.join("model.json")).expect("model.json"),
        &ModelLimits::default(),
    )
    .expect("the artifact loads as the handler loads it");
    let metrics = serde_json::from_slice(&std::fs::read(folder.join("metrics.json")).unwrap())
        .expect("metrics.json parses");
    (version, model, metrics)
}

#[test]
fn imports_into_a_folder_registry_with_provenance_and_the_check() {
    let folder = tempfile::tempdir().unwrap();
    let out = folder.path().join("models");
    let published = folder.path().join("elsewhere");
    let stdout = assert_success(&import(
        &[
            &fixture("rf_multiclass"),
            "--name",
            "forest",
            "--out",
            path(&out),
            "--publish",
            path(&published),
        ],
        &[],
    ));
    let (version, model, metrics) = latest(&out, "forest");
    assert!(
        stdout.contains(&format!("forest/{version}/model.json")),
        "{stdout}"
    );
    assert!(stdout.contains("labels identical"), "{stdout}");
    assert!(stdout.contains("published"), "{stdout}");
    // The trainer's version form: a UTC time stamp and the ensemble digest's first 8 digits.
    assert_eq!(
        &version[16..],
        format!("-{}", &model.ensemble_sha256()[..8]),
        "{version}"
    );
    assert_eq!(
        model.schema().task,
        Task::Classifier {
            labels: ClassLabels::Integers(vec![-3, 5, 12])
        }
    );
    assert_eq!(model.schema().feature_names[0], "feature_0");
    let Origin::Imported {
        file_format,
        file_sha256,
        framework,
        converter,
        output_names,
        ..
    } = &model.metadata().origin
    else {
        panic!("an imported model");
    };
    let file = std::fs::read(fixture("rf_multiclass")).unwrap();
    assert_eq!(file_sha256, &fluxops_store::sha256_hex(&file));
    assert_eq!(
        (
            file_format.as_str(),
            framework.as_deref(),
            converter.as_str()
        ),
        ("onnx", Some("scikit-learn"), "skl2onnx 1.20.0")
    );
    assert_eq!(output_names, &["label", "probabilities"]);
    assert_eq!(metrics["version"], version);
    assert_eq!(metrics["import"]["file_sha256"], file_sha256.as_str());
    assert_eq!(metrics["agreement"]["labels_identical"], true);
    assert_eq!(metrics["agreement"]["rows_from_check_data"], 0);
    assert!(metrics["agreement"]["synthetic_rows"].as_u64() > Some(1000));
    // The same version went to the other registry.
    assert_eq!(latest(&published, "forest").0, version);
}

#[test]
fn check_data_rows_are_checked_and_their_header_names_the_features() {
    let folder = tempfile::tempdir().unwrap();
    let record = Record::read("lgbm_binary");
    let names = ["a", "b", "c", "d", "e", "f"];
    let mut csv = format!("{}\n", names.join(","));
    for row in &record.inputs {
        let cells: Vec<String> = row
            .iter()
            .map(|value| value.map(|v| v.to_string()).unwrap_or_default())
            .collect();
        csv.push_str(&cells.join(","));
        csv.push('\n');
    }
    let check = folder.path().join("rows.csv");
    std::fs::write(&check, csv).unwrap();
    let out = folder.path().join("models");
    assert_success(&import(
        &[
            &fixture("lgbm_binary"),
            "--out",
            path(&out),
            "--check-data",
            path(&check),
        ],
        &[],
    ));
    let (_, model, metrics) = latest(&out, "fluxops");
    assert_eq!(model.schema().feature_names, names);
    assert_eq!(
        metrics["agreement"]["rows_from_check_data"],
        record.inputs.len()
    );
    let missing = record
        .inputs
        .iter()
        .filter(|row| row.iter().any(Option::is_none))
        .count();
    assert!(metrics["agreement"]["rows_with_missing_values"].as_u64() >= Some(missing as u64));

    // --feature-names that contradict the header stop the import.
    let other = folder.path().join("other");
    let run = import(
        &[
            &fixture("lgbm_binary"),
            "--out",
            path(&other),
            "--check-data",
            path(&check),
            "--feature-names",
            "u,v,w,x,y,z",
        ],
        &[],
    );
    assert_refused(&run, &other, "--feature-names says u,v,w,x,y,z");
}

#[test]
fn refused_models_exit_1_and_write_nothing() {
    let folder = tempfile::tempdir().unwrap();
    let out = folder.path().join("models");
    for entry in manifest().refused {
        let model = fixtures().join(format!("refused/{}.onnx", entry.name));
        let run = import(&[path(&model), "--out", path(&out)], &[]);
        assert_refused(&run, &out, &entry.message);
    }
}

#[test]
fn bad_input_exits_1_with_what_to_do_and_writes_nothing() {
    let folder = tempfile::tempdir().unwrap();
    let out = folder.path().join("models");
    let forest = fixture("rf_binary");

    let run = import(
        &[&forest, "--out", path(&out), "--feature-names", "a,b"],
        &[],
    );
    assert_refused(&run, &out, "2 feature names for a model of 6 features");

    let run = import(&[&forest, "--out", path(&out), "--name", "../up"], &[]);
    assert_refused(&run, &out, "--name \"../up\" must be");

    let missing = folder.path().join("missing.onnx");
    let run = import(&[path(&missing), "--out", path(&out)], &[]);
    assert_refused(&run, &out, "missing.onnx");

    let not_onnx = folder.path().join("model.onnx");
    std::fs::write(&not_onnx, b"{\"format_version\": 2}").unwrap();
    let run = import(&[path(&not_onnx), "--out", path(&out)], &[]);
    assert_refused(&run, &out, "not a readable ONNX model");

    // A file over the cap is refused before it is read (this one is sparse).
    let huge = folder.path().join("huge.onnx");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(fluxops_onnx::MAX_ONNX_BYTES as u64 + 1)
        .unwrap();
    let run = import(&[path(&huge), "--out", path(&out)], &[]);
    assert_refused(&run, &out, "export fewer or shallower trees");

    let check = folder.path().join("rows.csv");
    std::fs::write(&check, "1,2,3\n").unwrap();
    let run = import(
        &[&forest, "--out", path(&out), "--check-data", path(&check)],
        &[],
    );
    assert_refused(
        &run,
        &out,
        "data row 1 has 3 values; the model reads 6 features",
    );
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    let folder = tempfile::tempdir().unwrap();
    let out = folder.path().join("models");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fluxops-import"))
        .args([&fixture("rf_binary"), "--out", path(&out)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before the report is written, as `| head -0` would.
    drop(child.stdout.take());
    let run = child.wait_with_output().unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(out.join("fluxops/latest.json").exists());
}

#[test]
fn publishes_to_azurite_signed_in_as_the_trainer_is() {
    let endpoint = fluxops_azurite::test_blob_endpoint();
    let folder = tempfile::tempdir().unwrap();
    let out = folder.path().join("models");
    let stdout = assert_success(&import(
        &[
            &fixture("gb_multiclass"),
            "--name",
            "boosted",
            "--out",
            path(&out),
            "--publish",
            "azurite",
        ],
        &[(
            "AZURE_STORAGE_CONNECTION_STRING",
            fluxops_azurite::connection_string(endpoint),
        )],
    ));
    assert!(stdout.contains("published"), "{stdout}");
    let (version, _, _) = latest(&out, "boosted");
    let container = fluxops_azurite::container_url(endpoint, fluxops_store::AZURITE_CONTAINER);
    let store = BlobStore::new(
        BlobSettings::new(&container, BlobAuth::SharedKey(AccountKey::development())).unwrap(),
    )
    .unwrap();
    let registry = Registry::new(std::sync::Arc::new(store));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let pointer = runtime
        .block_on(registry.latest("boosted"))
        .unwrap()
        .expect("published")
        .pointer;
    assert_eq!(pointer.version, version);
    // What the handler would read it with by default.
    let limit = ByteLimit::new(DEFAULT_MAX_MODEL_BYTES as u64, "FLUXOPS_MAX_MODEL_BYTES");
    let bytes = runtime
        .block_on(registry.fetch_within("boosted", &pointer, limit))
        .unwrap();
    assert_eq!(
        bytes,
        std::fs::read(out.join(format!("boosted/{version}/model.json"))).unwrap()
    );
}
