//! The fixtures of `scripts/make-onnx-fixtures.py`: the manifest, and each model's recorded rows
//! with onnxruntime's answers. Each test binary uses a part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

/// How far a score may be from onnxruntime's.
pub const TOLERANCE: f64 = 1e-5;

/// The fixtures folder.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

#[derive(Deserialize)]
pub struct Manifest {
    pub versions: serde_json::Map<String, Value>,
    pub fixtures: Vec<Entry>,
    pub refused: Vec<Refused>,
}

/// A model and its recorded rows.
#[derive(Deserialize)]
pub struct Entry {
    pub name: String,
    pub producer: String,
    pub operator: String,
    pub ml_opset: i64,
    pub rows: usize,
}

/// A model the importer must refuse, and a part of the refusal's message.
#[derive(Deserialize)]
pub struct Refused {
    pub name: String,
    pub message: String,
}

pub fn manifest() -> Manifest {
    let text = std::fs::read_to_string(fixtures().join("manifest.json")).expect("manifest.json");
    serde_json::from_str(&text).expect("manifest.json parses")
}

/// A fixture's rows (`null` is NaN) and onnxruntime's answers.
#[derive(Deserialize)]
pub struct Record {
    pub model: String,
    pub inputs: Vec<Vec<Option<f64>>>,
    pub labels: Option<Vec<Value>>,
    pub probabilities: Option<Vec<Vec<f64>>>,
    pub values: Option<Vec<Vec<f64>>>,
}

/// What onnxruntime answered for one row.
pub enum Expected<'a> {
    /// A classifier's label (a number or a string) and probabilities.
    Class {
        label: &'a Value,
        probabilities: &'a [f64],
    },
    /// A regressor's values.
    Values(&'a [f64]),
}

impl Record {
    pub fn read(name: &str) -> Record {
        let path = fixtures().join(format!("{name}.json"));
        let text = std::fs::read_to_string(&path).expect("the fixture's record");
        serde_json::from_str(&text).expect("the record parses")
    }

    /// The model file's bytes.
    pub fn model_bytes(&self) -> Vec<u8> {
        std::fs::read(fixtures().join(&self.model)).expect("the fixture's model")
    }

    /// Row `row` as numbers, NaN for a missing value.
    pub fn row(&self, row: usize) -> Vec<f64> {
        self.inputs[row]
            .iter()
            .map(|value| value.unwrap_or(f64::NAN))
            .collect()
    }

    /// onnxruntime's answer for row `row`.
    pub fn expected(&self, row: usize) -> Expected<'_> {
        match (&self.labels, &self.probabilities, &self.values) {
            (Some(labels), Some(probabilities), _) => Expected::Class {
                label: &labels[row],
                probabilities: &probabilities[row],
            },
            (_, _, Some(values)) => Expected::Values(&values[row]),
            _ => panic!("{}: a record with neither labels nor values", self.model),
        }
    }
}

/// Asserts that `got` is within [`TOLERANCE`] of `expected`, value by value; returns the largest
/// difference.
#[track_caller]
pub fn assert_close(what: &str, got: &[f64], expected: &[f64]) -> f64 {
    assert_eq!(got.len(), expected.len(), "{what}: {got:?} vs {expected:?}");
    let mut worst = 0.0_f64;
    for (g, e) in got.iter().zip(expected) {
        let difference = (g - e).abs();
        assert!(
            difference <= TOLERANCE,
            "{what}: {got:?}, onnxruntime {expected:?}"
        );
        worst = worst.max(difference);
    }
    worst
}
