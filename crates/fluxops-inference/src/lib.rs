//! The FluxOps inference core: the model artifact format, a compiled random forest, and fast,
//! validated prediction.
//!
//! This crate does no I/O: it takes bytes and values and returns values. It has no async runtime,
//! no Azure SDK and no smartcore, so the HTTP handler that depends on it stays small. The trainer
//! (`fluxops-trainer`) produces [`ModelArtifact`]s, the registry (`fluxops-store`) stores their
//! bytes, and the handler (`fluxops-handler`) turns them into a [`Model`] and predicts.
//!
//! The way in is [`Model::from_json`]; then [`Model::predict_one`] or [`Model::predict_batch`].
//!
//! ```
//! use fluxops_inference::{ForestSpec, Model, ModelArtifact, NodeSpec, TreeSpec};
//! // One stump: feature 0 <= 0.5 votes class 0 (label -1), otherwise class 1 (label 1).
//! let forest = ForestSpec {
//!     n_features: 1,
//!     n_classes: 2,
//!     trees: vec![TreeSpec {
//!         nodes: vec![
//!             NodeSpec::Split { feature: 0, threshold: 0.5, left: 1, right: 2 },
//!             NodeSpec::Leaf { class: 0 },
//!             NodeSpec::Leaf { class: 1 },
//!         ],
//!     }],
//! };
//! let bytes = ModelArtifact::with_placeholder_metadata(forest, &["x"], &[-1, 1]).to_json();
//! let model = Model::from_json(&bytes)?;
//! assert_eq!(model.predict_one(&[0.9])?.label, 1);
//! assert!(model.predict_one(&[f64::NAN]).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod artifact;
mod error;
mod forest;
mod metrics;
mod model;

pub use artifact::{
    Algorithm, FORMAT_VERSION, ModelArtifact, ModelMetadata, RANDOM_FOREST, TrainingData,
    forest_sha256, sha256_hex,
};
pub use error::{ArtifactError, ForestError, InputError};
pub use forest::{CompiledForest, ForestSpec, NodeSpec, PARALLEL_MIN_ROWS, TreeSpec, Votes};
pub use metrics::{AveragedMetrics, ClassMetrics, Evaluation};
pub use model::{BatchPrediction, Model, Prediction};
