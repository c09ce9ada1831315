//! The reference evaluation: a plain walk over the intermediate form that computes what
//! onnxruntime computes, step by step, with no precomputation. It is the check that a faster
//! compiled form is judged against, so it favours being obviously right over being quick.

use crate::FeatureCountMismatch;
use crate::ensemble::{Aggregate, ClassScoring, Ensemble, Leaf, Node, PostTransform, Task, Tree};

/// What the reference evaluation answers for one row.
#[derive(Debug, Clone, PartialEq)]
pub enum ReferenceOutput {
    /// A classifier's answer.
    Class {
        /// Index of the predicted class in the ensemble's [`ClassLabels`](crate::ClassLabels).
        index: usize,
        /// One value per class, as onnxruntime writes its probabilities output.
        scores: Vec<f64>,
    },
    /// A regressor's values, one per target.
    Values(Vec<f64>),
}

impl Ensemble {
    /// Evaluates one row the way onnxruntime does (see [`Ensemble`] for the steps). NaN features
    /// are missing values and follow each split's missing direction.
    pub fn evaluate(&self, features: &[f64]) -> Result<ReferenceOutput, FeatureCountMismatch> {
        if features.len() != self.input.n_features {
            return Err(FeatureCountMismatch {
                expected: self.input.n_features,
                actual: features.len(),
            });
        }
        let round = |value: f64| self.precision.round(value);
        let x: Vec<f64> = features
            .iter()
            .map(|value| round(self.input.element_type.round(*value)))
            .collect();

        let mut sums = vec![0.0; self.n_outputs];
        let mut scored = vec![false; self.n_outputs];
        for tree in &self.trees {
            for weight in &reach_leaf(tree, &x).weights {
                sums[weight.output] = round(sums[weight.output] + weight.value);
                scored[weight.output] = true;
            }
        }
        if self.aggregate == Aggregate::Average {
            let n_trees = self.trees.len() as f64;
            for sum in &mut sums {
                *sum = round(*sum / n_trees);
            }
        }
        if !self.base_values.is_empty() {
            for ((sum, base), scored) in sums.iter_mut().zip(&self.base_values).zip(&mut scored) {
                *sum = round(*sum + base);
                *scored = true;
            }
        }

        Ok(match &self.task {
            Task::Regressor => ReferenceOutput::Values(transform(self.post_transform, sums)),
            Task::Classifier {
                scoring: ClassScoring::PerClass,
                ..
            } => {
                // The highest score among scored classes, the first on a tie.
                let mut best: Option<usize> = None;
                for (class, (sum, scored)) in sums.iter().zip(&scored).enumerate() {
                    if *scored && best.is_none_or(|best| *sum > sums[best]) {
                        best = Some(class);
                    }
                }
                ReferenceOutput::Class {
                    index: best.unwrap_or_default(),
                    scores: transform(self.post_transform, sums),
                }
            }
            Task::Classifier {
                scoring: ClassScoring::BinaryProbability,
                ..
            } => {
                let s = sums[0];
                ReferenceOutput::Class {
                    index: usize::from(s > 0.5),
                    scores: vec![round(1.0 - s), s],
                }
            }
            Task::Classifier {
                scoring: ClassScoring::BinaryMargin,
                ..
            } => {
                let s = sums[0];
                let scores = match self.post_transform {
                    PostTransform::Logistic => vec![logistic(-s), logistic(s)],
                    PostTransform::None | PostTransform::Softmax => vec![-s, s],
                };
                ReferenceOutput::Class {
                    index: usize::from(s > 0.0),
                    scores,
                }
            }
        })
    }
}

/// The leaf `x` reaches in `tree`. Children come after their parents, so the walk ends.
fn reach_leaf<'a>(tree: &'a Tree, x: &[f64]) -> &'a Leaf {
    let mut index = 0;
    loop {
        match &tree.nodes[index] {
            Node::Leaf(leaf) => return leaf,
            Node::Split(split) => {
                let value = x[split.feature];
                let goes_true = split.comparison.holds(value, split.threshold)
                    || (value.is_nan() && split.missing_tracks_true);
                index = if goes_true {
                    split.true_child
                } else {
                    split.false_child
                };
            }
        }
    }
}

