//! The FluxOps inference core: the model artifact format, a compiled tree ensemble, and fast,
//! validated prediction.
//!
//! This crate does no I/O: it takes bytes and values and returns values. It has no async runtime,
//! no Azure SDK and no smartcore, so the HTTP handler that depends on it stays small. The trainer
//! (`fluxops-trainer`) and the importer produce [`ModelArtifact`]s, the registry
//! (`fluxops-store`) stores their bytes, and the handler (`fluxops-handler`) turns them into a
//! [`Model`] and predicts.
//!
//! An artifact (format version 2, `docs/artifact-format.md`) holds one general tree ensemble
//! ([`EnsembleSpec`]: leaves with value vectors, averaged or summed, plus base values and a
//! post-transform) and a [`Schema`] that says whether it is a classifier, with integer or string
//! labels, or a regressor. Format-1 artifacts (voting smartcore forests) load too.
//!
//! The way in is [`Model::from_json`], within [`ModelLimits`]; then [`Model::predictor`] and
//! [`Predictor::predict_one`] or [`Predictor::predict_batch`]. A producer checks what it built
//! with [`Predictor::new`] before it writes the artifact:
//!
//! ```
//! use fluxops_inference::{
//!     Aggregation, ClassLabel, ClassLabels, EnsembleSpec, ModelLimits, NodeSpec, PostTransform,
//!     NumberType, Prediction, Predictor, Schema, Task, TreeSpec,
//! };
//! // One stump: x <= 0.5 votes for class 0 ("cold"), otherwise for class 1 ("warm").
//! let ensemble = EnsembleSpec {
//!     n_features: 1,
//!     n_outputs: 2,
//!     aggregation: Aggregation::Average,
//!     base_values: vec![0.0, 0.0],
//!     post_transform: PostTransform::None,
//!     score_type: NumberType::F64,
//!     trees: vec![TreeSpec {
//!         nodes: vec![
//!             NodeSpec::split(0, 0.5, 1, 2),
//!             NodeSpec::leaf(vec![1.0, 0.0]),
//!             NodeSpec::leaf(vec![0.0, 1.0]),
//!         ],
//!     }],
//! };
//! let schema = Schema {
//!     feature_names: vec!["x".to_owned()],
//!     task: Task::Classifier {
//!         labels: ClassLabels::Strings(vec!["cold".to_owned(), "warm".to_owned()]),
//!     },
//! };
//! let predictor = Predictor::new(schema, &ensemble, &ModelLimits::default())?;
//! let Prediction::Class(prediction) = predictor.predict_one(&[0.9])? else {
//!     unreachable!("a classifier predicts classes");
//! };
//! assert_eq!(prediction.label, ClassLabel::String("warm"));
//! assert_eq!(prediction.probabilities, vec![0.0, 1.0]);
//! assert!(predictor.predict_one(&[f64::NAN]).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod artifact;
mod ensemble;
mod error;
mod evaluation;
mod limits;
mod model;
mod predictor;
#[cfg(feature = "testing")]
pub mod testing;

pub use artifact::{
    Aggregation, Algorithm, ClassLabels, Comparison, EnsembleSpec, FORMAT_VERSION, ModelArtifact,
    ModelMetadata, NodeSpec, NumberType, Origin, PostTransform, Schema, Side, Task, TrainingData,
    TreeSpec, ensemble_sha256,
};
pub use error::{ArtifactError, EnsembleError, InputError, LimitExceeded, Limited};
pub use evaluation::{
    AveragedScores, ClassScores, ClassificationEvaluation, Evaluation, RegressionEvaluation,
};
pub use limits::{
    DEFAULT_MAX_DEPTH, DEFAULT_MAX_FEATURES, DEFAULT_MAX_LEAF_VALUES, DEFAULT_MAX_METADATA_VALUES,
    DEFAULT_MAX_MODEL_BYTES, DEFAULT_MAX_NODES, DEFAULT_MAX_OUTPUTS, DEFAULT_MAX_TREES,
    ModelLimits,
};
pub use model::Model;
pub use predictor::{
    BatchPrediction, ClassBatch, ClassLabel, ClassPrediction, Prediction, Predictor,
};
