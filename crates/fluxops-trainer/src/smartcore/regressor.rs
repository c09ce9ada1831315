//! smartcore's random-forest regressor: the ensemble "one value per leaf, average"
//! ([`EnsembleSpec::averaging`]).
//!
//! smartcore predicts a row as `sum / n_trees`, the sum starting at `0.0` and adding each tree's
//! leaf in tree order; the inference core adds leaves in tree order, divides by the number of
//! trees and adds a base value of `0.0`, which changes no finite sum (a sum that starts at
//! `+0.0` is never `-0.0`). So the compiled forest reproduces smartcore's predictions to the
//! last bit, which [`CompiledShard::check_agreement`] demands.

use fluxops_inference::{EnsembleSpec, NodeSpec, Prediction, Task, TreeSpec};
use serde::Deserialize;
use serde::de::IgnoredAny;
use smartcore::ensemble::random_forest_regressor::RandomForestRegressorParameters;

use super::{
    Forest, NodeLayout, Regressor, RegressorTree, ShardParts, ShardPlan, compile_each,
    layout_error, read_forest, read_layout,
};
use crate::error::TrainError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegressorLayout {
    forest_regressor: Option<ForestLayout>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ForestLayout {
    trees: Option<Vec<serde_json::Value>>,
    num_features: Option<usize>,
    #[serde(rename = "samples")]
    _samples: IgnoredAny,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TreeLayout {
    /// A leaf's output is the mean target of its training rows.
    nodes: Vec<NodeLayout<f64>>,
    #[serde(rename = "parameters")]
    _parameters: IgnoredAny,
    #[serde(rename = "depth")]
    _depth: IgnoredAny,
    #[serde(rename = "root_mass")]
    _root_mass: IgnoredAny,
    _phantom_tx: IgnoredAny,
    _phantom_ty: IgnoredAny,
    _phantom_x: IgnoredAny,
    _phantom_y: IgnoredAny,
}

impl Forest for Regressor {
    type Target = f64;
    type Parameters = RandomForestRegressorParameters;
    type Tree = RegressorTree;
    type Outputs = ();

    fn parameters(plan: &ShardPlan) -> RandomForestRegressorParameters {
        RandomForestRegressorParameters {
            n_trees: plan.n_trees,
            seed: plan.seed,
            max_depth: plan.max_depth,
            min_samples_split: plan.min_samples_split,
            ..RandomForestRegressorParameters::default()
        }
    }

    fn read_trees(&self, n_features: usize) -> Result<ShardParts<Self>, TrainError> {
        let layout: RegressorLayout = read_forest(self)?;
        let forest = layout
            .forest_regressor
            .ok_or_else(|| layout_error("the regressor was not fitted"))?;
        if forest.num_features != Some(n_features) {
            return Err(layout_error(format!(
                "the forest has {:?} features, the data {n_features}",
                forest.num_features
            )));
        }
        let tree_values = forest
            .trees
            .ok_or_else(|| layout_error("fitted forest has no trees"))?;
        let read = |tree_value: serde_json::Value, what: &str| {
            let tree: TreeLayout = read_layout(&tree_value, what)?;
            // A standalone smartcore tree around the same base tree, to check tree by tree.
            let standalone = serde_json::json!({
                "tree_regressor": tree_value,
                "num_features": n_features,
            });
            let smartcore_tree: RegressorTree = read_layout(&standalone, what)?;
            Ok((tree.nodes, smartcore_tree))
        };
        let value = |&value: &f64| Ok(NodeSpec::leaf(vec![value]));
        let (trees, smartcore_trees) = compile_each(tree_values, read, value)?;
        Ok((trees, smartcore_trees, ()))
    }

    fn ensemble(trees: Vec<TreeSpec>, n_features: usize, (): &()) -> (Task, EnsembleSpec) {
        (
            Task::Regressor {},
            EnsembleSpec::averaging(n_features, 1, trees),
        )
    }

    /// The same value, to the last bit.
    fn agrees(prediction: &Prediction<'_>, value: f64, (): &()) -> Result<(), String> {
        let Prediction::Values(values) = prediction else {
            return Err("the compiled forest is not a regressor".to_owned());
        };
        if values.first().map(|compiled| compiled.to_bits()) == Some(value.to_bits()) {
            Ok(())
        } else {
            Err(format!(
                "smartcore says {value:?}, compiled says {values:?}"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{Array1, Array2};

    use fluxops_inference::{BatchPrediction, ModelLimits, Predictor, Schema};

    use super::*;
    use crate::data::{Dataset, Targets, TaskKind};
    use crate::smartcore::{Fit, Shard, assert_threshold_goes_to_the_true_child};

    /// A target with enough distinct values that leaf means are inexact in binary, so any
    /// difference in summation order shows in the last bits.
    fn data() -> (Array2<f64>, Array1<f64>) {
        let data = Dataset::synthetic(400, 5, 11, TaskKind::Regression);
        let Targets::Values(values) = data.targets else {
            panic!("a regression set has values");
        };
        let targets = values
            .iter()
            .zip(data.features.rows())
            .map(|(sum, row)| sum / 3.0 + (row[2] * 7.1).sin() * 0.1)
            .collect();
        (data.features, targets)
    }

    fn plan(n_trees: usize, max_depth: Option<u16>) -> ShardPlan {
        ShardPlan {
            n_trees,
            seed: 5,
            max_depth,
            min_samples_split: 2,
        }
    }

    fn fitted_shard(n_trees: usize, max_depth: Option<u16>) -> (Shard<Regressor>, Array2<f64>) {
        let (features, targets) = data();
        let forest = Regressor::fit_shard(&features, &targets, &plan(n_trees, max_depth)).unwrap();
        (forest.compile(features.ncols()).unwrap(), features)
    }

    #[test]
    fn smartcore_layout_is_the_one_this_trainer_reads() {
        // Fails loudly (deny_unknown_fields) if a smartcore release changes its serde form.
        let (shard, _) = fitted_shard(6, Some(5));
        assert_eq!(shard.trees.len(), 6);
        assert!(shard.trees.iter().all(|tree| tree.nodes.len() > 1));
    }

    #[test]
    fn the_compiled_forest_reproduces_smartcore_bit_for_bit_one_row_or_a_batch() {
        // Unlimited depth: leaves of one or two rows, so leaf values are the targets' own bits.
        let (shard, features) = fitted_shard(23, None);
        shard.check_agreement("shard 0", &features).unwrap();
        let expected = shard.forest.predict(&features).unwrap();
        let (task, ensemble) = Regressor::ensemble(shard.trees.clone(), features.ncols(), &());
        let schema = Schema {
            feature_names: (0..features.ncols()).map(|idx| format!("f{idx}")).collect(),
            task,
        };
        let predictor = Predictor::new(schema, &ensemble, &ModelLimits::default()).unwrap();
        let BatchPrediction::Values(batch) = predictor.predict_batch(features.view()).unwrap()
        else {
            panic!("a regressor predicts values");
        };
        for (compiled, smartcore) in batch.column(0).iter().zip(&expected) {
            assert_eq!(compiled.to_bits(), smartcore.to_bits());
        }
        // Dividing by the tree count matters: a sum in another order differs in the last bit on
        // some row, which is what the check would catch.
        let reordered_sums = features.rows().into_iter().any(|row| {
            let leaves: Vec<f64> = shard
                .trees
                .iter()
                .map(|tree| EnsembleSpec::averaging(features.ncols(), 1, vec![tree.clone()]))
                .filter_map(|single| single.reference_scores(&row.to_vec()))
                .map(|scores| scores[0])
                .collect();
            let forward: f64 = leaves.iter().fold(0.0, |sum, leaf| sum + leaf);
            let backward: f64 = leaves.iter().rev().fold(0.0, |sum, leaf| sum + leaf);
            forward.to_bits() != backward.to_bits()
        });
        assert!(
            reordered_sums,
            "the data should make summation order visible"
        );
    }

    #[test]
    fn a_row_exactly_at_a_threshold_goes_to_the_true_child() {
        let (stump, features) = fitted_shard(1, Some(2));
        assert_threshold_goes_to_the_true_child(&stump, features.ncols());
    }

    #[test]
    fn a_wrongly_compiled_tree_is_caught() {
        let (mut shard, features) = fitted_shard(6, Some(5));
        // One leaf off by the smallest step: the check is exact, not approximate.
        let leaf = shard.trees[2]
            .nodes
            .iter_mut()
            .find_map(|node| match node {
                NodeSpec::Leaf { values } => Some(values),
                NodeSpec::Split { .. } => None,
            })
            .unwrap();
        leaf[0] = leaf[0].next_up();
        let error = shard.check_agreement("shard 0", &features).unwrap_err();
        assert!(matches!(error, TrainError::Disagreement { .. }), "{error}");
    }
}
