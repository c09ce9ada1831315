//! Every fixture of `scripts/make-onnx-fixtures.py` against onnxruntime's recorded answers, on
//! every recorded row: the reference evaluation of the ONNX attributes, and the imported
//! artifact as the handler runs it. Labels must be onnxruntime's and scores or values within
//! 1e-5 of its own.

mod support;

use std::collections::BTreeSet;

use fluxops_inference::{
    BatchPrediction, ClassLabel, Model, ModelLimits, NodeSpec, NumberType as ArtifactNumberType,
    Prediction,
};
use fluxops_onnx::{
    ClassLabels, Ensemble, ImportError, ImportOptions, NumberType, ReferenceOutput, Task, import,
};
use serde_json::Value;
use support::{Expected, Record, assert_close, fixtures, manifest};

const MAX_BYTES: usize = 16 << 20;

fn read(name: &str) -> (Ensemble, Record) {
    let record = Record::read(name);
    let ensemble = Ensemble::from_onnx(&record.model_bytes(), MAX_BYTES)
        .unwrap_or_else(|error| panic!("{name}: {error}"));
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
    for row in 0..record.inputs.len() {
        let output = ensemble
            .evaluate(&record.row(row))
            .unwrap_or_else(|error| panic!("{name} row {row}: {error}"));
        let what = format!("{name} row {row}");
        worst = worst.max(match (&output, &ensemble.task, record.expected(row)) {
            (
                ReferenceOutput::Class { index, scores },
                Task::Classifier { labels, .. },
                Expected::Class {
                    label,
                    probabilities,
                },
            ) => {
                assert!(
                    label_matches(labels, *index, label),
                    "{what}: label {index} of {labels:?}, onnxruntime says {label}; scores {scores:?}"
                );
                assert_close(&what, scores, probabilities)
            }
            (ReferenceOutput::Values(values), Task::Regressor, Expected::Values(expected)) => {
                assert_close(&what, values, expected)
            }
            (output, task, _) => panic!("{what}: {output:?} from a {task:?}"),
        });
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

/// Whether the artifact's label `got` is onnxruntime's `expected`.
fn same_label(got: ClassLabel<'_>, expected: &Value) -> bool {
    match got {
        ClassLabel::Integer(label) => expected.as_i64() == Some(label),
        ClassLabel::String(label) => expected.as_str() == Some(label),
    }
}

/// Imports every fixture, loads the artifact as the handler does and compares it with
/// onnxruntime on every row: finite rows through the compiled predictor (one at a time and as
/// one batch), rows with missing values (which the predictor refuses) through the artifact's
/// reference walk.
#[test]
fn every_imported_fixture_answers_as_onnxruntime_on_every_row() {
    let mut total_rows = 0;
    for entry in &manifest().fixtures {
        let name = &entry.name;
        let record = Record::read(name);
        let imported = import(
            &record.model_bytes(),
            &ImportOptions::new(name, &record.model),
        )
        .unwrap_or_else(|error| panic!("{name}: {error}"));
        let model = Model::from_json(&imported.model_json, &ModelLimits::default())
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        let spec = &imported.artifact.ensemble;
        let predictor = model.predictor();
        let mut worst = 0.0_f64;
        let mut finite_rows = Vec::new();
        for row_idx in 0..record.inputs.len() {
            let row = record.row(row_idx);
            let what = format!("{name} row {row_idx}");
            let missing = row.iter().any(|value| value.is_nan());
            if !missing {
                finite_rows.push(row_idx);
            }
            worst = worst.max(match record.expected(row_idx) {
                Expected::Class {
                    label,
                    probabilities,
                } => {
                    let (class_index, got) = if missing {
                        let scores = spec.reference_scores(&row).expect("a proper row");
                        let scores = match scores[..] {
                            [p] => vec![1.0 - p, p],
                            _ => scores,
                        };
                        (spec.reference_class_index(&row).expect("a proper row"), scores)
                    } else {
                        match predictor.predict_one(&row).expect("a finite row") {
                            Prediction::Class(class) => (class.class_index, class.probabilities),
                            other => panic!("{what}: {other:?}"),
                        }
                    };
                    let got_label = predictor.class_label(class_index).expect("a class");
                    assert!(
                        same_label(got_label, label),
                        "{what}: {got_label}, onnxruntime says {label}; {got:?} vs {probabilities:?}"
                    );
                    assert_close(&what, &got, probabilities)
                }
                Expected::Values(expected) => {
                    let got = if missing {
                        spec.reference_scores(&row).expect("a proper row")
                    } else {
                        match predictor.predict_one(&row).expect("a finite row") {
                            Prediction::Values(values) => values,
                            other => panic!("{what}: {other:?}"),
                        }
                    };
                    assert_close(&what, &got, expected)
                }
            });
        }
        // The batch path, which the handler takes for `instances`.
        let rows: Vec<Vec<f64>> = finite_rows.iter().map(|&row| record.row(row)).collect();
        let batch = predictor
            .rows_to_batch(&rows)
            .expect("rows of the model's width");
        match predictor.predict_batch(batch.view()).expect("finite rows") {
            BatchPrediction::Classes(classes) => {
                for (position, &row_idx) in finite_rows.iter().enumerate() {
                    let Expected::Class {
                        label,
                        probabilities,
                    } = record.expected(row_idx)
                    else {
                        panic!("{name}: a classifier's record");
                    };
                    let got_label = predictor
                        .class_label(classes.class_indices[position])
                        .expect("a class");
                    assert!(same_label(got_label, label), "{name} batch row {row_idx}");
                    assert_close(
                        &format!("{name} batch row {row_idx}"),
                        &classes.probabilities.row(position).to_vec(),
                        probabilities,
                    );
                }
            }
            BatchPrediction::Values(values) => {
                for (position, &row_idx) in finite_rows.iter().enumerate() {
                    let Expected::Values(expected) = record.expected(row_idx) else {
                        panic!("{name}: a regressor's record");
                    };
                    assert_close(
                        &format!("{name} batch row {row_idx}"),
                        &values.row(position).to_vec(),
                        expected,
                    );
                }
            }
        }
        eprintln!(
            "{name}: {} rows ({} through the compiled predictor), worst difference {worst:e}; \
             self-check {:?}",
            record.inputs.len(),
            finite_rows.len(),
            imported.report.agreement
        );
        total_rows += record.inputs.len();
    }
    assert!(total_rows > 2000, "only {total_rows} rows compared");
}

#[test]
fn the_manifest_lists_every_model_in_the_folder() {
    let manifest = manifest();
    let listed: BTreeSet<String> = manifest
        .fixtures
        .iter()
        .map(|entry| format!("{}.onnx", entry.name))
        .collect();
    let present = |folder: std::path::PathBuf| -> BTreeSet<String> {
        std::fs::read_dir(folder)
            .expect("fixtures folder")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|name| name.ends_with(".onnx"))
            .collect()
    };
    assert_eq!(listed, present(fixtures()));
    let refused: BTreeSet<String> = manifest
        .refused
        .iter()
        .map(|entry| format!("{}.onnx", entry.name))
        .collect();
    assert_eq!(refused, present(fixtures().join("refused")));
}

#[test]
fn every_refused_fixture_is_refused_by_name() {
    for entry in &manifest().refused {
        let bytes = std::fs::read(fixtures().join(format!("refused/{}.onnx", entry.name)))
            .expect("the refused model");
        match import(&bytes, &ImportOptions::new("refused", &entry.name)) {
            Err(ImportError::Onnx(error)) => assert!(
                error.to_string().contains(&entry.message),
                "{}: {error}",
                entry.name
            ),
            other => panic!("{}: expected a refusal, got {other:?}", entry.name),
        }
    }
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
        let (ensemble, record) = read(name);
        assert_eq!(
            (
                ensemble.input.element_type,
                ensemble.precision,
                ensemble.attribute_type
            ),
            (input, precision, attributes),
            "{name}"
        );
        // The artifact compares and adds in the same type.
        let artifact = ensemble.to_artifact().expect("converts").ensemble;
        let expected = match precision {
            NumberType::F32 => ArtifactNumberType::F32,
            NumberType::F64 => ArtifactNumberType::F64,
        };
        assert_eq!(artifact.score_type, expected, "{name}");
        let split_types: BTreeSet<String> = artifact
            .trees
            .iter()
            .flat_map(|tree| &tree.nodes)
            .filter_map(|node| match node {
                NodeSpec::Split { threshold_type, .. } => Some(format!("{threshold_type:?}")),
                NodeSpec::Leaf { .. } => None,
            })
            .collect();
        assert_eq!(
            split_types,
            BTreeSet::from([format!("{expected:?}")]),
            "{name} ({})",
            record.model
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

#[test]
fn a_model_over_the_handlers_limits_is_refused_with_what_to_do() {
    let record = Record::read("rf_multiclass");
    let options = ImportOptions {
        limits: ModelLimits {
            max_trees: 4,
            ..ModelLimits::default()
        },
        ..ImportOptions::new("big", &record.model)
    };
    let error = import(&record.model_bytes(), &options).expect_err("8 trees, 4 allowed");
    let message = format!(
        "{error}: {}",
        std::error::Error::source(&error).expect("why")
    );
    assert!(matches!(error, ImportError::OverLimit(_)), "{message}");
    assert!(
        message.contains("fewer or shallower trees") && message.contains("8 trees"),
        "{message}"
    );
}
