//! Format version 1, read and converted to the current form.
//!
//! Version 1 held one kind of model: a smartcore random forest whose leaves each vote for one
//! class, with integer labels in ascending order. It becomes the version-2 ensemble "one-hot
//! leaves, average, no base values, no post-transform" with splits `row[feature] <= threshold` in
//! `f64` (missing values right), which predicts exactly the same labels and vote shares.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{ArtifactError, EnsembleError};
use crate::evaluation::{ClassificationEvaluation, Evaluation};

use super::{
    Algorithm, ClassLabels, EnsembleSpec, ModelArtifact, ModelMetadata, NodeSpec, Origin, Schema,
    Task, TrainingData, TreeSpec, canonical_sha256,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ArtifactV1 {
    #[serde(rename = "format_version")]
    _format_version: u32,
    metadata: MetadataV1,
    forest_sha256: String,
    forest: ForestV1,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MetadataV1 {
    name: String,
    version: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    trainer_version: String,
    algorithm: AlgorithmV1,
    feature_names: Vec<String>,
    class_labels: Vec<i64>,
    training_data: TrainingData,
    metrics: ClassificationEvaluation,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlgorithmV1 {
    name: String,
    library: String,
    n_trees: usize,
    max_depth: Option<u16>,
    min_samples_split: usize,
    min_samples_leaf: usize,
    max_features: usize,
    seed: u64,
    n_shards: usize,
}

/// The version-1 forest, serialisable because its canonical JSON is what its digest covers.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ForestV1 {
    n_features: usize,
    n_classes: usize,
    trees: Vec<TreeV1>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TreeV1 {
    nodes: Vec<NodeV1>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum NodeV1 {
    Split {
        feature: usize,
        threshold: f64,
        left: usize,
        right: usize,
    },
    Leaf {
        class: usize,
    },
}

/// Parses a version-1 document, checks what version 1 promised (its forest digest, leaf classes
/// in range, one label per class, labels unique and ascending) and converts it.
pub(super) fn parse(bytes: &[u8]) -> Result<ModelArtifact, ArtifactError> {
    let artifact: ArtifactV1 = serde_json::from_slice(bytes)?;
    let computed = canonical_sha256(&artifact.forest);
    if computed != artifact.forest_sha256 {
        return Err(ArtifactError::DigestMismatch {
            recorded: artifact.forest_sha256,
            computed,
        });
    }
    let metadata = artifact.metadata;
    // Format 2 reads one output for two labels as a binary score, so a format-1 forest with
    // fewer classes than labels would predict a class its trees never vote for.
    if metadata.class_labels.len() != artifact.forest.n_classes {
        return Err(ArtifactError::Inconsistent(format!(
            "{} class labels for a forest of {} classes",
            metadata.class_labels.len(),
            artifact.forest.n_classes
        )));
    }
    if !metadata.class_labels.is_sorted_by(|a, b| a < b) {
        return Err(ArtifactError::Inconsistent(
            "class labels must be unique and ascending".to_owned(),
        ));
    }
    let ensemble = convert_forest(artifact.forest)?;
    let algorithm = metadata.algorithm;
    let parameters = serde_json::Map::from_iter([
        ("n_trees".to_owned(), algorithm.n_trees.into()),
        ("max_depth".to_owned(), algorithm.max_depth.into()),
        (
            "min_samples_split".to_owned(),
            algorithm.min_samples_split.into(),
        ),
        (
            "min_samples_leaf".to_owned(),
            algorithm.min_samples_leaf.into(),
        ),
        ("max_features".to_owned(), algorithm.max_features.into()),
        ("seed".to_owned(), algorithm.seed.into()),
        ("n_shards".to_owned(), algorithm.n_shards.into()),
    ]);
    Ok(ModelArtifact::new(
        ModelMetadata {
            name: metadata.name,
            version: metadata.version,
            created_at: metadata.created_at,
            origin: Origin::Trained {
                trainer_version: metadata.trainer_version,
            },
            algorithm: Algorithm {
                name: algorithm.name,
                library: algorithm.library,
                parameters,
            },
            training_data: Some(metadata.training_data),
            evaluation: Some(Evaluation::Classification(metadata.metrics)),
        },
        Schema {
            feature_names: metadata.feature_names,
            task: Task::Classifier {
                labels: ClassLabels::Integers(metadata.class_labels),
            },
        },
        ensemble,
    ))
}

/// Turns voting leaves into one-hot value vectors; splits keep their meaning (`<=` in `f64`).
fn convert_forest(forest: ForestV1) -> Result<EnsembleSpec, EnsembleError> {
    let n_classes = forest.n_classes;
    let trees = forest
        .trees
        .into_iter()
        .enumerate()
        .map(|(tree_idx, tree)| {
            let nodes = tree
                .nodes
                .into_iter()
                .enumerate()
                .map(|(node_idx, node)| match node {
                    NodeV1::Split {
                        feature,
                        threshold,
                        left,
                        right,
                    } => Ok(NodeSpec::split(feature, threshold, left, right)),
                    NodeV1::Leaf { class } => NodeSpec::one_hot_leaf(class, n_classes).ok_or(
                        EnsembleError::ClassOutOfRange {
                            tree: tree_idx,
                            node: node_idx,
                            class,
                            n_classes,
                        },
                    ),
                })
                .collect::<Result<_, _>>()?;
            Ok(TreeSpec { nodes })
        })
        .collect::<Result<_, _>>()?;
    Ok(EnsembleSpec::voting(forest.n_features, n_classes, trees))
}
