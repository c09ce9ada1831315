//! The versioned model artifact (`model.json`): the one serialised format shared by the trainer,
//! the importer, the registry and the handler.
//!
//! Format version 2 describes one general tree ensemble: every leaf holds a vector of values,
//! the ensemble aggregates the leaves a row reaches (average or sum), adds base values and applies
//! a post-transform; the schema says how to read the result (a classifier with integer or string
//! labels, or a regressor). `docs/artifact-format.md` describes every field. Version 1 artifacts
//! (smartcore forests that vote) are converted on read ([`v1`]); [`census`] counts what a
//! document holds before it is parsed, so that [`ModelLimits`] refuse a hostile one early.

mod census;
mod v1;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::error::{ArtifactError, Limited};
use crate::evaluation::Evaluation;
use crate::limits::ModelLimits;

/// The artifact format this build writes; it reads this one and every earlier one.
pub const FORMAT_VERSION: u32 = 2;

/// A model artifact as written to `model.json` (format version 2).
///
/// Loading one goes through [`crate::Model::from_json`], which checks the format version, the
/// limits, the ensemble digest, the ensemble's structure and the schema before anything can
/// predict with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelArtifact {
    /// Format of this document; see [`FORMAT_VERSION`].
    pub format_version: u32,
    /// What the model is and where it came from.
    pub metadata: ModelMetadata,
    /// What rows hold and what the ensemble's output means.
    pub schema: Schema,
    /// Hex SHA-256 of the ensemble's canonical JSON (see [`ensemble_sha256`]).
    pub ensemble_sha256: String,
    /// The trees and how their leaves combine.
    pub ensemble: EnsembleSpec,
}

/// Identity, provenance and quality of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelMetadata {
    /// Model name in the registry, e.g. `fluxops`.
    pub name: String,
    /// Version in the registry, e.g. `20261127T220000Z-1a2b3c4d`.
    pub version: String,
    /// When the artifact was made (training finished, or the import ran), UTC.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Trained here, or imported from another framework.
    pub origin: Origin,
    /// The algorithm that made the trees, with its parameters.
    pub algorithm: Algorithm,
    /// Where the training data came from; `None` for imports, which do not say.
    pub training_data: Option<TrainingData>,
    /// How the model did on held-out rows; `None` when nobody measured it.
    pub evaluation: Option<Evaluation>,
}

/// Where a model came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Origin {
    /// Trained by `fluxops-train`.
    Trained {
        /// Version of `fluxops-train`, e.g. `0.1.0`.
        trainer_version: String,
    },
    /// Imported from a model file written by another framework.
    Imported {
        /// Version of the importer, e.g. `0.1.0`.
        importer_version: String,
        /// Format of the imported file, e.g. `onnx`.
        file_format: String,
        /// Hex SHA-256 of the imported file.
        file_sha256: String,
        /// Framework the model was trained with, when the file says, e.g. `scikit-learn`.
        framework: Option<String>,
        /// Tool that wrote the file, with its version, e.g. `skl2onnx 1.17.0`.
        converter: String,
        /// Operator sets the file uses, by domain, e.g. `{"ai.onnx.ml": 3}`.
        opsets: BTreeMap<String, i64>,
        /// Names of the file's outputs, e.g. `["label", "probabilities"]`.
        output_names: Vec<String>,
    },
}

/// The algorithm that made the trees: a name, the library and a map of its parameters, which
/// differ from one library to the next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Algorithm {
    /// What was fitted, e.g. `random_forest_classifier`.
    pub name: String,
    /// Library and version that fitted the trees, e.g. `smartcore 0.7.0`.
    pub library: String,
    /// The parameters as the library names them, e.g. `{"n_trees": 100, "max_depth": 10}`.
    pub parameters: serde_json::Map<String, serde_json::Value>,
}

/// Provenance of the training data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingData {
    /// File path or URL the data came from, or `synthetic:<rows>:<seed>`.
    pub source: String,
    /// Hex SHA-256 of the data as read (the file bytes, or the synthetic set as CSV).
    pub sha256: String,
    /// Rows in the data set.
    pub n_rows: usize,
    /// Rows used to fit.
    pub n_train_rows: usize,
    /// Rows held out for evaluation.
    pub n_test_rows: usize,
    /// Share of rows held out.
    pub test_size: f64,
}

