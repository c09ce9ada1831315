//! From the intermediate form to FluxOps' artifact form: an [`EnsembleSpec`] and the schema's
//! [`Task`](fluxops_inference::Task), meaning what onnxruntime means.

use fluxops_inference as artifact;
use fluxops_inference::{EnsembleSpec, NodeSpec, Side, TreeSpec};

use crate::Error;
use crate::ensemble::{
    Aggregate, ClassLabels, ClassScoring, Comparison, Ensemble, Node, NumberType, PostTransform,
    Split, Task, Tree,
};

/// An ensemble in FluxOps' terms: what a format-2 artifact stores for it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Conversion {
    /// The trees and how their leaves combine.
    pub ensemble: EnsembleSpec,
    /// Classifier (with its labels) or regressor.
    pub task: artifact::Task,
}

impl Ensemble {
    /// Converts the ensemble into FluxOps' artifact form, keeping onnxruntime's meaning.
    ///
    /// - Splits compare as onnxruntime does: a float input, or a float tree operator, compares
    ///   `f32` values; a double one compares `f64`.
    /// - Scores are added in the tree operator's number type, as onnxruntime adds them
    ///   ([`EnsembleSpec::score_type`]).
    /// - Leaves hold one value per score column. Where the file gives a classifier's leaf no
    ///   weight for a class and there are no base values, the value is `-0.0`, the artifact's
    ///   "no value", so that such classes stay out of the label's choice as onnxruntime leaves
    ///   them out; elsewhere it is 0.
    /// - A binary probability column (scikit-learn forests) stays one output, which the
    ///   artifact's binary rule reads as `[1 - p, p]`; a binary margin (boosting) becomes two
    ///   columns `[-s, s]`, which is what onnxruntime answers, logistic or not, and whose larger
    ///   score is onnxruntime's label (the second class exactly when `s > 0`).
    pub fn to_artifact(&self) -> Result<Conversion, Error> {
        let (task, layout) = match &self.task {
            Task::Regressor => (artifact::Task::Regressor {}, Layout::Direct { absent: 0.0 }),
            Task::Classifier { labels, scoring } => {
                let labels = match labels {
                    ClassLabels::Int64(labels) => artifact::ClassLabels::Integers(labels.clone()),
                    ClassLabels::Strings(labels) => artifact::ClassLabels::Strings(labels.clone()),
                };
                let layout = match scoring {
                    // onnxruntime leaves classes without a weight out of the label's choice
                    // unless base values make every class scored.
                    ClassScoring::PerClass if self.base_values.is_empty() => {
                        Layout::Direct { absent: -0.0 }
                    }
                    ClassScoring::PerClass | ClassScoring::BinaryProbability => {
                        Layout::Direct { absent: 0.0 }
                    }
                    ClassScoring::BinaryMargin => Layout::Margin,
                };
                (artifact::Task::Classifier { labels }, layout)
            }
        };
        if layout == Layout::Margin && self.post_transform == PostTransform::Softmax {
            return Err(Error::unsupported(
                "post_transform SOFTMAX of a binary classifier with one score column",
                "onnxruntime answers the raw margins then, unlike any exporter's model; \
                 export it with NONE or LOGISTIC",
            ));
        }
        let n_outputs = layout.width(self.n_outputs);
        // No base values add nothing, `-0.0`, which keeps unscored classes unscored.
        let base_values = if self.base_values.is_empty() {
            vec![-0.0; n_outputs]
        } else {
            layout.values(n_outputs, self.base_values.iter().copied().enumerate())
        };
        let comparing = self.comparing();
        let trees = self
            .trees
            .iter()
            .map(|tree| convert_tree(tree, comparing, layout, n_outputs))
            .collect::<Result<Vec<_>, _>>()?;
        let ensemble = EnsembleSpec {
            n_features: self.n_features(),
            n_outputs,
            aggregation: match self.aggregate {
                Aggregate::Sum => artifact::Aggregation::Sum,
                Aggregate::Average => artifact::Aggregation::Average,
            },
            base_values,
            post_transform: match self.post_transform {
                PostTransform::None => artifact::PostTransform::None,
                PostTransform::Logistic => artifact::PostTransform::Logistic,
                PostTransform::Softmax => artifact::PostTransform::Softmax,
            },
            score_type: match self.precision {
                NumberType::F32 => artifact::NumberType::F32,
                NumberType::F64 => artifact::NumberType::F64,
            },
            trees,
        };
        Ok(Conversion { ensemble, task })
    }