fn transform(post_transform: PostTransform, scores: Vec<f64>) -> Vec<f64> {
    match post_transform {
        PostTransform::None => scores,
        PostTransform::Logistic => scores.into_iter().map(logistic).collect(),
        PostTransform::Softmax => {
            let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
            let total: f64 = exps.iter().sum();
            exps.into_iter().map(|e| e / total).collect()
        }
    }
}

/// `1 / (1 + e^-s)`, computed on `|s|` as onnxruntime does so that it never overflows.
fn logistic(s: f64) -> f64 {
    let v = 1.0 / (1.0 + (-s.abs()).exp());
    if s < 0.0 { 1.0 - v } else { v }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::data_type;
    use crate::testing::{
        Model, STUMP, classifier, double_tensor, floats, read, regressor, string, tensor,
    };

    fn values(ensemble: &Ensemble, row: &[f64]) -> Vec<f64> {
        match ensemble.evaluate(row).expect("two features") {
            ReferenceOutput::Values(values) => values,
            other => panic!("a regressor answered {other:?}"),
        }
    }

    fn class(ensemble: &Ensemble, row: &[f64]) -> (usize, Vec<f64>) {
        match ensemble.evaluate(row).expect("two features") {
            ReferenceOutput::Class { index, scores } => (index, scores),
            other => panic!("a classifier answered {other:?}"),
        }
    }

    /// `x0 <= threshold` scores 1, else 2.
    fn stump_with_threshold(threshold: f32) -> Vec<crate::testing::NodeRow> {
        let mut nodes = STUMP.to_vec();
        nodes[0].4 = threshold;
        nodes
    }

    #[test]
    fn float_models_compare_the_feature_rounded_to_f32() {
        let t = 0.1f32;
        let ensemble = read(regressor(
            &stump_with_threshold(t),
            &[(0, 1, 0, 1.0), (0, 2, 0, 2.0)],
            1,
            vec![],
        ))
        .expect("reads");
        let t64 = f64::from(t);
        let ulp = f64::from(f32::from_bits(t.to_bits() + 1)) - t64;
        for (x, expected) in [
            (t64, 1.0),
            (t64 + ulp / 4.0, 1.0), // above the threshold in f64, equal to it in f32
            (t64 - ulp / 4.0, 1.0),
            (t64 + 0.75 * ulp, 2.0), // rounds up to the next float
            (0.1f64, 1.0),
        ] {
            assert_eq!(values(&ensemble, &[x, 0.0]), [expected], "x = {x:e}");
        }
    }

    #[test]
    fn double_models_compare_in_f64() {
        let t = 0.1f64 + 1e-12;
        let mut node = regressor(STUMP, &[(0, 1, 0, 1.0), (0, 2, 0, 2.0)], 1, vec![]);
        node.attribute
            .retain(|a| a.name.as_deref() != Some("nodes_values"));
        node.attribute.push(tensor(
            "nodes_values_as_tensor",
            double_tensor(&[t, 0.0, 0.0]),
        ));
        let ensemble = Model::new(vec![node])
            .input(data_type::DOUBLE, &[None, Some(2)])
            .read()
            .expect("reads");
        assert_eq!(ensemble.precision, crate::NumberType::F64);
        assert_eq!(values(&ensemble, &[t, 0.0]), [1.0]);
        assert_eq!(values(&ensemble, &[t + 1e-15, 0.0]), [2.0]);
        assert_eq!(values(&ensemble, &[0.1, 0.0]), [1.0]);
    }

    #[test]
    fn a_binary_probability_column_is_rebuilt_into_two() {
        // One column of P(second class), as skl2onnx writes a forest: 0.25 left, 0.5 right.
        let ensemble = read(classifier(
            STUMP,
            &[(0, 1, 0, 0.25), (0, 2, 0, 0.5)],
            &[4, 9],
            vec![],
        ))
        .expect("reads");
        assert!(matches!(
            ensemble.task,
            Task::Classifier {
                scoring: ClassScoring::BinaryProbability,
                ..
            }
        ));
        assert_eq!(class(&ensemble, &[0.0, 0.0]), (0, vec![0.75, 0.25]));
        // Exactly 0.5 is not above 0.5: the first class, as onnxruntime answers.
        assert_eq!(class(&ensemble, &[1.0, 0.0]), (0, vec![0.5, 0.5]));
    }

    #[test]
    fn a_binary_margin_gets_its_base_value_and_the_logistic_on_both_columns() {
        let extra = vec![
            floats("base_values", &[0.5]),
            string("post_transform", "LOGISTIC"),
        ];
        let ensemble = read(classifier(
            STUMP,
            &[(0, 1, 0, -1.5), (0, 2, 0, 1.0)],
            &[0, 1],
            extra,
        ))
        .expect("reads");
        assert!(matches!(
            ensemble.task,
            Task::Classifier {
                scoring: ClassScoring::BinaryMargin,
                ..
            }
        ));
        let (index, scores) = class(&ensemble, &[0.0, 0.0]);
        let s = -1.0f64; // -1.5 + 0.5
        assert_eq!(index, 0);
        assert!(
            (scores[1] - 1.0 / (1.0 + (-s).exp())).abs() < 1e-12
                && (scores[0] + scores[1] - 1.0).abs() < 1e-12
        );
        assert_eq!(class(&ensemble, &[1.0, 0.0]).0, 1);
    }

    #[test]
    fn per_class_scores_get_base_values_then_softmax() {
        let weights = [(0, 1, 0, 1.0), (0, 1, 1, 0.0), (0, 2, 2, 1.0)];
        let extra = vec![
            floats("base_values", &[0.0, 0.5, 0.0]),
            string("post_transform", "SOFTMAX"),
        ];
        let ensemble = read(classifier(STUMP, &weights, &[1, 2, 3], extra)).expect("reads");
        let (index, scores) = class(&ensemble, &[0.0, 0.0]);
        // Raw scores [1, 0.5, 0]: class 0 wins before the transform.
        let total = 1f64.exp() + 0.5f64.exp() + 1.0;
        assert_eq!(index, 0);
        for (got, raw) in scores.iter().zip([1.0f64, 0.5, 0.0]) {
            assert!((got - raw.exp() / total).abs() < 1e-7, "{scores:?}");
        }
    }

    #[test]
    fn average_divides_by_the_tree_count_before_the_base_value() {
        let mut nodes = STUMP.to_vec();
        nodes.extend(STUMP.iter().map(|n| (1, n.1, n.2, n.3, n.4, n.5, n.6, n.7)));
        let weights = [
            (0, 1, 0, 1.0),
            (0, 2, 0, 2.0),
            (1, 1, 0, 3.0),
            (1, 2, 0, 4.0),
        ];
        let extra = vec![
            string("aggregate_function", "AVERAGE"),
            floats("base_values", &[10.0]),
        ];
        let ensemble = read(regressor(&nodes, &weights, 1, extra)).expect("reads");
        assert_eq!(values(&ensemble, &[0.0, 0.0]), [12.0]);
        assert_eq!(values(&ensemble, &[1.0, 0.0]), [13.0]);
    }

    #[test]
    fn missing_values_follow_each_splits_direction() {
        let mut to_true = STUMP.to_vec();
        to_true[0].7 = 1;
        let weights = [(0, 1, 0, 1.0), (0, 2, 0, 2.0)];
        let ensemble = read(regressor(&to_true, &weights, 1, vec![])).expect("reads");
        assert_eq!(values(&ensemble, &[f64::NAN, 0.0]), [1.0]);
        let ensemble = read(regressor(STUMP, &weights, 1, vec![])).expect("reads");
        assert_eq!(values(&ensemble, &[f64::NAN, 0.0]), [2.0]);
        // BRANCH_GT: 0.7 > 0.5 goes to node 1; NaN compares false and goes to node 2.
        let mut greater = STUMP.to_vec();
        greater[0].3 = "BRANCH_GT";
        let ensemble = read(regressor(&greater, &weights, 1, vec![])).expect("reads");
        assert_eq!(values(&ensemble, &[0.7, 0.0]), [1.0]);
        assert_eq!(values(&ensemble, &[0.5, 0.0]), [2.0]);
        assert_eq!(values(&ensemble, &[f64::NAN, 0.0]), [2.0]);
    }

    #[test]
    fn rows_of_the_wrong_length_are_an_error() {
        let ensemble = read(regressor(
            STUMP,
            &[(0, 1, 0, 1.0), (0, 2, 0, 2.0)],
            1,
            vec![],
        ))
        .expect("reads");
        assert_eq!(
            ensemble.evaluate(&[0.0]),
            Err(FeatureCountMismatch {
                expected: 2,
                actual: 1
            })
        );
    }
}
