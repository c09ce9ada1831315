//! Fitting smartcore forests and compiling them into the inference core's format.
//!
//! A smartcore forest is the ensemble "one-hot leaves, average" (`EnsembleSpec::voting`): each
//! leaf votes for one class, and a class's probability is its share of the votes.
//!
//! smartcore 0.7 keeps its trees private; its serde form is the only way to read them. The
//! structs below mirror that form field for field with `deny_unknown_fields`, so a smartcore
//! release that changes it fails loudly here (and in this module's tests) instead of compiling a
//! wrong forest. The version is pinned with `=0.7.0` in the workspace manifest.

use fluxops_inference::{
    ClassLabels, EnsembleSpec, ModelLimits, NodeSpec, Prediction, Predictor, Schema, Task, TreeSpec,
};
use ndarray::{Array1, Array2};
use serde::Deserialize;
use serde::de::IgnoredAny;
use smartcore::ensemble::random_forest_classifier::{
    RandomForestClassifier, RandomForestClassifierParameters,
};
use smartcore::tree::decision_tree_classifier::DecisionTreeClassifier;

use crate::error::TrainError;

/// A fitted smartcore forest over `f64` features and `i32` labels.
pub type SmartcoreForest = RandomForestClassifier<f64, i32, Array2<f64>, Array1<i32>>;
type SmartcoreTree = DecisionTreeClassifier<f64, i32, Array2<f64>, Array1<i32>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ForestLayout {
    trees: Option<Vec<serde_json::Value>>,
    classes: Option<Vec<i32>>,
    #[serde(rename = "samples")]
    _samples: IgnoredAny,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TreeLayout {
    nodes: Vec<NodeLayout>,
    num_classes: usize,
    classes: Vec<i32>,
    num_features: usize,
    #[serde(rename = "parameters")]
    _parameters: IgnoredAny,
    #[serde(rename = "depth")]
    _depth: IgnoredAny,
    _phantom_tx: IgnoredAny,
    _phantom_x: IgnoredAny,
    _phantom_y: IgnoredAny,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeLayout {
    output: usize,
    split_feature: usize,
    split_value: Option<f64>,
    true_child: Option<usize>,
    false_child: Option<usize>,
    #[serde(rename = "n_node_samples")]
    _n_node_samples: IgnoredAny,
    #[serde(rename = "split_score")]
    _split_score: IgnoredAny,
    #[serde(rename = "impurity")]
    _impurity: IgnoredAny,
}

/// A fitted smartcore forest, its compiled form, and its trees as smartcore objects.
pub struct CompiledShard {
    /// The fitted forest.
    pub forest: SmartcoreForest,
    /// Its trees in the inference core's format.
    pub trees: Vec<TreeSpec>,
    /// Each tree as a standalone smartcore tree, to check tree by tree.
    pub smartcore_trees: Vec<SmartcoreTree>,
    /// The forest's class labels, ascending.
    pub classes: Vec<i32>,
}

impl std::fmt::Debug for CompiledShard {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("CompiledShard")
            .field("trees", &self.trees.len())
            .field("classes", &self.classes)
            .finish_non_exhaustive()
    }
}

/// Fits one smartcore forest.
pub fn fit(
    features: &Array2<f64>,
    labels: &Array1<i32>,
    parameters: RandomForestClassifierParameters,
) -> Result<SmartcoreForest, TrainError> {
    RandomForestClassifier::fit(features, labels, parameters)
        .map_err(|error| TrainError::Fit(error.to_string()))
}

/// Reads a fitted forest's trees through its serde form and compiles each into a [`TreeSpec`].
pub fn compile(forest: SmartcoreForest, n_features: usize) -> Result<CompiledShard, TrainError> {
    let layout_error = |message: String| TrainError::SmartcoreLayout(message);
    let value = serde_json::to_value(&forest).map_err(|error| layout_error(error.to_string()))?;
    let layout: ForestLayout =
        serde_json::from_value(value).map_err(|error| layout_error(error.to_string()))?;
    let classes = layout
        .classes
        .ok_or_else(|| layout_error("fitted forest has no classes".to_owned()))?;
    let tree_values = layout
        .trees
        .ok_or_else(|| layout_error("fitted forest has no trees".to_owned()))?;
    let mut trees = Vec::with_capacity(tree_values.len());
    let mut smartcore_trees = Vec::with_capacity(tree_values.len());
    for (tree_idx, tree_value) in tree_values.into_iter().enumerate() {
        let smartcore_tree: SmartcoreTree = serde_json::from_value(tree_value.clone())
            .map_err(|error| layout_error(format!("tree {tree_idx}: {error}")))?;
        let tree: TreeLayout = serde_json::from_value(tree_value)
            .map_err(|error| layout_error(format!("tree {tree_idx}: {error}")))?;
        if tree.classes != classes || tree.num_classes != classes.len() {
            return Err(layout_error(format!(
                "tree {tree_idx} has classes {:?}, the forest {classes:?}",
                tree.classes
            )));
        }
        if tree.num_features != n_features {
            return Err(layout_error(format!(
                "tree {tree_idx} has {} features, the data {n_features}",
                tree.num_features
            )));
        }
        trees.push(compile_tree(tree_idx, &tree.nodes, classes.len())?);
        smartcore_trees.push(smartcore_tree);
    }
    Ok(CompiledShard {
        forest,
        trees,
        smartcore_trees,
        classes,
    })
}

/// smartcore sends a row to `true_child` when `row[split_feature] <= split_value` (in `f64`,
/// the split's defaults); a node without a `true_child` is a leaf whose `output` is an index into
/// the forest's sorted classes, and votes for it.
fn compile_tree(
    tree_idx: usize,
    nodes: &[NodeLayout],
    n_classes: usize,
) -> Result<TreeSpec, TrainError> {
    let nodes = nodes
        .iter()
        .enumerate()
        .map(|(node_idx, node)| match (node.true_child, node.false_child, node.split_value) {
            (None, _, _) => Ok(NodeSpec::one_hot_leaf(node.output, n_classes)),
            (Some(left), Some(right), Some(threshold)) => Ok(NodeSpec::split(
                node.split_feature,
                threshold,
                left,
                right,
            )),
            _ => Err(TrainError::SmartcoreLayout(format!(
                "tree {tree_idx} node {node_idx} has a true child but no false child or split value"
            ))),
        })
        .collect::<Result<_, _>>()?;
    Ok(TreeSpec { nodes })
}

/// Compiles `trees` as a voting forest over `classes`, exactly as a served model would be.
///
/// The trainer checks its own work, so it warns about size instead of refusing: no limits here.
fn voting_predictor(
    trees: Vec<TreeSpec>,
    n_features: usize,
    classes: &[i32],
) -> Result<Predictor, TrainError> {
    let schema = Schema {
        feature_names: (0..n_features)
            .map(|index| format!("feature_{index}"))
            .collect(),
        task: Task::Classifier {
            labels: ClassLabels::Integers(classes.iter().map(|&label| i64::from(label)).collect()),
        },
    };
    let ensemble = EnsembleSpec::voting(n_features, classes.len(), trees);
    Ok(Predictor::new(
        schema,
        &ensemble,
        &ModelLimits::unlimited(),
    )?)
}

/// Checks that the compiled trees predict exactly what smartcore predicts, tree by tree and for
/// the shard's whole forest (majority vote and tie rule), on every row of `features`.
pub fn check_agreement(
    shard_idx: usize,
    shard: &CompiledShard,
    features: &Array2<f64>,
) -> Result<usize, TrainError> {
    let forest = voting_predictor(shard.trees.clone(), features.ncols(), &shard.classes)?;
    let expected = shard
        .forest
        .predict(features)
        .map_err(|error| TrainError::Fit(error.to_string()))?;
    check_rows(
        &forest,
        features,
        &expected,
        &format!("shard {shard_idx}"),
        &shard.classes,
    )?;
    for (tree_idx, (tree, smartcore_tree)) in
        shard.trees.iter().zip(&shard.smartcore_trees).enumerate()
    {
        let single = voting_predictor(vec![tree.clone()], features.ncols(), &shard.classes)?;
        let expected = smartcore_tree
            .predict(features)
            .map_err(|error| TrainError::Fit(error.to_string()))?;
        let place = format!("shard {shard_idx} tree {tree_idx}");
        check_rows(&single, features, &expected, &place, &shard.classes)?;
    }
    Ok(features.nrows())
}

/// Checks that `compiled` predicts the label `expected` gives for every row of `features`.
fn check_rows(
    compiled: &Predictor,
    features: &Array2<f64>,
    expected: &Array1<i32>,
    place: &str,
    classes: &[i32],
) -> Result<(), TrainError> {
    for (row_idx, (row, &label)) in features.rows().into_iter().zip(expected).enumerate() {
        let disagreement = |what: String| TrainError::Disagreement {
            what: format!("{place} row {row_idx}: {what}"),
        };
        let prediction = compiled
            .predict_one(&row.to_vec())
            .map_err(|error| disagreement(error.to_string()))?;
        let Prediction::Class(prediction) = prediction else {
            return Err(disagreement(
                "the compiled forest is not a classifier".to_owned(),
            ));
        };
        if classes.get(prediction.class_index) != Some(&label) {
            return Err(disagreement(format!(
                "smartcore says {label}, compiled says {}",
                prediction.label
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Dataset;

    /// Labels that are neither 0..k-1 nor in first-seen order, so index/label mix-ups show.
    fn three_class_data() -> (Array2<f64>, Array1<i32>) {
        let data = Dataset::synthetic(300, 4, 5);
        let labels = data
            .features
            .rows()
            .into_iter()
            .map(|row| match row[0] + row[1] {
                sum if sum < -0.5 => 20,
                sum if sum > 0.5 => -3,
                _ => 7,
            })
            .collect();
        (data.features, labels)
    }

    fn fitted_shard() -> (CompiledShard, Array2<f64>) {
        let (features, labels) = three_class_data();
        let parameters = RandomForestClassifierParameters::default()
            .with_n_trees(9)
            .with_max_depth(6)
            .with_seed(3);
        let forest = fit(&features, &labels, parameters).unwrap();
        (compile(forest, features.ncols()).unwrap(), features)
    }

    #[test]
    fn smartcore_layout_is_the_one_this_trainer_reads() {
        // Fails loudly (deny_unknown_fields) if a smartcore release changes its serde form.
        let (shard, _) = fitted_shard();
        assert_eq!(shard.classes, vec![-3, 7, 20]);
        assert_eq!(shard.trees.len(), 9);
        assert!(shard.trees.iter().all(|tree| tree.nodes.len() > 1));
    }

    #[test]
    fn compiled_trees_agree_with_smartcore_on_labels_that_are_not_indices() {
        let (shard, features) = fitted_shard();
        assert_eq!(
            check_agreement(0, &shard, &features).unwrap(),
            features.nrows()
        );
    }

    #[test]
    fn a_wrongly_compiled_tree_is_caught() {
        let (mut shard, features) = fitted_shard();
        // Swap the children of the first tree's root: the compiled tree now goes the wrong way.
        if let NodeSpec::Split { left, right, .. } = &mut shard.trees[0].nodes[0] {
            std::mem::swap(left, right);
        }
        let error = check_agreement(0, &shard, &features).unwrap_err();
        assert!(matches!(error, TrainError::Disagreement { .. }), "{error}");
    }
}
