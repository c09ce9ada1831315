//! The intermediate form: an ONNX tree ensemble as plain data, with onnxruntime's meaning
//! spelled out in the types.
//!
//! Every struct is `#[non_exhaustive]`: other crates read the fields but only this crate builds
//! the values, so the invariants written on each field hold for every `Ensemble` there is.

/// A number type of the model: what thresholds and weights were declared as, what the model's
/// input is, and what onnxruntime compares and adds in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NumberType {
    /// 32-bit float (`tensor(float)`, `FLOATS` attributes).
    F32,
    /// 64-bit float (`tensor(double)`, `*_as_tensor` attributes of type double).
    F64,
}

impl NumberType {
    /// `value` rounded to this type (to nearest, ties to even) and widened back: the identity for
    /// [`NumberType::F64`], `value as f32 as f64` for [`NumberType::F32`].
    pub fn round(self, value: f64) -> f64 {
        match self {
            Self::F32 => f64::from(value as f32),
            Self::F64 => value,
        }
    }
}

/// A tree ensemble read from an ONNX file, faithful to what onnxruntime computes with it.
///
/// Prediction, as [`Ensemble::evaluate`] does it step by step, every arithmetic result rounded
/// to [`Ensemble::precision`] as onnxruntime's float or double arithmetic does:
/// 1. each feature is rounded to [`Input::element_type`] (what a client sends onnxruntime), then
///    to `precision`;
/// 2. each tree is walked from `nodes[0]` to a leaf, and the leaf's weights are added to their
///    score columns, in tree order; a column that no leaf added to is "unscored";
/// 3. [`Aggregate::Average`] divides the sums by the number of trees; [`Ensemble::base_values`]
///    are added (which makes every column scored);
/// 4. the [`Task`] turns the scores into a label and outputs, with [`Ensemble::post_transform`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Ensemble {
    /// Who wrote the file and which operator holds the trees.
    pub source: Source,
    /// The model's one input.
    pub input: Input,
    /// The type splits compare in and scores are added in: the element type at the tree
    /// operator's input (onnxruntime's threshold type). Every threshold, weight and base value
    /// below is exactly representable in it.
    pub precision: NumberType,
    /// The type the thresholds and weights were declared with: [`NumberType::F64`] when the file
    /// uses double `*_as_tensor` attributes (or double `TreeEnsemble` tensors), else
    /// [`NumberType::F32`]. Never wider than `precision`.
    pub attribute_type: NumberType,
    /// The trees, in the order onnxruntime adds them (first appearance in the file). Not empty.
    pub trees: Vec<Tree>,
    /// Number of score columns the leaves add into: the classes of a [`ClassScoring::PerClass`]
    /// classifier, 1 for a binary classifier, the targets of a regressor. At least 1.
    pub n_outputs: usize,
    /// How the trees' sums become scores. Always [`Aggregate::Sum`] for classifiers.
    pub aggregate: Aggregate,
    /// Added to the aggregated scores: empty, or one value per score column.
    pub base_values: Vec<f64>,
    /// Applied to the scores after the base values.
    pub post_transform: PostTransform,
    /// Classifier or regressor, and how scores become a label.
    pub task: Task,
    /// The graph outputs, in graph order, and what each carries.
    pub outputs: Vec<Output>,
}

impl Ensemble {
    /// Number of features a row has.
    pub fn n_features(&self) -> usize {
        self.input.n_features
    }

    /// Number of split and leaf nodes over all trees.
    pub fn n_nodes(&self) -> usize {
        self.trees.iter().map(|tree| tree.nodes.len()).sum()
    }
}

/// Where the ensemble came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Source {
    /// `producer_name` of the file, e.g. `skl2onnx` or `OnnxMLTools` (empty when absent).
    pub producer_name: String,
    /// `producer_version` of the file (empty when absent).
    pub producer_version: String,
    /// The file's ONNX IR version (0 when absent).
    pub ir_version: i64,
    /// The operator sets the file imports, as listed (exporters sometimes list one twice).
    pub opsets: Vec<Opset>,
    /// The operator that holds the trees.
    pub operator: Operator,
    /// The `ai.onnx.ml` opset version the file imports.
    pub ml_opset: i64,
}

/// One operator set a model imports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Opset {
    /// The domain: `""` (or `ai.onnx`) for the standard operators, `ai.onnx.ml` for the
    /// tree ensembles.
    pub domain: String,
    /// The opset version.
    pub version: i64,
}

/// The ONNX operator that holds the trees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `ai.onnx.ml` `TreeEnsembleClassifier` (ml opsets 1 to 5).
    TreeEnsembleClassifier,
    /// `ai.onnx.ml` `TreeEnsembleRegressor` (ml opsets 1 to 5).
    TreeEnsembleRegressor,
    /// `ai.onnx.ml` `TreeEnsemble` (ml opset 5), read as a regressor.
    TreeEnsemble,
}

impl Operator {
    /// The ONNX `op_type`.
    pub fn name(self) -> &'static str {
        match self {
            Self::TreeEnsembleClassifier => "TreeEnsembleClassifier",
            Self::TreeEnsembleRegressor => "TreeEnsembleRegressor",
            Self::TreeEnsemble => "TreeEnsemble",
        }
    }
}

/// The model's input: one `[rows, features]` tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Input {
    /// The input's name in the graph.
    pub name: String,
    /// Its element type: what a client converts features to before onnxruntime sees them.
    pub element_type: NumberType,
    /// Number of features: the input shape's second dimension when the file declares it, else
    /// one more than the highest feature a split reads.
    pub n_features: usize,
    /// Whether `n_features` comes from the declared shape.
    pub n_features_declared: bool,
}

