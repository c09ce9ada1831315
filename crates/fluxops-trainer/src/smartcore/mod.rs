//! Fitting smartcore forests, reading their trees into the inference core's form, and checking
//! that the two predict the same: the classifier ([`classifier`]) and the regressor
//! ([`regressor`]) behind one trait, so the training run treats them alike.
//!
//! smartcore 0.7 keeps its trees private; its serde form is the only way to read them. Each
//! module mirrors that form field for field with `deny_unknown_fields`, so a smartcore release
//! that changes it fails loudly (in its tests, and as [`TrainError::SmartcoreLayout`]) instead
//! of compiling a wrong forest. The version is pinned with `=0.7.0` in the workspace manifest.
//!
//! smartcore sends a row to a node's `true_child` when `row[split_feature] <= split_value`, in
//! `f64` (the tests of each module confirm it on a row exactly at a threshold); a node without a
//! `true_child` is a leaf.

pub(crate) mod classifier;
pub(crate) mod regressor;

use std::panic::AssertUnwindSafe;
use std::sync::Mutex;

use fluxops_inference::{EnsembleSpec, ModelLimits, NodeSpec, Prediction, Schema, Task, TreeSpec};
use ndarray::{Array1, Array2};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};
use smartcore::api::{Predictor, SupervisedEstimator};
use smartcore::ensemble::random_forest_classifier::RandomForestClassifier;
use smartcore::ensemble::random_forest_regressor::RandomForestRegressor;
use smartcore::tree::decision_tree_classifier::DecisionTreeClassifier;
use smartcore::tree::decision_tree_regressor::DecisionTreeRegressor;

use crate::error::TrainError;

/// A fitted smartcore forest over `f64` features and `i32` labels.
pub(crate) type Classifier = RandomForestClassifier<f64, i32, Array2<f64>, Array1<i32>>;
/// One tree of a [`Classifier`].
type ClassifierTree = DecisionTreeClassifier<f64, i32, Array2<f64>, Array1<i32>>;
/// A fitted smartcore forest over `f64` features and `f64` targets.
pub(crate) type Regressor = RandomForestRegressor<f64, f64, Array2<f64>, Array1<f64>>;
/// One tree of a [`Regressor`].
type RegressorTree = DecisionTreeRegressor<f64, f64, Array2<f64>, Array1<f64>>;

/// One shard's share of the forest: its trees, their seed and the tree parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShardPlan {
    /// Trees in this shard.
    pub n_trees: usize,
    /// The shard's seed; smartcore seeds its tree `t` with `seed + t`.
    pub seed: u64,
    /// Maximum depth of a tree (`None`: unlimited).
    pub max_depth: Option<u16>,
    /// Minimum rows a node needs to be split.
    pub min_samples_split: usize,
}

/// A smartcore forest the trainer fits, reads and checks: the classifier or the regressor.
pub(crate) trait Forest: Sized + Send {
    /// What smartcore fits on and predicts: `i32` labels or `f64` values.
    type Target: Copy + Send + Sync;
    /// smartcore's parameters of the forest.
    type Parameters: Clone;
    /// One of its trees, as a smartcore model of its own.
    type Tree: Predictor<Array2<f64>, Array1<Self::Target>> + Send;
    /// What the compiled trees mean besides themselves: a classifier's classes.
    type Outputs: Send;

    /// smartcore's parameters for one shard.
    fn parameters(plan: &ShardPlan) -> Self::Parameters;

    /// Reads the fitted forest's serde form: its trees compiled, each tree as a smartcore model
    /// of its own, and what the outputs mean.
    fn read_trees(&self, n_features: usize) -> Result<ShardParts<Self>, TrainError>;

    /// The task and the ensemble that `trees` form, as a served model runs them.
    fn ensemble(
        trees: Vec<TreeSpec>,
        n_features: usize,
        outputs: &Self::Outputs,
    ) -> (Task, EnsembleSpec);

