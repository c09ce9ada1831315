//! FluxOps ONNX import: reads a tree ensemble trained anywhere (scikit-learn through skl2onnx,
//! LightGBM through onnxmltools, or any exporter of the standard operators), converts it into a
//! FluxOps artifact that computes what onnxruntime computes, and checks that it does before
//! anything is written. The binary `fluxops-import` adds the registry.
//!
//! Three steps, each a way in:
//!
//! 1. [`Ensemble::from_onnx`] takes the file's bytes and a size cap. It decodes the protobuf with
//!    hand-written `prost` messages (no `protoc`, no C), finds the one `ai.onnx.ml`
//!    `TreeEnsembleClassifier`, `TreeEnsembleRegressor` (ml opsets 1 to 5, float or double
//!    attributes) or `TreeEnsemble` (ml opset 5) operator, accounts for the plumbing exporters put
//!    around it, and refuses anything it cannot reproduce with an [`Error`] that names the
//!    operator or attribute and says what to do. The [`Ensemble`] keeps onnxruntime's meaning in
//!    its types: the comparisons and their number type, where missing values go, how leaves add
//!    up, the base values and post-transform, and how a classifier's scores become a label
//!    (including the binary rules of [`ClassScoring`]). [`Ensemble::evaluate`] is a plain
//!    per-node walk over it, the reference everything else is checked against.
//! 2. [`Ensemble::to_artifact`] converts it into `fluxops-inference`'s format-2 ensemble and task
//!    ([`Conversion`]): splits compare, and scores add, in the model's float type; classes a leaf
//!    does not weight stay out of the label; a binary margin becomes two columns.
//! 3. [`import`] does all of it for a file: reads, converts, loads the artifact exactly as the
//!    handler does (within [`ModelLimits`](fluxops_inference::ModelLimits), so a model the
//!    handler would refuse is refused here), and checks the compiled predictor against the
//!    reference on the user's rows ([`CheckData`]) and on rows drawn around every split
//!    threshold ([`Agreement`]). It returns the artifact's bytes and the `metrics.json` report
//!    ([`ImportReport`]), or an [`ImportError`].
//!
//! The crate depends on `fluxops-inference` (the artifact) and, for the version name and the
//! binary, on `fluxops-store` and `fluxops-telemetry`; nothing depends on it.
//!
//! ```
//! use fluxops_inference::{ClassLabels, Prediction, Task};
//! use fluxops_onnx::{ImportOptions, import};
//!
//! // A scikit-learn random forest with labels -3, 5 and 12, exported by skl2onnx.
//! let bytes = include_bytes!("../tests/fixtures/rf_multiclass.onnx");
//! let imported = import(bytes, &ImportOptions::new("forest", "rf_multiclass.onnx"))?;
//! assert_eq!(imported.report.import.converter, "skl2onnx 1.20.0");
//! assert!(imported.report.agreement.rows_checked > 1000);
//! let Task::Classifier { labels: ClassLabels::Integers(labels) } = &imported.artifact.schema.task
//! else {
//!     panic!("a classifier with integer labels");
//! };
//! assert_eq!(labels, &[-3, 5, 12]);
//!
//! let model = fluxops_inference::Model::from_json(&imported.model_json, &Default::default())?;
//! let Prediction::Class(class) = model.predictor().predict_one(&[0.25; 6])? else {
//!     panic!("a classifier answers with a class");
//! };
//! assert!((class.probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod attributes;
mod build;
mod check;
mod convert;
mod ensemble;
mod error;
mod graph;
mod import;
mod proto;
mod read;
mod reference;
#[cfg(test)]
mod testing;
mod v3;
mod v5;

pub use check::{Agreement, Disagreement, MAX_SYNTHETIC_ROWS, SCORE_TOLERANCE};
pub use convert::Conversion;
pub use ensemble::{
    Aggregate, ClassLabels, ClassScoring, Comparison, Ensemble, Input, Leaf, LeafWeight, Node,
    NumberType, Operator, Opset, Output, OutputKind, PostTransform, Source, Split, Task, Tree,
};
pub use error::{Error, FeatureCountMismatch};
pub use import::{
    CheckData, ImportError, ImportOptions, ImportReport, ImportSource, ImportTimings, Imported,
    MAX_ONNX_BYTES, ModelSummary, import,
};
pub use reference::ReferenceOutput;