/// What a row holds and what the ensemble's output means.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    /// Feature names, in the order rows must give them; one per ensemble feature.
    pub feature_names: Vec<String>,
    /// Classifier or regressor.
    pub task: Task,
}

/// What the model predicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Task {
    /// One class per row, with a probability per class.
    ///
    /// The ensemble has one output per class, in label order, or, for exactly two classes, one
    /// output that is the probability of the second class: the probabilities are then
    /// `[1 - p, p]` (the form scikit-learn's ONNX converter writes for binary problems), and
    /// the predicted class is the more probable one, the first on a tie.
    ///
    /// With one output per class, the predicted class is the one with the highest score before
    /// the post-transform (so the most probable one: the transforms keep the order), the lowest
    /// index on a tie, leaving out classes no leaf scored: those whose score is exactly `-0.0`
    /// (see [`EnsembleSpec`]).
    Classifier {
        /// The class labels, in class-index order; unique.
        labels: ClassLabels,
    },
    /// One number per output and row.
    Regressor {},
}

/// Class labels: integers or strings, unique, in class-index order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ClassLabels {
    /// Integer labels, e.g. `[0, 1]`.
    Integers(Vec<i64>),
    /// String labels, e.g. `["cat", "dog"]`.
    Strings(Vec<String>),
}

impl ClassLabels {
    /// Number of classes.
    pub fn len(&self) -> usize {
        match self {
            ClassLabels::Integers(labels) => labels.len(),
            ClassLabels::Strings(labels) => labels.len(),
        }
    }

    /// Whether there are no classes (never so in a loaded model).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether no label appears twice.
    pub(crate) fn are_unique(&self) -> bool {
        fn unique<T: Ord>(labels: &[T]) -> bool {
            let mut sorted: Vec<&T> = labels.iter().collect();
            sorted.sort_unstable();
            sorted.windows(2).all(|pair| pair[0] != pair[1])
        }
        match self {
            ClassLabels::Integers(labels) => unique(labels),
            ClassLabels::Strings(labels) => unique(labels),
        }
    }
}

/// The serialised tree ensemble: what the artifact stores and its digest covers.
///
/// A row's output is computed in four steps: every tree takes the row from its root to one leaf;
/// the leaves' value vectors are summed in tree order, starting from `-0.0`, and, for
/// [`Aggregation::Average`], divided by the number of trees; [`EnsembleSpec::base_values`] are
/// added; [`EnsembleSpec::post_transform`] is applied. Every addition and the division are
/// rounded to [`EnsembleSpec::score_type`]. [`EnsembleSpec::reference_scores`] does exactly
/// this, one node at a time.
///
/// A leaf value of `-0.0` means "no value for this output": `-0.0` adds nothing to any number
/// (`x + -0.0 == x`, also for `x = +0.0`), so a score stays `-0.0` exactly when no leaf the row
/// reached, and no base value, gave it one. A classifier leaves such classes out of its choice
/// (see [`Task::Classifier`]), as ONNX tree ensembles without base values do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnsembleSpec {
    /// Number of input features every row must have.
    pub n_features: usize,
    /// Length of every leaf's values, of the base values and of the output.
    pub n_outputs: usize,
    /// How the leaves a row reaches are combined.
    pub aggregation: Aggregation,
    /// Added to the aggregated leaves; one per output.
    pub base_values: Vec<f64>,
    /// Applied last.
    pub post_transform: PostTransform,
    /// The number type scores are added in: `f64` (the default, left out of the JSON), or `f32`
    /// for models from ONNX `float` tree ensembles, whose runtimes round every step to `f32`.
    /// With `f32`, every leaf value and base value must be an `f32` value.
    #[serde(default, skip_serializing_if = "is_default")]
    pub score_type: NumberType,
    /// The trees.
    pub trees: Vec<TreeSpec>,
}

/// How the leaves a row reaches are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    /// The sum divided by the number of trees (random forests).
    Average,
    /// The sum (gradient boosting).
    Sum,
}

/// The function applied to the output last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostTransform {
    /// The output as it is.
    None,
    /// `1 / (1 + e^-x)` on each output.
    Logistic,
    /// `e^x_i / sum_j e^x_j` over the outputs (needs two or more).
    Softmax,
}