    /// How splits compare a row's value.
    fn comparing(&self) -> Comparing {
        match (self.input.element_type, self.precision) {
            (NumberType::F64, NumberType::F64) => Comparing::F64,
            (_, NumberType::F32) => Comparing::F32,
            (NumberType::F32, NumberType::F64) => Comparing::RoundedToF32ThenF64,
        }
    }
}

/// How a split compares a row's value `x` with its threshold, from the input's type and the
/// tree operator's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparing {
    /// `x` as it is, in `f64`.
    F64,
    /// `x` rounded to `f32`, against an `f32` threshold.
    F32,
    /// `x` rounded to `f32` (a float input), then compared in `f64` with a double threshold
    /// (a `Cast` to double in front of the trees).
    RoundedToF32ThenF64,
}

/// Where leaf weights go in the artifact's leaf vectors.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Layout {
    /// Score column `k` is output `k`; a column without a weight holds `absent`.
    Direct { absent: f64 },
    /// One margin column `s` becomes two outputs, `[-s, s]`.
    Margin,
}

impl Layout {
    fn width(self, n_columns: usize) -> usize {
        match self {
            Layout::Direct { .. } => n_columns,
            Layout::Margin => 2,
        }
    }

    /// A vector of `n_outputs` values from `(column, value)` pairs. A value given is never
    /// `-0.0` (a weight of `-0.0` is a weight, so it becomes `+0.0`); a column not given holds
    /// the layout's `absent`.
    fn values(self, n_outputs: usize, entries: impl Iterator<Item = (usize, f64)>) -> Vec<f64> {
        let mut values = match self {
            Layout::Direct { absent } => vec![absent; n_outputs],
            Layout::Margin => vec![0.0; n_outputs],
        };
        for (column, value) in entries {
            // `0.0 + x` is `x`, except that it turns `-0.0` into `+0.0`.
            match self {
                Layout::Direct { .. } => values[column] = 0.0 + value,
                Layout::Margin => {
                    values[0] = 0.0 - value;
                    values[1] = 0.0 + value;
                }
            }
        }
        values
    }
}

