//! smartcore's random-forest classifier: the ensemble "one-hot leaves, average"
//! (`EnsembleSpec::voting`). Each leaf votes for one class, and a class's probability is its
//! share of the votes; the most votes win, ties going to the lowest class index, as in smartcore.

use fluxops_inference::{ClassLabels, EnsembleSpec, NodeSpec, Prediction, Task, TreeSpec};
use serde::Deserialize;
use serde::de::IgnoredAny;
use smartcore::ensemble::random_forest_classifier::RandomForestClassifierParameters;

use super::{
    Classifier, ClassifierTree, Forest, NodeLayout, ShardParts, ShardPlan, compile_each,
    layout_error, read_forest, read_layout,
};
use crate::error::TrainError;

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
    /// A leaf's output is an index into the forest's sorted classes.
    nodes: Vec<NodeLayout<usize>>,
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

impl Forest for Classifier {
    type Target = i32;
    type Parameters = RandomForestClassifierParameters;
    type Tree = ClassifierTree;
    /// The forest's class labels, ascending: those of its training rows.
    type Outputs = Vec<i32>;

    fn parameters(plan: &ShardPlan) -> RandomForestClassifierParameters {
        RandomForestClassifierParameters {
            n_trees: u16::try_from(plan.n_trees).unwrap_or(u16::MAX),
            seed: plan.seed,
            max_depth: plan.max_depth,
            min_samples_split: plan.min_samples_split,
            ..RandomForestClassifierParameters::default()
        }
    }

    fn read_trees(&self, n_features: usize) -> Result<ShardParts<Self>, TrainError> {
        let layout: ForestLayout = read_forest(self)?;
        let classes = layout
            .classes
            .ok_or_else(|| layout_error("fitted forest has no classes"))?;
        let tree_values = layout
            .trees
            .ok_or_else(|| layout_error("fitted forest has no trees"))?;
        let read = |tree_value: serde_json::Value, what: &str| {
            let smartcore_tree: ClassifierTree = read_layout(&tree_value, what)?;
            let tree: TreeLayout = read_layout(&tree_value, what)?;
            if tree.classes != classes || tree.num_classes != classes.len() {
                return Err(layout_error(format!(
                    "{what} has classes {:?}, the forest {classes:?}",
                    tree.classes
                )));
            }
            if tree.num_features != n_features {
                return Err(layout_error(format!(
                    "{what} has {} features, the data {n_features}",
                    tree.num_features
                )));
            }
            Ok((tree.nodes, smartcore_tree))
        };
        let one_vote = |&class: &usize| {
            NodeSpec::one_hot_leaf(class, classes.len()).ok_or_else(|| {
                layout_error(format!(
                    "a leaf votes for class index {class}, the forest has {} classes",
                    classes.len()
                ))
            })
        };
        let (trees, smartcore_trees) = compile_each(tree_values, read, one_vote)?;
        Ok((trees, smartcore_trees, classes))
    }

    /// A voting forest over the classes.
    fn ensemble(
        trees: Vec<TreeSpec>,
        n_features: usize,
        classes: &Vec<i32>,
    ) -> (Task, EnsembleSpec) {
        let labels = classes.iter().map(|&label| i64::from(label)).collect();
        (
            Task::Classifier {
                labels: ClassLabels::Integers(labels),
            },
            EnsembleSpec::voting(n_features, classes.len(), trees),
        )
    }

    /// The same label.
    fn agrees(prediction: &Prediction<'_>, label: i32, classes: &Vec<i32>) -> Result<(), String> {
        let Prediction::Class(prediction) = prediction else {
            return Err("the compiled forest is not a classifier".to_owned());
        };
        if classes.get(prediction.class_index) == Some(&label) {
            Ok(())
        } else {
            Err(format!(
                "smartcore says {label}, compiled says {}",
                prediction.label
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{Array1, Array2};

    use super::*;
    use crate::data::{Dataset, TaskKind};
    use crate::smartcore::{Fit, Shard, assert_threshold_goes_to_the_true_child};

    /// Labels that are neither 0..k-1 nor in first-seen order, so index/label mix-ups show.
    fn three_class_data() -> (Array2<f64>, Array1<i32>) {
        let data = Dataset::synthetic(300, 4, 5, TaskKind::Classification);
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

    fn plan(n_trees: usize, max_depth: u16) -> ShardPlan {
        ShardPlan {
            n_trees,
            seed: 3,
            max_depth: Some(max_depth),
            min_samples_split: 2,
        }
    }

    fn fitted_shard() -> (Shard<Classifier>, Array2<f64>) {
        let (features, labels) = three_class_data();
        let forest = Classifier::fit_shard(&features, &labels, &plan(9, 6)).unwrap();
        (forest.compile(features.ncols()).unwrap(), features)
    }

    #[test]
    fn smartcore_layout_is_the_one_this_trainer_reads() {
        // Fails loudly (deny_unknown_fields) if a smartcore release changes its serde form.
        let (shard, _) = fitted_shard();
        assert_eq!(shard.outputs(), &[-3, 7, 20]);
        assert_eq!(shard.trees.len(), 9);
        assert!(shard.trees.iter().all(|tree| tree.nodes.len() > 1));
    }

    #[test]
    fn compiled_trees_agree_with_smartcore_on_labels_that_are_not_indices() {
        let (shard, features) = fitted_shard();
        shard.check_agreement("shard 0", &features).unwrap();
    }

    #[test]
    fn a_row_exactly_at_a_threshold_goes_to_the_true_child() {
        let (features, labels) = three_class_data();
        let stump = Classifier::fit_shard(&features, &labels, &plan(1, 2)).unwrap();
        let stump = stump.compile(features.ncols()).unwrap();
        assert_threshold_goes_to_the_true_child(&stump, features.ncols());
    }

    #[test]
    fn a_wrongly_compiled_tree_is_caught() {
        let (mut shard, features) = fitted_shard();
        // Swap the children of the first tree's root: the compiled tree now goes the wrong way.
        if let NodeSpec::Split { left, right, .. } = &mut shard.trees[0].nodes[0] {
            std::mem::swap(left, right);
        }
        let error = shard.check_agreement("shard 0", &features).unwrap_err();
        assert!(matches!(error, TrainError::Disagreement { .. }), "{error}");
    }
}