/// One tree: `nodes[0]` is the root, and every child index is greater than its parent's index
/// and less than `nodes.len()`, so a walk always ends at a leaf.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Tree {
    /// The tree's id in the file: `nodes_treeids` for the classic operators, the position in
    /// `tree_roots` for `TreeEnsemble`.
    pub onnx_tree_id: i64,
    /// The nodes in depth-first order, true branch first (a canonical order: files need not
    /// list nodes in pre-order, and node ids restart per tree).
    pub nodes: Vec<Node>,
}

/// A node of a tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// An interior node: a comparison and two children.
    Split(Split),
    /// A leaf: the weights it adds.
    Leaf(Leaf),
}

/// An interior node. `x` is the row's value of `feature`, rounded as [`Ensemble`] describes:
/// the walk goes to `true_child` when `x` compares true against `threshold`, or when `x` is NaN
/// and `missing_tracks_true` is set; otherwise to `false_child` (NaN compares false).
///
/// `BRANCH_GT` and `BRANCH_GTE` splits are stored as their negation, `BRANCH_LEQ` and
/// `BRANCH_LT`, with the children swapped and `missing_tracks_true` flipped, so the walk goes
/// where onnxruntime's does for every input, NaN included.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Split {
    /// The node's id in the file (`nodes_nodeids`, or its position in `nodes_*` for
    /// `TreeEnsemble`), for messages.
    pub onnx_node_id: i64,
    /// Index of the feature compared, less than [`Input::n_features`].
    pub feature: usize,
    /// The threshold, finite and exactly representable in [`Ensemble::precision`].
    pub threshold: f64,
    /// How `x` is compared to `threshold`.
    pub comparison: Comparison,
    /// Whether a NaN goes to `true_child`.
    pub missing_tracks_true: bool,
    /// Index in [`Tree::nodes`] of the child taken when the comparison holds.
    pub true_child: usize,
    /// Index in [`Tree::nodes`] of the other child.
    pub false_child: usize,
}

/// How a split compares the feature `x` to its threshold `t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Comparison {
    /// `x <= t` (ONNX `BRANCH_LEQ`; what scikit-learn and LightGBM exports use).
    LessOrEqual,
    /// `x < t` (ONNX `BRANCH_LT`).
    Less,
}

impl Comparison {
    /// Whether `x` compares true against `threshold` (false for NaN).
    pub fn holds(self, x: f64, threshold: f64) -> bool {
        match self {
            Self::LessOrEqual => x <= threshold,
            Self::Less => x < threshold,
        }
    }
}

/// A leaf.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Leaf {
    /// The node's id in the file (`nodes_nodeids`, or its position in `leaf_*` for
    /// `TreeEnsemble`), for messages.
    pub onnx_node_id: i64,
    /// What the leaf adds: at least one weight, each score column at most once, in file order.
    pub weights: Vec<LeafWeight>,
}

/// One weight of a leaf.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct LeafWeight {
    /// The score column, less than [`Ensemble::n_outputs`].
    pub output: usize,
    /// The value added, finite and exactly representable in [`Ensemble::precision`].
    pub value: f64,
}

/// How the trees' sums become scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Aggregate {
    /// The sums as they are (boosting; also scikit-learn forests, whose exporters divide the
    /// leaf weights by the number of trees).
    Sum,
    /// The sums divided by the number of trees.
    Average,
}

/// The function applied to the scores after the base values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PostTransform {
    /// The scores as they are.
    None,
    /// `1 / (1 + e^-s)` on each score (for a binary margin see [`ClassScoring::BinaryMargin`]).
    Logistic,
    /// `e^s / sum(e^s)` over all score columns, unscored ones counting as 0.
    Softmax,
}

/// What the model predicts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    /// A classifier: a label per row and a score per class.
    Classifier {
        /// The class labels, in the order of the score columns.
        labels: ClassLabels,
        /// How the scores become a label and per-class outputs.
        scoring: ClassScoring,
    },
    /// A regressor: [`Ensemble::n_outputs`] values per row.
    Regressor,
}

/// Class labels, at least two and in score-column order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassLabels {
    /// `classlabels_int64s`.
    Int64(Vec<i64>),
    /// `classlabels_strings`.
    Strings(Vec<String>),
}

impl ClassLabels {
    /// Number of classes.
    pub fn len(&self) -> usize {
        match self {
            Self::Int64(labels) => labels.len(),
            Self::Strings(labels) => labels.len(),
        }
    }

    /// Always false: a classifier has at least two classes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How a classifier's scores become a label and its per-class outputs (onnxruntime's rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClassScoring {
    /// One score column per class. The label is the class with the highest score among the
    /// scored ones, the first such class on a tie (base values make every class scored). The
    /// outputs are the scores after the post-transform.
    PerClass,
    /// Two classes and one score column `s` holding the second class's probability, all leaf
    /// weights non-negative (scikit-learn forests as skl2onnx writes them). Label: the second
    /// class when `s > 0.5`, else the first. Outputs: `[1 - s, s]`. The post-transform is
    /// [`PostTransform::None`].
    BinaryProbability,
    /// Two classes and one score column `s`, a margin for the second class, some leaf weight
    /// negative (gradient boosting, LightGBM). Label: the second class when `s > 0`, else the
    /// first. Outputs: `[logistic(-s), logistic(s)]` with [`PostTransform::Logistic`], `[-s, s]`
    /// with [`PostTransform::None`].
    BinaryMargin,
}

/// A graph output and what it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Output {
    /// The output's name in the graph.
    pub name: String,
    /// What it carries.
    pub kind: OutputKind,
}

/// What a graph output carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputKind {
    /// A classifier's label per row.
    Label,
    /// The scores per row: class probabilities, or a regressor's values.
    Scores,
    /// A classifier's probabilities as one `{label: probability}` map per row (`ZipMap`).
    ScoreMap,
}