/// One serialised tree: node 0 is the root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreeSpec {
    /// The nodes, root first; children always after their parent.
    pub nodes: Vec<NodeSpec>,
}

/// One node of a serialised tree.
///
/// Children are indices into the same tree's node list and always come after their parent,
/// which makes cycles impossible by construction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum NodeSpec {
    /// An internal node that tests one feature: a row goes `left` when the comparison
    /// `row[feature] <comparison> threshold` holds (in `threshold_type`), `right` otherwise, and
    /// `missing_goes` when the value is missing (NaN).
    ///
    /// The last three fields are left out of the JSON when they have their defaults (`<=`,
    /// `f64`, `right`: how smartcore compares).
    Split {
        /// Index of the feature tested.
        feature: usize,
        /// The value compared against; finite, and an `f32` value when `threshold_type` is `f32`.
        threshold: f64,
        /// Index of the child for rows where the comparison holds.
        left: usize,
        /// Index of the child for the other rows.
        right: usize,
        /// `<=` or `<`.
        #[serde(default, skip_serializing_if = "is_default")]
        comparison: Comparison,
        /// The number type both sides are compared in.
        #[serde(default, skip_serializing_if = "is_default")]
        threshold_type: NumberType,
        /// Where a missing value goes.
        #[serde(default, skip_serializing_if = "is_default")]
        missing_goes: Side,
    },
    /// A leaf: what the tree contributes for a row that ends here.
    Leaf {
        /// One finite value per ensemble output (class weights, or regression values).
        values: Vec<f64>,
    },
}

impl NodeSpec {
    /// A split with the default comparison: `row[feature] <= threshold` in `f64` goes `left`;
    /// a missing value goes `right`.
    pub fn split(feature: usize, threshold: f64, left: usize, right: usize) -> Self {
        NodeSpec::Split {
            feature,
            threshold,
            left,
            right,
            comparison: Comparison::default(),
            threshold_type: NumberType::default(),
            missing_goes: Side::default(),
        }
    }

    /// A leaf holding `values`.
    pub fn leaf(values: Vec<f64>) -> Self {
        NodeSpec::Leaf { values }
    }

    /// A leaf whose values are all 0 but a 1 at `class`: one vote for `class` out of `n_classes`;
    /// `None` when `class` is not below `n_classes` (a vote for no class is never made silently).
    pub fn one_hot_leaf(class: usize, n_classes: usize) -> Option<Self> {
        let mut values = vec![0.0; n_classes];
        *values.get_mut(class)? = 1.0;
        Some(NodeSpec::Leaf { values })
    }
}

/// The comparison a split makes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    /// `value <= threshold` goes left.
    #[default]
    #[serde(rename = "<=")]
    LessOrEqual,
    /// `value < threshold` goes left.
    #[serde(rename = "<")]
    Less,
}

/// A number type: what a split compares in ([`NodeSpec::Split`]'s `threshold_type`), and what
/// an ensemble adds its scores in ([`EnsembleSpec::score_type`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NumberType {
    /// `f64`: a split compares the row's value as it is; scores are added in `f64`.
    #[default]
    F64,
    /// `f32`, as ONNX runtimes compute for `float` models: a split compares the row's value
    /// rounded to `f32` (nearest, ties to even), `(value as f32) <= threshold`; every step of
    /// adding scores is rounded to `f32`.
    F32,
}

impl NumberType {
    /// `value` rounded to this type and widened back: the identity for `f64`, `value as f32`
    /// for `f32` (nearest, ties to even).
    #[inline(always)]
    pub fn round(self, value: f64) -> f64 {
        match self {
            NumberType::F64 => value,
            NumberType::F32 => f64::from(value as f32),
        }
    }

    /// Whether `value` is exactly a value of this type.
    pub fn represents(self, value: f64) -> bool {
        self.round(value).to_bits() == value.to_bits()
    }
}

/// A side of a split.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The child for rows where the comparison holds.
    Left,
    /// The child for the other rows (where a NaN comparison ends up by itself).
    #[default]
    Right,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