    /// Whether a compiled prediction is exactly smartcore's `expected`; if not, how they differ.
    fn agrees(
        prediction: &Prediction<'_>,
        expected: Self::Target,
        outputs: &Self::Outputs,
    ) -> Result<(), String>;
}

/// A [`Forest`] smartcore fits and predicts with.
pub(crate) trait Fit: Forest
    + SupervisedEstimator<Array2<f64>, Array1<<Self as Forest>::Target>, <Self as Forest>::Parameters>
{
    /// Fits one shard's forest.
    fn fit_shard(
        features: &Array2<f64>,
        targets: &Array1<Self::Target>,
        plan: &ShardPlan,
    ) -> Result<Self, TrainError> {
        <Self as SupervisedEstimator<_, _, _>>::fit(features, targets, Self::parameters(plan))
            .map_err(smartcore_failed)
    }

    /// Reads the fitted forest's trees and compiles them.
    fn compile(self, n_features: usize) -> Result<Shard<Self>, TrainError> {
        let (trees, smartcore_trees, outputs) = self.read_trees(n_features)?;
        Ok(Shard {
            forest: self,
            trees,
            smartcore_trees,
            outputs,
        })
    }
}

impl<F> Fit for F where
    F: Forest + SupervisedEstimator<Array2<f64>, Array1<F::Target>, F::Parameters>
{
}

/// A forest's trees compiled, the same trees as smartcore models, and what the outputs mean.
pub(crate) type ShardParts<F> = (
    Vec<TreeSpec>,
    Vec<<F as Forest>::Tree>,
    <F as Forest>::Outputs,
);

/// A fitted forest, its compiled trees, and each tree as a smartcore model of its own.
pub(crate) struct Shard<F: Forest> {
    forest: F,
    trees: Vec<TreeSpec>,
    smartcore_trees: Vec<F::Tree>,
    outputs: F::Outputs,
}

impl<F: Fit> Shard<F> {
    /// What the compiled trees mean besides themselves (a classifier's classes).
    pub(crate) fn outputs(&self) -> &F::Outputs {
        &self.outputs
    }

    /// Checks that the compiled trees predict exactly what smartcore predicts on every row of
    /// `features`, for the shard's whole forest and tree by tree; `place` names the shard.
    pub(crate) fn check_agreement(
        &self,
        place: &str,
        features: &Array2<f64>,
    ) -> Result<(), TrainError> {
        let expected = self.forest.predict(features).map_err(smartcore_failed)?;
        self.check_rows(self.trees.clone(), features, &expected, place)?;
        for (tree_idx, (tree, smartcore_tree)) in
            self.trees.iter().zip(&self.smartcore_trees).enumerate()
        {
            let expected = smartcore_tree.predict(features).map_err(smartcore_failed)?;
            let place = format!("{place} tree {tree_idx}");
            self.check_rows(vec![tree.clone()], features, &expected, &place)?;
        }
        Ok(())
    }

    /// The compiled trees, in smartcore's order.
    pub(crate) fn into_trees(self) -> Vec<TreeSpec> {
        self.trees
    }

    /// Compiles `trees` exactly as a served model would be (without limits: the trainer warns
    /// about size instead of refusing) and checks it predicts `expected` for every row.
    fn check_rows(
        &self,
        trees: Vec<TreeSpec>,
        features: &Array2<f64>,
        expected: &Array1<F::Target>,
        place: &str,
    ) -> Result<(), TrainError> {
        let (task, ensemble) = F::ensemble(trees, features.ncols(), &self.outputs);
        let schema = Schema {
            feature_names: (0..features.ncols())
                .map(|index| format!("feature_{index}"))
                .collect(),
            task,
        };
        let compiled =
            fluxops_inference::Predictor::new(schema, &ensemble, &ModelLimits::unlimited())?;
        for (row_idx, (row, &target)) in features.rows().into_iter().zip(expected).enumerate() {
            compiled
                .predict_one(&row.to_vec())
                .map_err(|error| error.to_string())
                .and_then(|prediction| F::agrees(&prediction, target, &self.outputs))
                .map_err(|what| TrainError::Disagreement {
                    what: format!("{place} row {row_idx}: {what}"),
                })?;
        }
        Ok(())
    }
}

