use thiserror::Error;

/// Why an input row was rejected before prediction.
///
/// Every variant names the offending position so that a caller can point a person at it.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum InputError {
    /// The row has a different number of values than the model has features.
    #[error("{}expected {expected} features, got {actual}", row_prefix(*row))]
    WrongFeatureCount {
        /// Row index within a batch, `None` for a single row.
        row: Option<usize>,
        /// Number of features the model was trained on.
        expected: usize,
        /// Number of values received.
        actual: usize,
    },
    /// A value is NaN or infinite.
    #[error("{}feature {index} is not a finite number", row_prefix(*row))]
    NonFinite {
        /// Row index within a batch, `None` for a single row.
        row: Option<usize>,
        /// Index of the offending feature.
        index: usize,
    },
    /// A batch with no rows.
    #[error("the batch has no rows")]
    EmptyBatch,
}

fn row_prefix(row: Option<usize>) -> String {
    row.map(|row| format!("row {row}: ")).unwrap_or_default()
}

/// Why a model artifact was refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ArtifactError {
    /// The bytes are not valid JSON for the artifact type.
    #[error("model artifact is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The artifact was written in a format this build does not read.
    #[error(
        "model artifact has format version {found}; this build reads versions 1 to {}",
        crate::FORMAT_VERSION
    )]
    UnsupportedFormatVersion {
        /// The version in the artifact.
        found: u32,
    },
    /// The artifact is larger than the limits allow.
    #[error("model artifact is too large: {0}")]
    OverLimit(#[from] LimitExceeded),
    /// The ensemble content does not hash to the digest recorded in the artifact.
    #[error("model artifact ensemble digest mismatch: recorded {recorded}, computed {computed}")]
    DigestMismatch {
        /// Digest recorded in the artifact.
        recorded: String,
        /// Digest computed from the ensemble content.
        computed: String,
    },
    /// The ensemble's structure is broken (tree and node name where).
    #[error("model artifact has an invalid ensemble: {0}")]
    InvalidEnsemble(#[from] EnsembleError),
    /// The schema disagrees with the ensemble (feature names, class labels, outputs).
    #[error("model artifact metadata is inconsistent: {0}")]
    Inconsistent(String),
}

/// A limit of [`crate::ModelLimits`] that an artifact goes beyond.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{found} {what}, more than the {max} allowed")]
pub struct LimitExceeded {
    /// What was counted.
    pub what: Limited,
    /// How many the artifact has (for a depth: the depth of the first tree found too deep).
    pub found: usize,
    /// The limit.
    pub max: usize,
}

/// What a [`LimitExceeded`] counted; each is a field of [`crate::ModelLimits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limited {
    /// Bytes of the artifact (`max_model_bytes`).
    ModelBytes,
    /// Trees (`max_trees`).
    Trees,
    /// Nodes over all trees (`max_nodes`).
    Nodes,
    /// Levels of one tree (`max_depth`).
    Depth,
    /// Outputs or classes (`max_outputs`).
    Outputs,
    /// Features (`max_features`).
    Features,
    /// Leaf values over all leaves (`max_leaf_values`).
    LeafValues,
    /// JSON values in the metadata (`max_metadata_values`).
    MetadataValues,
}

impl std::fmt::Display for Limited {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            Limited::ModelBytes => "bytes",
            Limited::Trees => "trees",
            Limited::Nodes => "nodes",
            Limited::Depth => "levels in a tree",
            Limited::Outputs => "outputs or classes",
            Limited::Features => "features",
            Limited::LeafValues => "leaf values",
            Limited::MetadataValues => "JSON values in the metadata",
        })
    }
}