impl ModelArtifact {
    /// Builds a format-version-2 artifact, recording the ensemble's digest.
    pub fn new(metadata: ModelMetadata, schema: Schema, ensemble: EnsembleSpec) -> Self {
        ModelArtifact {
            format_version: FORMAT_VERSION,
            metadata,
            schema,
            ensemble_sha256: ensemble_sha256(&ensemble),
            ensemble,
        }
    }

    /// Serialises the artifact as compact JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an artifact is plain data with string keys")
    }

    /// Parses an artifact of any supported format version within `limits`, converting an older
    /// one to the current form, and checks its digest.
    ///
    /// Before anything proportional to the document is allocated, the byte size and a count of
    /// the trees, nodes, leaf values, outputs, features and metadata are checked against
    /// `limits`. The ensemble's structure is checked when it is compiled
    /// ([`crate::Model::from_artifact`]).
    pub fn from_json(bytes: &[u8], limits: &ModelLimits) -> Result<Self, ArtifactError> {
        limits.check(Limited::ModelBytes, bytes.len())?;
        let format_version = census::check(bytes, limits)?;
        let artifact = match format_version {
            1 => v1::parse(bytes)?,
            _ => serde_json::from_slice::<ModelArtifact>(bytes)?,
        };
        artifact.check_digest()?;
        Ok(artifact)
    }

    /// Checks that the ensemble hashes to the recorded digest.
    pub(crate) fn check_digest(&self) -> Result<(), ArtifactError> {
        let computed = ensemble_sha256(&self.ensemble);
        if computed == self.ensemble_sha256 {
            Ok(())
        } else {
            Err(ArtifactError::DigestMismatch {
                recorded: self.ensemble_sha256.clone(),
                computed,
            })
        }
    }
}

impl EnsembleSpec {
    /// A voting forest (what smartcore and format version 1 make): `trees` whose leaves are
    /// one-hot over `n_classes` classes ([`NodeSpec::one_hot_leaf`]), averaged, with no base
    /// values and no post-transform, so that a class's output is its share of the votes.
    pub fn voting(n_features: usize, n_classes: usize, trees: Vec<TreeSpec>) -> Self {
        Self::averaging(n_features, n_classes, trees)
    }

    /// A forest that averages its trees' leaf values (`n_outputs` each) in `f64`, with no base
    /// values and no post-transform: a random-forest regressor, or a voting forest.
    pub fn averaging(n_features: usize, n_outputs: usize, trees: Vec<TreeSpec>) -> Self {
        EnsembleSpec {
            n_features,
            n_outputs,
            aggregation: Aggregation::Average,
            base_values: vec![0.0; n_outputs],
            post_transform: PostTransform::None,
            score_type: NumberType::F64,
            trees,
        }
    }

    /// The ensemble's output for one row, computed the plain way: one node at a time, exactly as
    /// the format defines it, missing values (NaN) included.
    ///
    /// This is the definition the compiled walk in [`crate::Predictor`] is tested against; it is
    /// slow and meant for checks (an importer comparing against its source, say). The compiled
    /// walk refuses non-finite values instead, so the two agree on every finite row.
    ///
    /// Gives `None` for a malformed ensemble (a child or feature index out of range, a path
    /// longer than the tree, a leaf of the wrong width; compiling it says which) or a row of the
    /// wrong length.
    pub fn reference_scores(&self, row: &[f64]) -> Option<Vec<f64>> {
        let mut scores = self.reference_untransformed(row)?;
        transform(&mut scores, self.post_transform);
        Some(scores)
    }

    /// The class a classifier with this ensemble predicts for one row, computed the plain way
    /// (see [`EnsembleSpec::reference_scores`]): with one output, the binary rule on `[1 - p,
    /// p]`; otherwise the highest score before the post-transform among the scored outputs
    /// ([`Task::Classifier`]).
    ///
    /// Gives `None` where [`EnsembleSpec::reference_scores`] does.
    pub fn reference_class_index(&self, row: &[f64]) -> Option<usize> {
        let scores = self.reference_untransformed(row)?;
        Some(match scores[..] {
            [score] => {
                let mut probability = [score];
                transform(&mut probability, self.post_transform);
                binary_class_index(probability[0])
            }
            _ => class_index(&scores),
        })
    }