/// A node of a smartcore tree's serde form: a leaf's `output` is a class index (classifier) or a
/// value (regressor). Only the classifier's nodes carry `n_node_samples` and `impurity`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeLayout<Output> {
    output: Output,
    split_feature: usize,
    split_value: Option<f64>,
    true_child: Option<usize>,
    false_child: Option<usize>,
    #[serde(rename = "split_score")]
    _split_score: IgnoredAny,
    #[serde(rename = "n_node_samples", default)]
    _n_node_samples: Option<IgnoredAny>,
    #[serde(rename = "impurity", default)]
    _impurity: Option<IgnoredAny>,
}

/// Compiles each tree of a forest's serde form: `read` gives a tree's nodes and its smartcore
/// model, from the tree's serde form and a name for messages; `leaf` compiles a leaf's output.
fn compile_each<Output, Tree>(
    tree_values: Vec<serde_json::Value>,
    read: impl Fn(serde_json::Value, &str) -> Result<(Vec<NodeLayout<Output>>, Tree), TrainError>,
    leaf: impl Fn(&Output) -> Result<NodeSpec, TrainError>,
) -> Result<(Vec<TreeSpec>, Vec<Tree>), TrainError> {
    let mut trees = Vec::with_capacity(tree_values.len());
    let mut smartcore_trees = Vec::with_capacity(tree_values.len());
    for (tree_idx, tree_value) in tree_values.into_iter().enumerate() {
        let (nodes, smartcore_tree) = read(tree_value, &format!("tree {tree_idx}"))?;
        trees.push(compile_tree(tree_idx, &nodes, &leaf)?);
        smartcore_trees.push(smartcore_tree);
    }
    Ok((trees, smartcore_trees))
}

/// Compiles a smartcore tree's nodes, kept at their indices: a node without a true child is a
/// leaf, one with both children and a split value a `<=` split (the default comparison).
fn compile_tree<Output>(
    tree_idx: usize,
    nodes: &[NodeLayout<Output>],
    leaf: impl Fn(&Output) -> Result<NodeSpec, TrainError>,
) -> Result<TreeSpec, TrainError> {
    let nodes = nodes
        .iter()
        .enumerate()
        .map(|(node_idx, node)| match node {
            NodeLayout {
                true_child: None,
                output,
                ..
            } => leaf(output),
            NodeLayout {
                true_child: Some(left),
                false_child: Some(right),
                split_value: Some(threshold),
                split_feature,
                ..
            } => Ok(NodeSpec::split(*split_feature, *threshold, *left, *right)),
            _ => Err(layout_error(format!(
                "tree {tree_idx} node {node_idx} has a true child but no false child or split value"
            ))),
        })
        .collect::<Result<_, _>>()?;
    Ok(TreeSpec { nodes })
}

/// Reads a fitted forest through its serde form as the layout `T`.
fn read_forest<T: DeserializeOwned>(forest: &impl Serialize) -> Result<T, TrainError> {
    let value = serde_json::to_value(forest).map_err(|error| layout_error(error.to_string()))?;
    read_layout(&value, "the forest")
}

/// Reads `value` (`what`: the forest, or one of its trees) as the layout or type `T`, without
/// copying it; a mismatch means smartcore changed its serde form.
fn read_layout<T: DeserializeOwned>(
    value: &serde_json::Value,
    what: &str,
) -> Result<T, TrainError> {
    T::deserialize(value).map_err(|error| layout_error(format!("{what}: {error}")))
}

/// smartcore's serde form is not what this trainer reads.
fn layout_error(message: impl Into<String>) -> TrainError {
    TrainError::SmartcoreLayout(message.into())
}