/// A structural defect in an ensemble, found while compiling it.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum EnsembleError {
    /// An ensemble needs at least one tree, feature and output.
    #[error("an ensemble needs at least one tree, one feature and one output")]
    Empty,
    /// The base values are not one finite number per output.
    #[error("base values must be {n_outputs} finite numbers, one per output")]
    BadBaseValues {
        /// Number of outputs of the ensemble.
        n_outputs: usize,
    },
    /// A softmax over a single output says nothing (it is always 1).
    #[error("a softmax post-transform needs at least two outputs")]
    SoftmaxOfOne,
    /// A tree has no nodes.
    #[error("tree {tree} has no nodes")]
    EmptyTree {
        /// Index of the tree.
        tree: usize,
    },
    /// A split points at a child that does not come after it in the tree, or does not exist.
    #[error(
        "tree {tree} node {node}: child index {child} is out of range (must be after the node and below {n_nodes})"
    )]
    ChildOutOfRange {
        /// Index of the tree.
        tree: usize,
        /// Index of the node within its tree.
        node: usize,
        /// The offending child index.
        child: usize,
        /// Number of nodes in the tree.
        n_nodes: usize,
    },
    /// A node is reachable from more than one parent, or not at all.
    #[error("tree {tree} node {node} is not reached exactly once from the root")]
    NotATree {
        /// Index of the tree.
        tree: usize,
        /// Index of the node within its tree.
        node: usize,
    },
    /// A split tests a feature the ensemble does not have.
    #[error("tree {tree} node {node}: feature index {feature} is not below {n_features}")]
    FeatureOutOfRange {
        /// Index of the tree.
        tree: usize,
        /// Index of the node within its tree.
        node: usize,
        /// The offending feature index.
        feature: usize,
        /// Number of features of the ensemble.
        n_features: usize,
    },
    /// A format-1 leaf names a class the forest does not have.
    #[error("tree {tree} node {node}: class index {class} is not below {n_classes}")]
    ClassOutOfRange {
        /// Index of the tree.
        tree: usize,
        /// Index of the node within its tree.
        node: usize,
        /// The offending class index.
        class: usize,
        /// Number of classes of the forest.
        n_classes: usize,
    },
    /// A leaf does not hold one value per output.
    #[error("tree {tree} node {node}: leaf has {n_values} values for {n_outputs} outputs")]
    LeafWidth {
        /// Index of the tree.
        tree: usize,
        /// Index of the node within its tree.
        node: usize,
        /// Number of values in the leaf.
        n_values: usize,
        /// Number of outputs of the ensemble.
        n_outputs: usize,
    },
    /// A leaf value is NaN or infinite.
    #[error("tree {tree} node {node}: leaf value is not a finite number")]
    NonFiniteLeafValue {
        /// Index of the tree.
        tree: usize,
        /// Index of the node within its tree.
        node: usize,
    },
    /// A split threshold is NaN or infinite.
    #[error("tree {tree} node {node}: split threshold is not a finite number")]
    NonFiniteThreshold {
        /// Index of the tree.
        tree: usize,
        /// Index of the node within its tree.
        node: usize,
    },
    /// A split compares in `f32` but its threshold is not an `f32` value.
    #[error(
        "tree {tree} node {node}: threshold {threshold} is not an f32 value, yet the split compares in f32"
    )]
    NotAnF32Threshold {
        /// Index of the tree.
        tree: usize,
        /// Index of the node within its tree.
        node: usize,
        /// The offending threshold.
        threshold: f64,
    },
    /// The leaf values can add up beyond what the score type holds.
    #[error(
        "the leaf values of output {output} can add up to more than the ensemble's score type holds"
    )]
    ScoreOverflow {
        /// Index of the output.
        output: usize,
    },
    /// Scores are added in `f32` but a leaf value is not an `f32` value.
    #[error(
        "tree {tree} node {node}: a leaf value is not an f32 value, yet scores are added in f32"
    )]
    NotAnF32LeafValue {
        /// Index of the tree.
        tree: usize,
        /// Index of the node within its tree.
        node: usize,
    },
    /// Scores are added in `f32` but a base value is not an `f32` value.
    #[error("base value {output} is not an f32 value, yet scores are added in f32")]
    NotAnF32BaseValue {
        /// Index of the output.
        output: usize,
    },
    /// The ensemble has more nodes than the compiled layout can index (2^32 - 1).
    #[error("ensemble has {n_nodes} nodes, more than the compiled layout can index")]
    TooLarge {
        /// Total number of nodes.
        n_nodes: usize,
    },
}
