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
    #[error("model artifact has format version {found}; this build reads version {supported}")]
    UnsupportedFormatVersion {
        /// The version in the artifact.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// The forest content does not hash to the digest recorded in the artifact.
    #[error("model artifact forest digest mismatch: recorded {recorded}, computed {computed}")]
    DigestMismatch {
        /// Digest recorded in the artifact.
        recorded: String,
        /// Digest computed from the forest content.
        computed: String,
    },
    /// The forest's structure is broken (tree and node name where).
    #[error("model artifact has an invalid forest: {0}")]
    InvalidForest(#[from] ForestError),
    /// Metadata disagrees with the forest (feature names, class labels).
    #[error("model artifact metadata is inconsistent: {0}")]
    Inconsistent(String),
}

/// A structural defect in a forest, found while compiling it.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum ForestError {
    /// A forest needs at least one tree, feature and class.
    #[error("forest needs at least one tree, one feature and one class")]
    Empty,
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
    /// A split tests a feature the forest does not have.
    #[error("tree {tree} node {node}: feature index {feature} is not below {n_features}")]
    FeatureOutOfRange {
        /// Index of the tree.
        tree: usize,
        /// Index of the node within its tree.
        node: usize,
        /// The offending feature index.
        feature: usize,
        /// Number of features of the forest.
        n_features: usize,
    },
    /// A leaf names a class the forest does not have.
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
    /// A split threshold is NaN or infinite.
    #[error("tree {tree} node {node}: split threshold is not a finite number")]
    NonFiniteThreshold {
        /// Index of the tree.
        tree: usize,
        /// Index of the node within its tree.
        node: usize,
    },
    /// The forest has more nodes than the compiled layout can index (2^32 - 1).
    #[error("forest has {n_nodes} nodes, more than the compiled layout can index")]
    TooLarge {
        /// Total number of nodes.
        n_nodes: usize,
    },
}