/// A smartcore failure to fit or to predict.
fn smartcore_failed(error: smartcore::error::Failed) -> TrainError {
    TrainError::Fit(error.to_string())
}

/// Runs `work` on every item on up to `n_threads` scoped threads and returns the results in the
/// items' order. A panic inside `work` (smartcore panics on some inputs) becomes that item's
/// error through `on_panic`, not a crash.
pub(crate) fn in_parallel<T: Send, R: Send>(
    items: Vec<T>,
    n_threads: usize,
    on_panic: fn(String) -> TrainError,
    work: impl Fn(T) -> Result<R, TrainError> + Sync,
) -> Result<Vec<R>, TrainError> {
    let n_items = items.len();
    let queue = Mutex::new(items.into_iter().enumerate());
    let results: Mutex<Vec<Option<Result<R, TrainError>>>> =
        Mutex::new((0..n_items).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..n_threads.clamp(1, n_items.max(1)) {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().ok().and_then(|mut queue| queue.next());
                    let Some((idx, item)) = next else {
                        break;
                    };
                    let result = std::panic::catch_unwind(AssertUnwindSafe(|| work(item)))
                        .unwrap_or_else(|panic| {
                            let message = panic
                                .downcast_ref::<&str>()
                                .map(|text| (*text).to_owned())
                                .or_else(|| panic.downcast_ref::<String>().cloned())
                                .unwrap_or_default();
                            Err(on_panic(message))
                        });
                    if let Ok(mut results) = results.lock() {
                        results[idx] = Some(result);
                    }
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .map(|result| {
            // Every item is taken by exactly one thread and its result stored.
            result.unwrap_or_else(|| Err(on_panic("an item was not processed".to_owned())))
        })
        .collect()
}

/// Checks, on a fitted stump, which way smartcore sends a row exactly at the root's threshold:
/// to its true child, which is the compiled split's left child, and a row just above it to the
/// right; the two leaves must predict differently for the check to mean anything.
#[cfg(test)]
pub(crate) fn assert_threshold_goes_to_the_true_child<F: Fit>(stump: &Shard<F>, n_features: usize)
where
    F::Target: PartialEq + std::fmt::Debug,
{
    let NodeSpec::Split {
        feature,
        threshold,
        left,
        right,
        ..
    } = stump.trees[0].nodes[0]
    else {
        panic!("the stump splits at its root");
    };
    let row_at = |value: f64| {
        Array2::from_shape_fn(
            (1, n_features),
            |(_, column)| {
                if column == feature { value } else { 0.0 }
            },
        )
    };
    let (at, above) = (row_at(threshold), row_at(threshold.next_up()));
    let smartcore_at = stump.smartcore_trees[0].predict(&at).unwrap();
    let smartcore_above = stump.smartcore_trees[0].predict(&above).unwrap();
    assert_ne!(smartcore_at, smartcore_above);
    let leaf = |node: usize| {
        vec![TreeSpec {
            nodes: vec![stump.trees[0].nodes[node].clone()],
        }]
    };
    stump
        .check_rows(leaf(left), &at, &smartcore_at, "left leaf")
        .unwrap();
    stump
        .check_rows(leaf(right), &above, &smartcore_above, "right leaf")
        .unwrap();
    let both = ndarray::concatenate![ndarray::Axis(0), at, above];
    stump.check_agreement("stump", &both).unwrap();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_items_order_and_a_panic_is_an_error() {
        let squares = in_parallel((0..9).collect(), 3, TrainError::Fit, |item: u64| {
            Ok(item * item)
        });
        assert_eq!(squares.unwrap(), vec![0, 1, 4, 9, 16, 25, 36, 49, 64]);
        let panicked = in_parallel(vec![1, 2], 2, TrainError::Fit, |item: u64| {
            assert_ne!(item, 2, "two is not allowed");
            Ok(item)
        });
        let error = panicked.unwrap_err();
        assert!(error.to_string().contains("two is not allowed"), "{error}");
    }
}
