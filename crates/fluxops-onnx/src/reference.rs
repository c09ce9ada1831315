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