fn convert_tree(
    tree: &Tree,
    comparing: Comparing,
    layout: Layout,
    n_outputs: usize,
) -> Result<TreeSpec, Error> {
    let nodes = tree
        .nodes
        .iter()
        .map(|node| match node {
            Node::Split(split) => convert_split(tree, split, comparing),
            Node::Leaf(leaf) => Ok(NodeSpec::leaf(
                layout.values(
                    n_outputs,
                    leaf.weights
                        .iter()
                        .map(|weight| (weight.output, weight.value)),
                ),
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(TreeSpec { nodes })
}

fn convert_split(tree: &Tree, split: &Split, comparing: Comparing) -> Result<NodeSpec, Error> {
    let (threshold_type, comparison, threshold) = match comparing {
        Comparing::F64 => (artifact::NumberType::F64, split.comparison, split.threshold),
        Comparing::F32 => (artifact::NumberType::F32, split.comparison, split.threshold),
        Comparing::RoundedToF32ThenF64 => {
            // `f64(round32(x)) <= t` holds exactly when `round32(x)` is at most the largest
            // `f32` at or below `t`; `< t` when it is at most the largest `f32` below `t`.
            let bound = largest_f32_at_most(split.threshold, split.comparison);
            if !bound.is_finite() {
                return Err(Error::unsupported(
                    format!(
                        "the threshold {} of node {} of tree {}",
                        split.threshold, split.onnx_node_id, tree.onnx_tree_id
                    ),
                    "it lies below every float, which a float input cannot reach; \
                     export the model with a double input",
                ));
            }
            (
                artifact::NumberType::F32,
                Comparison::LessOrEqual,
                f64::from(bound),
            )
        }
    };
    Ok(NodeSpec::Split {
        feature: split.feature,
        threshold,
        left: split.true_child,
        right: split.false_child,
        comparison: match comparison {
            Comparison::LessOrEqual => artifact::Comparison::LessOrEqual,
            Comparison::Less => artifact::Comparison::Less,
        },
        threshold_type,
        missing_goes: if split.missing_tracks_true {
            Side::Left
        } else {
            Side::Right
        },
    })
}

/// The largest `f32` that is at most `threshold` (`LessOrEqual`) or below it (`Less`); negative
/// infinity when there is none.
fn largest_f32_at_most(threshold: f64, comparison: Comparison) -> f32 {
    let mut bound = threshold as f32;
    while f64::from(bound) > threshold
        || (comparison == Comparison::Less && f64::from(bound) >= threshold)
    {
        bound = bound.next_down();
    }
    bound
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::data_type;
    use crate::testing::{
        Model, STUMP, classifier, double_tensor, floats, int, node, read, regressor, string, tensor,
    };
    use fluxops_inference::{ModelLimits, Prediction, Predictor, Schema};

    fn convert(ensemble: &Ensemble) -> Conversion {
        ensemble.to_artifact().expect("converts")
    }

    fn leaves(spec: &EnsembleSpec) -> Vec<Vec<u64>> {
        spec.trees
            .iter()
            .flat_map(|tree| &tree.nodes)
            .filter_map(|node| match node {
                NodeSpec::Leaf { values } => Some(values.iter().map(|v| v.to_bits()).collect()),
                NodeSpec::Split { .. } => None,
            })
            .collect()
    }

    fn bits(values: &[f64]) -> Vec<u64> {
        values.iter().map(|v| v.to_bits()).collect()
    }

    fn predictor(conversion: &Conversion) -> Predictor {
        let schema = Schema {
            feature_names: vec!["x".into(), "y".into()],
            task: conversion.task.clone(),
        };
        Predictor::new(schema, &conversion.ensemble, &ModelLimits::default()).expect("compiles")
    }

    #[test]
    fn a_float_model_compares_and_adds_in_f32() {
        let ensemble = read(regressor(
            STUMP,
            &[(0, 1, 0, 0.1), (0, 2, 0, 0.2)],
            1,
            vec![],
        ))
        .expect("reads");
        let conversion = convert(&ensemble);
        assert_eq!(conversion.ensemble.score_type, artifact::NumberType::F32);
        assert!(matches!(
            conversion.ensemble.trees[0].nodes[0],
            NodeSpec::Split {
                threshold_type: artifact::NumberType::F32,
                ..
            }
        ));
        assert_eq!(conversion.task, artifact::Task::Regressor {});
    }

    #[test]
    fn classes_a_leaf_does_not_weight_get_no_value_unless_base_values_score_them() {
        // Leaf 1 weights classes 0 and 2, leaf 2 only class 1 (with -0.0, which is a weight).
        let weights = [(0, 1, 0, -1.5), (0, 1, 2, -0.5), (0, 2, 1, -0.0)];
        let ensemble = read(classifier(STUMP, &weights, &[7, 8, 9], vec![])).expect("reads");
        let conversion = convert(&ensemble);
        let neg = -0.0_f64;
        assert_eq!(
            leaves(&conversion.ensemble),
            [bits(&[-1.5, neg, -0.5]), bits(&[neg, 0.0, neg])]
        );
        assert_eq!(bits(&conversion.ensemble.base_values), bits(&[neg; 3]));
        // Class 1 has no value on the left: class 2 wins with -0.5, as onnxruntime answers.
        let predictor = predictor(&conversion);
        let Prediction::Class(left) = predictor.predict_one(&[0.0, 0.0]).unwrap() else {
            panic!("a class")
        };
        assert_eq!(left.class_index, 2);

        let with_base = vec![floats("base_values", &[0.0, 0.0, 0.0])];
        let ensemble = read(classifier(STUMP, &weights, &[7, 8, 9], with_base)).expect("reads");
        let conversion = convert(&ensemble);
        assert_eq!(leaves(&conversion.ensemble)[0], bits(&[-1.5, 0.0, -0.5]));
        assert_eq!(bits(&conversion.ensemble.base_values), bits(&[0.0; 3]));
    }

    #[test]
    fn a_binary_margin_becomes_two_opposite_columns() {
        let extra = vec![
            floats("base_values", &[0.25]),
            string("post_transform", "LOGISTIC"),
        ];
        let weights = [(0, 1, 0, -1.5), (0, 2, 0, 0.0)];
        let ensemble = read(classifier(STUMP, &weights, &[0, 1], extra)).expect("reads");
        let conversion = convert(&ensemble);
        assert_eq!(conversion.ensemble.n_outputs, 2);
        // A zero margin is +0.0 on both sides: a value, not "no value".
        assert_eq!(
            leaves(&conversion.ensemble),
            [bits(&[1.5, -1.5]), bits(&[0.0, 0.0])]
        );
        assert_eq!(conversion.ensemble.base_values, [-0.25, 0.25]);
        let predictor = predictor(&conversion);
        let Prediction::Class(left) = predictor.predict_one(&[0.0, 0.0]).unwrap() else {
            panic!("a class")
        };
        let s = -1.25_f64;
        assert_eq!(left.class_index, 0);
        assert!((left.probabilities[1] - 1.0 / (1.0 + (-s).exp())).abs() < 1e-7);
        let Prediction::Class(right) = predictor.predict_one(&[1.0, 0.0]).unwrap() else {
            panic!("a class")
        };
        assert_eq!(right.class_index, 1);

        let softmax = vec![string("post_transform", "SOFTMAX")];
        let error = read(classifier(STUMP, &weights, &[0, 1], softmax))
            .and_then(|ensemble| ensemble.to_artifact());
        assert!(error.is_err(), "{error:?}");
    }

    #[test]
    fn a_float_input_cast_to_double_compares_on_the_float_grid() {
        // x <= 0.1 (a double threshold) after the input was rounded to float.
        let t = 0.1_f64;
        let mut tree = regressor(STUMP, &[(0, 1, 0, 1.0), (0, 2, 0, 2.0)], 1, vec![]);
        tree.attribute
            .retain(|a| a.name.as_deref() != Some("nodes_values"));
        tree.attribute.push(tensor(
            "nodes_values_as_tensor",
            double_tensor(&[t, 0.0, 0.0]),
        ));
        tree.input = vec!["x64".into()];
        let cast = node(
            "Cast",
            &["X"],
            &["x64"],
            vec![int("to", data_type::DOUBLE.into())],
        );
        let ensemble = Model::new(vec![cast, tree]).read().expect("reads");
        let conversion = convert(&ensemble);
        let NodeSpec::Split {
            threshold,
            threshold_type,
            comparison,
            ..
        } = conversion.ensemble.trees[0].nodes[0]
        else {
            panic!("a split")
        };
        // 0.1f32 is above 0.1, so the largest float at or below 0.1 is the one before it.
        assert_eq!(threshold, f64::from(0.1_f32.next_down()));
        assert_eq!(
            (threshold_type, comparison),
            (artifact::NumberType::F32, artifact::Comparison::LessOrEqual)
        );
        for x in [
            0.1,
            f64::from(0.1_f32),
            f64::from(0.1_f32.next_down()),
            0.09,
        ] {
            let expected = match ensemble.evaluate(&[x, 0.0]).unwrap() {
                crate::ReferenceOutput::Values(values) => values,
                other => panic!("{other:?}"),
            };
            assert_eq!(
                conversion.ensemble.reference_scores(&[x, 0.0]),
                Some(expected),
                "x = {x}"
            );
        }
    }

    #[test]
    fn the_largest_float_at_or_below_a_threshold() {
        use Comparison::{Less, LessOrEqual};
        assert_eq!(largest_f32_at_most(0.5, LessOrEqual), 0.5);
        assert_eq!(largest_f32_at_most(0.5, Less), 0.5_f32.next_down());
        assert_eq!(largest_f32_at_most(0.1, LessOrEqual), 0.1_f32.next_down());
        assert_eq!(largest_f32_at_most(0.1, Less), 0.1_f32.next_down());
        assert_eq!(largest_f32_at_most(1e300, LessOrEqual), f32::MAX);
        assert_eq!(largest_f32_at_most(-1e300, LessOrEqual), f32::NEG_INFINITY);
    }
}
