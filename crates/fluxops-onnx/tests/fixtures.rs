//! Every fixture of `scripts/make-onnx-fixtures.py`, read by the importer and evaluated on every
//! recorded row: labels must be onnxruntime's and scores or values within 1e-5 of its own.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use fluxops_onnx::{ClassLabels, Ensemble, NumberType, ReferenceOutput, Task};
use serde::Deserialize;
use serde_json::Value;

const TOLERANCE: f64 = 1e-5;
const MAX_BYTES: usize = 16 << 20;

#[derive(Deserialize)]
struct Manifest {
    versions: serde_json::Map<String, Value>,
    fixtures: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    name: String,
    producer: String,
    operator: String,
    ml_opset: i64,
    rows: usize,
}

#[derive(Deserialize)]
struct Record {
    model: String,
    inputs: Vec<Vec<Option<f64>>>,
    labels: Option<Vec<Value>>,
    probabilities: Option<Vec<Vec<f64>>>,
    values: Option<Vec<Vec<f64>>>,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn manifest() -> Manifest {
    let text = std::fs::read_to_string(fixtures().join("manifest.json")).expect("manifest.json");
    serde_json::from_str(&text).expect("manifest.json parses")
}

fn read(name: &str) -> (Ensemble, Record) {
    let record: Record = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join(format!("{name}.json"))).expect("record"),
    )
    .expect("record parses");
    let bytes = std::fs::read(fixtures().join(&record.model)).expect("model");
    let ensemble =
        Ensemble::from_onnx(&bytes, MAX_BYTES).unwrap_or_else(|error| panic!("{name}: {error}"));
    (ensemble, record)
}

fn label_matches(labels: &ClassLabels, index: usize, expected: &Value) -> bool {
    match labels {
        ClassLabels::Int64(labels) => expected.as_i64() == Some(labels[index]),
        ClassLabels::Strings(labels) => expected.as_str() == Some(labels[index].as_str()),
    }
}

/// Compares the reference evaluation with onnxruntime on every row; returns the worst difference.
fn compare(name: &str, ensemble: &Ensemble, record: &Record) -> f64 {
    let mut worst = 0.0f64;
    for (row, inputs) in record.inputs.iter().enumerate() {
        let features: Vec<f64> = inputs
            .iter()
            .map(|value| value.unwrap_or(f64::NAN))
            .collect();
        let output = ensemble
            .evaluate(&features)
            .unwrap_or_else(|error| panic!("{name} row {row}: {error}"));
        let (got, expected) = match (&output, &ensemble.task) {
            (ReferenceOutput::Class { index, scores }, Task::Classifier { labels, .. }) => {
                let expected_label = &record.labels.as_ref().expect("labels")[row];
                assert!(
                    label_matches(labels, *index, expected_label),
                    "{name} row {row}: label {index} of {labels:?}, onnxruntime says {expected_label}; scores {scores:?}"
                );
                (
                    scores,
                    &record.probabilities.as_ref().expect("probabilities")[row],
                )
            }
            (ReferenceOutput::Values(values), Task::Regressor) => {
                (values, &record.values.as_ref().expect("values")[row])
            }
            (output, task) => panic!("{name}: {output:?} from a {task:?}"),
        };
        assert_eq!(
            got.len(),
            expected.len(),
            "{name} row {row}: {got:?} vs {expected:?}"
        );
        for (g, e) in got.iter().zip(expected) {
            let difference = (g - e).abs();
            assert!(
                difference <= TOLERANCE,
                "{name} row {row}: {got:?}, onnxruntime {expected:?}"
            );
            worst = worst.max(difference);
        }
    }
    worst
}

#[test]
fn every_fixture_row_matches_onnxruntime() {
    let manifest = manifest();
    assert_eq!(
        manifest.versions["onnxruntime"], "1.31.1",
        "regenerate the expectations with the pinned tools"
    );
    let mut total_rows = 0;
    for entry in &manifest.fixtures {
        let (ensemble, record) = read(&entry.name);
        assert_eq!(
            ensemble.source.operator.name(),
            entry.operator,
            "{}",
            entry.name
        );
        assert_eq!(ensemble.source.ml_opset, entry.ml_opset, "{}", entry.name);
        assert_eq!(
            format!(
                "{} {}",
                ensemble.source.producer_name, ensemble.source.producer_version
            )
            .trim(),
            entry.producer
        );
        assert_eq!(record.inputs.len(), entry.rows, "{}", entry.name);
        let worst = compare(&entry.name, &ensemble, &record);
        eprintln!(
            "{}: {} rows, worst difference {worst:e}",
            entry.name, entry.rows
        );
        total_rows += entry.rows;
    }
    assert!(total_rows > 2000, "only {total_rows} rows compared");
}

#[test]
fn the_manifest_lists_every_model_in_the_folder() {
    let listed: BTreeSet<String> = manifest()
        .fixtures
        .into_iter()
        .map(|entry| format!("{}.onnx", entry.name))
        .collect();
    let present: BTreeSet<String> = std::fs::read_dir(fixtures())
        .expect("fixtures folder")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".onnx"))
        .collect();
    assert_eq!(listed, present);
}

#[test]
fn float_and_double_exports_keep_their_number_types() {
    let cases = [
        (
            "rf_multiclass",
            NumberType::F32,
            NumberType::F32,
            NumberType::F32,
        ),
        (
            "rf_multiclass_double",
            NumberType::F64,
            NumberType::F64,
            NumberType::F64,
        ),
        // skl2onnx keeps float attributes for a double input; onnxruntime compares in double.
        (
            "rf_multiclass_double_input",
            NumberType::F64,
            NumberType::F64,
            NumberType::F32,
        ),
        (
            "rf_regressor_v5",
            NumberType::F32,
            NumberType::F32,
            NumberType::F32,
        ),
    ];
    for (name, input, precision, attributes) in cases {
        let (ensemble, _) = read(name);
        assert_eq!(
            (
                ensemble.input.element_type,
                ensemble.precision,
                ensemble.attribute_type
            ),
            (input, precision, attributes),
            "{name}"
        );
    }
}

#[test]
fn the_same_forest_reads_the_same_from_float_double_and_opset_5_exports() {
    let (float, _) = read("rf_multiclass");
    let (double, _) = read("rf_multiclass_double");
    assert_eq!(float.trees.len(), double.trees.len());
    assert_eq!(float.n_nodes(), double.n_nodes());
    assert_eq!(float.task, double.task);

    let (v3, _) = read("rf_regressor");
    let (v5, _) = read("rf_regressor_v5");
    assert_eq!(v3.trees.len(), v5.trees.len());
    assert_eq!(v3.n_nodes(), v5.n_nodes());
}
