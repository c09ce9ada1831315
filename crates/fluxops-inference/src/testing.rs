//! Fixtures for the tests of every crate: small hand-made models.
//!
//! Compiled only with the `testing` feature, which crates enable from their
//! `[dev-dependencies]`, so no shipped binary carries it.

use time::OffsetDateTime;

use crate::artifact::{
    Algorithm, ClassLabels, EnsembleSpec, ModelArtifact, ModelMetadata, NodeSpec, Origin, Schema,
    Task, TreeSpec,
};
use crate::evaluation::{ClassificationEvaluation, Evaluation};

/// One stump: rows with `row[feature] <= threshold` vote for class `at_or_below`, the others for
/// class `above` (class indices).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stump {
    /// Feature tested.
    pub feature: usize,
    /// Threshold of the test.
    pub threshold: f64,
    /// Class voted for by rows at or below the threshold.
    pub at_or_below: usize,
    /// Class voted for by rows above it.
    pub above: usize,
}

/// A one-hot leaf for a stump's class; a class out of range is a mistake in the test itself.
fn vote(class: usize, n_classes: usize) -> NodeSpec {
    NodeSpec::one_hot_leaf(class, n_classes)
        .unwrap_or_else(|| panic!("stump class {class} is not below the {n_classes} labels"))
}

impl Stump {
    /// A stump on `feature` at `threshold` voting for class 0 at or below it, class 1 above.
    pub fn new(feature: usize, threshold: f64) -> Self {
        Stump {
            feature,
            threshold,
            at_or_below: 0,
            above: 1,
        }
    }
}

/// A voting forest of `stumps` over `n_features` features named `feature_0`, `feature_1`, ...,
/// with integer class `labels`, as a format-2 artifact with placeholder metadata (see
/// [`placeholder_metadata`]; `n_trees` set, and an empty classification evaluation).
pub fn stump_artifact(n_features: usize, labels: &[i64], stumps: &[Stump]) -> ModelArtifact {
    let n_classes = labels.len();
    let trees = stumps
        .iter()
        .map(|stump| TreeSpec {
            nodes: vec![
                NodeSpec::split(stump.feature, stump.threshold, 1, 2),
                vote(stump.at_or_below, n_classes),
                vote(stump.above, n_classes),
            ],
        })
        .collect();
    let ensemble = EnsembleSpec::voting(n_features, n_classes, trees);
    let schema = Schema {
        feature_names: (0..n_features)
            .map(|index| format!("feature_{index}"))
            .collect(),
        task: Task::Classifier {
            labels: ClassLabels::Integers(labels.to_vec()),
        },
    };
    let mut metadata = placeholder_metadata();
    metadata
        .algorithm
        .parameters
        .insert("n_trees".to_owned(), stumps.len().into());
    metadata.evaluation = Some(Evaluation::Classification(
        ClassificationEvaluation::from_class_indices(labels, &[], &[]),
    ));
    ModelArtifact::new(metadata, schema, ensemble)
}

/// Metadata for a hand-made model: name `example`, version `0`, made at the Unix epoch by this
/// trainer version, algorithm `random_forest_classifier` from library `hand-made` with no
/// parameters, no training data and no evaluation.
pub fn placeholder_metadata() -> ModelMetadata {
    ModelMetadata {
        name: "example".to_owned(),
        version: "0".to_owned(),
        created_at: OffsetDateTime::UNIX_EPOCH,
        origin: Origin::Trained {
            trainer_version: env!("CARGO_PKG_VERSION").to_owned(),
        },
        algorithm: Algorithm {
            name: "random_forest_classifier".to_owned(),
            library: "hand-made".to_owned(),
            parameters: serde_json::Map::new(),
        },
        training_data: None,
        evaluation: None,
    }
}