    /// The scores before the post-transform: leaves summed, aggregated, base values added.
    fn reference_untransformed(&self, row: &[f64]) -> Option<Vec<f64>> {
        if row.len() != self.n_features || self.base_values.len() != self.n_outputs {
            return None;
        }
        let mut scores = vec![-0.0; self.n_outputs];
        for tree in &self.trees {
            let values = reference_leaf(tree, row)?;
            if values.len() != self.n_outputs {
                return None;
            }
            for (score, value) in scores.iter_mut().zip(values) {
                *score = self.score_type.round(*score + value);
            }
        }
        aggregate(
            &mut scores,
            self.aggregation,
            self.trees.len(),
            &self.base_values,
            self.score_type,
        );
        Some(scores)
    }
}

/// Walks one tree the plain way and returns the values of the leaf `row` reaches.
fn reference_leaf<'t>(tree: &'t TreeSpec, row: &[f64]) -> Option<&'t [f64]> {
    let mut node_idx = 0;
    // A proper tree reaches a leaf in fewer steps than it has nodes.
    for _ in 0..tree.nodes.len() {
        match *tree.nodes.get(node_idx)? {
            NodeSpec::Leaf { ref values } => return Some(values),
            NodeSpec::Split {
                feature,
                threshold,
                left,
                right,
                comparison,
                threshold_type,
                missing_goes,
            } => {
                let value = *row.get(feature)?;
                let goes_left = if value.is_nan() {
                    missing_goes == Side::Left
                } else {
                    match (threshold_type, comparison) {
                        (NumberType::F64, Comparison::LessOrEqual) => value <= threshold,
                        (NumberType::F64, Comparison::Less) => value < threshold,
                        (NumberType::F32, Comparison::LessOrEqual) => {
                            (value as f32) <= (threshold as f32)
                        }
                        (NumberType::F32, Comparison::Less) => (value as f32) < (threshold as f32),
                    }
                };
                node_idx = if goes_left { left } else { right };
            }
        }
    }
    None
}

/// Turns summed leaf values into scores, in place: average (sum divided by the number of trees),
/// add the base values, each step rounded to `score_type`.
///
/// Dividing the sum (rather than summing shares) keeps vote shares exact: `votes / n_trees`.
#[inline(always)]
pub(crate) fn aggregate(
    scores: &mut [f64],
    aggregation: Aggregation,
    n_trees: usize,
    base_values: &[f64],
    score_type: NumberType,
) {
    let n_trees = n_trees as f64;
    let average = aggregation == Aggregation::Average;
    match score_type {
        NumberType::F64 => {
            for (score, base) in scores.iter_mut().zip(base_values) {
                if average {
                    *score /= n_trees;
                }
                *score += base;
            }
        }
        NumberType::F32 => {
            for (score, base) in scores.iter_mut().zip(base_values) {
                if average {
                    *score = score_type.round(*score / n_trees);
                }
                *score = score_type.round(*score + base);
            }
        }
    }
}

/// Applies the post-transform to scores, in place.
#[inline(always)]
pub(crate) fn transform(scores: &mut [f64], post_transform: PostTransform) {
    match post_transform {
        PostTransform::None => {}
        PostTransform::Logistic => {
            for score in scores.iter_mut() {
                *score = 1.0 / (1.0 + (-*score).exp());
            }
        }
        PostTransform::Softmax => {
            let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mut total = 0.0;
            for score in scores.iter_mut() {
                *score = (*score - max).exp();
                total += *score;
            }
            for score in scores.iter_mut() {
                *score /= total;
            }
        }
    }
}

/// The class a classifier with one output per class predicts from its scores before the
/// post-transform: the highest, the lowest index on a tie, leaving out the unscored ones
/// (exactly `-0.0`); class 0 if every class is unscored.
#[inline(always)]
pub(crate) fn class_index(scores: &[f64]) -> usize {
    // Scores are finite (compiling checks that sums cannot overflow), so the first scored one
    // is above the start.
    let (mut best, mut best_score) = (0, f64::NEG_INFINITY);
    for (idx, &score) in scores.iter().enumerate() {
        if score > best_score && score.to_bits() != UNSCORED {
            (best, best_score) = (idx, score);
        }
    }
    best
}

/// The class a two-class classifier with one output `p` (the probability of the second class)
/// predicts: the more probable of `[1 - p, p]`, the first on a tie.
#[inline(always)]
pub(crate) fn binary_class_index(p: f64) -> usize {
    usize::from(p > 1.0 - p)
}

