//! FluxOps ONNX import: reads a tree ensemble trained anywhere (scikit-learn through skl2onnx,
//! LightGBM through onnxmltools, or any exporter of the standard operators) into a faithful
//! intermediate form, and evaluates that form exactly as onnxruntime does.
//!
//! The way in is [`Ensemble::from_onnx`], which takes the file's bytes and a size cap. It decodes
//! the protobuf with hand-written `prost` messages (no `protoc`, no C), finds the one
//! `ai.onnx.ml` `TreeEnsembleClassifier`, `TreeEnsembleRegressor` (ml opsets 1 to 5, float or
//! double attributes) or `TreeEnsemble` (ml opset 5) operator, accounts for the plumbing
//! exporters put around it, and refuses anything it cannot reproduce with an [`Error`] that
//! names the operator or attribute and says what to do.
//!
//! The [`Ensemble`] keeps onnxruntime's meaning in its types: the comparisons and their number
//! type, where missing values go, how leaves add up, the base values and post-transform, and
//! how a classifier's scores become a label (including the binary rules of
//! [`ClassScoring`]). [`Ensemble::evaluate`] is a plain per-node walk over it: the reference
//! that a compiled FluxOps ensemble is checked against before it is published.
//!
//! This crate depends on none of the other FluxOps crates; the importer binary joins it with
//! `fluxops-inference` (the artifact) and `fluxops-store` (the registry).
//!
//! ```
//! use fluxops_onnx::{ClassLabels, Ensemble, ReferenceOutput, Task};
//!
//! // A scikit-learn random forest with labels -3, 5 and 12, exported by skl2onnx.
//! let bytes = include_bytes!("../tests/fixtures/rf_multiclass.onnx");
//! let ensemble = Ensemble::from_onnx(bytes, 16 << 20)?;
//! assert_eq!(ensemble.source.producer_name, "skl2onnx");
//! let Task::Classifier { labels: ClassLabels::Int64(labels), .. } = &ensemble.task else {
//!     panic!("a classifier with integer labels");
//! };
//! assert_eq!(labels, &[-3, 5, 12]);
//!
//! let row = vec![0.25; ensemble.n_features()];
//! let ReferenceOutput::Class { index, scores } = ensemble.evaluate(&row)? else {
//!     panic!("a classifier answers with a class");
//! };
//! assert!(index < 3);
//! assert!((scores.iter().sum::<f64>() - 1.0).abs() < 1e-5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod attributes;
mod build;
mod ensemble;
mod error;
mod graph;
mod proto;
mod read;
mod reference;
#[cfg(test)]
mod testing;
mod v3;
mod v5;

pub use ensemble::{
    Aggregate, ClassLabels, ClassScoring, Comparison, Ensemble, Input, Leaf, LeafWeight, Node,
    NumberType, Operator, Opset, Output, OutputKind, PostTransform, Source, Split, Task, Tree,
};
pub use error::{Error, FeatureCountMismatch};
pub use reference::ReferenceOutput;