/// The bits of `-0.0`: a score no leaf gave a value.
const UNSCORED: u64 = 0x8000_0000_0000_0000;

/// Hex SHA-256 of an ensemble's canonical JSON: compact, fields in declaration order, default
/// split settings left out, floats in their shortest round-trip form.
pub fn ensemble_sha256(ensemble: &EnsembleSpec) -> String {
    canonical_sha256(ensemble)
}

/// Hex SHA-256 of a value's compact JSON, hashed as it is written rather than kept: a large
/// model is not copied to be verified.
pub(crate) fn canonical_sha256(value: &impl Serialize) -> String {
    let mut hasher = Sha256::new();
    serde_json::to_writer(&mut hasher, value)
        .expect("artifact types are plain data with string keys");
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stump(
        comparison: Comparison,
        threshold_type: NumberType,
        missing_goes: Side,
    ) -> EnsembleSpec {
        EnsembleSpec {
            n_features: 1,
            n_outputs: 1,
            aggregation: Aggregation::Sum,
            base_values: vec![0.0],
            post_transform: PostTransform::None,
            score_type: NumberType::F64,
            trees: vec![TreeSpec {
                nodes: vec![
                    NodeSpec::Split {
                        feature: 0,
                        threshold: 0.5,
                        left: 1,
                        right: 2,
                        comparison,
                        threshold_type,
                        missing_goes,
                    },
                    NodeSpec::leaf(vec![-1.0]),
                    NodeSpec::leaf(vec![1.0]),
                ],
            }],
        }
    }

    #[test]
    fn a_one_hot_leaf_votes_for_a_class_in_range_only() {
        assert_eq!(
            NodeSpec::one_hot_leaf(1, 3),
            Some(NodeSpec::leaf(vec![0.0, 1.0, 0.0]))
        );
        assert_eq!(NodeSpec::one_hot_leaf(3, 3), None);
    }

    #[test]
    fn the_reference_walk_sends_missing_values_where_the_split_says() {
        for threshold_type in [NumberType::F64, NumberType::F32] {
            for comparison in [Comparison::LessOrEqual, Comparison::Less] {
                let left = stump(comparison, threshold_type, Side::Left);
                let right = stump(comparison, threshold_type, Side::Right);
                assert_eq!(left.reference_scores(&[f64::NAN]), Some(vec![-1.0]));
                assert_eq!(right.reference_scores(&[f64::NAN]), Some(vec![1.0]));
                // Other values are compared, whatever the missing side.
                assert_eq!(left.reference_scores(&[0.0]), Some(vec![-1.0]));
                assert_eq!(left.reference_scores(&[f64::INFINITY]), Some(vec![1.0]));
                assert_eq!(
                    right.reference_scores(&[f64::NEG_INFINITY]),
                    Some(vec![-1.0])
                );
            }
        }
    }

    #[test]
    fn the_reference_walk_compares_as_the_split_says() {
        let le = stump(Comparison::LessOrEqual, NumberType::F64, Side::Right);
        let lt = stump(Comparison::Less, NumberType::F64, Side::Right);
        assert_eq!(le.reference_scores(&[0.5]), Some(vec![-1.0]));
        assert_eq!(lt.reference_scores(&[0.5]), Some(vec![1.0]));
        // 0.5 + 2^-30 rounds to 0.5 in f32: equal there, above in f64.
        let nudged = 0.5 + 2f64.powi(-30);
        assert_eq!(le.reference_scores(&[nudged]), Some(vec![1.0]));
        let le32 = stump(Comparison::LessOrEqual, NumberType::F32, Side::Right);
        let lt32 = stump(Comparison::Less, NumberType::F32, Side::Right);
        assert_eq!(le32.reference_scores(&[nudged]), Some(vec![-1.0]));
        assert_eq!(lt32.reference_scores(&[nudged]), Some(vec![1.0]));
    }

    #[test]
    fn the_reference_walk_refuses_a_malformed_tree_instead_of_looping() {
        let mut looping = stump(Comparison::LessOrEqual, NumberType::F64, Side::Right);
        if let NodeSpec::Split { left, .. } = &mut looping.trees[0].nodes[0] {
            *left = 0;
        }
        assert_eq!(looping.reference_scores(&[0.0]), None);
        let mut dangling = stump(Comparison::LessOrEqual, NumberType::F64, Side::Right);
        if let NodeSpec::Split { right, .. } = &mut dangling.trees[0].nodes[0] {
            *right = 9;
        }
        assert_eq!(dangling.reference_scores(&[1.0]), None);
        assert_eq!(dangling.reference_scores(&[1.0, 2.0]), None);
    }

    #[test]
    fn default_split_settings_stay_out_of_the_json() {
        let plain = serde_json::to_string(&NodeSpec::split(3, 0.25, 1, 2)).unwrap();
        assert_eq!(
            plain,
            r#"{"split":{"feature":3,"threshold":0.25,"left":1,"right":2}}"#
        );
        let explicit: NodeSpec = serde_json::from_str(
            r#"{"split":{"feature":3,"threshold":0.25,"left":1,"right":2,"comparison":"<=","threshold_type":"f64","missing_goes":"right"}}"#,
        )
        .unwrap();
        assert_eq!(explicit, NodeSpec::split(3, 0.25, 1, 2));
        let other = NodeSpec::Split {
            feature: 0,
            threshold: 0.5,
            left: 1,
            right: 2,
            comparison: Comparison::Less,
            threshold_type: NumberType::F32,
            missing_goes: Side::Left,
        };
        let json = serde_json::to_string(&other).unwrap();
        assert!(
            json.contains(r#""comparison":"<","threshold_type":"f32","missing_goes":"left""#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<NodeSpec>(&json).unwrap(), other);
    }

    #[test]
    fn the_score_type_stays_out_of_the_json_unless_f32() {
        let mut spec = stump(Comparison::LessOrEqual, NumberType::F64, Side::Right);
        let plain = serde_json::to_string(&spec).unwrap();
        assert!(!plain.contains("score_type"), "{plain}");
        spec.score_type = NumberType::F32;
        let json = serde_json::to_string(&spec).unwrap();
        assert!(json.contains(r#""score_type":"f32","trees""#), "{json}");
        assert_eq!(serde_json::from_str::<EnsembleSpec>(&json).unwrap(), spec);
        assert_ne!(ensemble_sha256(&spec), {
            spec.score_type = NumberType::F64;
            ensemble_sha256(&spec)
        });
    }

    #[test]
    fn the_reference_class_skips_unscored_outputs_and_reads_one_output_as_binary() {
        let mut spec = stump(Comparison::LessOrEqual, NumberType::F64, Side::Right);
        spec.n_outputs = 3;
        spec.base_values = vec![-0.0; 3];
        spec.trees[0].nodes[1] = NodeSpec::leaf(vec![-0.0, -3.0, -2.0]);
        spec.trees[0].nodes[2] = NodeSpec::leaf(vec![-0.0, 0.0, -0.0]);
        assert_eq!(spec.reference_class_index(&[0.0]), Some(2));
        assert_eq!(spec.reference_class_index(&[1.0]), Some(1));
        let binary = stump(Comparison::LessOrEqual, NumberType::F64, Side::Right);
        assert_eq!(binary.reference_class_index(&[0.0]), Some(0));
        assert_eq!(binary.reference_class_index(&[1.0]), Some(1));
        assert_eq!(binary.reference_class_index(&[1.0, 2.0]), None);
    }

    #[test]
    fn post_transforms_follow_their_formulas() {
        let mut scores = [0.0, 2.0_f64.ln()];
        transform(&mut scores, PostTransform::Softmax);
        assert!((scores[0] - 1.0 / 3.0).abs() < 1e-15 && (scores[1] - 2.0 / 3.0).abs() < 1e-15);
        let mut scores = [3.0];
        aggregate(
            &mut scores,
            Aggregation::Average,
            2,
            &[-1.5],
            NumberType::F64,
        );
        transform(&mut scores, PostTransform::Logistic);
        assert_eq!(scores, [0.5]);
        // Extreme scores saturate instead of turning into NaN.
        for post_transform in [PostTransform::Logistic, PostTransform::Softmax] {
            let mut scores = [-1e308, 1e308];
            transform(&mut scores, post_transform);
            assert_eq!(scores, [0.0, 1.0]);
        }
    }
}
