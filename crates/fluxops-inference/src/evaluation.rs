//! How well a model did on held-out rows, as a producer computes it and the artifact records it.
//!
//! (This is ML evaluation; "metrics" in FluxOps means the OpenTelemetry instruments of
//! `fluxops-telemetry`.)

use serde::{Deserialize, Serialize};

/// Precision, recall, F1 and support of one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    /// The class label.
    pub label: i64,
    /// Share of rows predicted as this class that are this class (0 when none were predicted).
    pub precision: f64,
    /// Share of rows of this class predicted as this class (0 when there are none).
    pub recall: f64,
    /// Harmonic mean of precision and recall (0 when both are 0).
    pub f1: f64,
    /// Number of rows of this class.
    pub support: usize,
}

/// Precision, recall and F1 averaged over classes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AveragedScores {
    /// Averaged precision.
    pub precision: f64,
    /// Averaged recall.
    pub recall: f64,
    /// Averaged F1.
    pub f1: f64,
}

/// How a model did on held-out rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Evaluation {
    /// A classifier's report.
    Classification(ClassificationEvaluation),
    /// A regressor's report.
    Regression(RegressionEvaluation),
}

/// How a classifier did on a labelled set of rows (scikit-learn's `classification_report`
/// conventions, with `zero_division = 0`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassificationEvaluation {
    /// Number of rows evaluated.
    pub n_samples: usize,
    /// Share of rows predicted correctly.
    pub accuracy: f64,
    /// One entry per class, in class-index order.
    pub per_class: Vec<ClassScores>,
    /// Unweighted mean over classes.
    pub macro_avg: AveragedScores,
    /// Mean over classes weighted by support.
    pub weighted_avg: AveragedScores,
    /// `confusion_matrix[true][predicted]`, in class-index order.
    pub confusion_matrix: Vec<Vec<usize>>,
}

impl ClassificationEvaluation {
    /// Evaluates predicted class indices against true ones for the given class labels.
    ///
    /// Indices at or above `labels.len()` are ignored, as are rows beyond the shorter slice.
    pub fn from_class_indices(labels: &[i64], truth: &[usize], predicted: &[usize]) -> Self {
        let n_classes = labels.len();
        let mut confusion_matrix = vec![vec![0_usize; n_classes]; n_classes];
        for (&actual, &guess) in truth.iter().zip(predicted) {
            if actual < n_classes && guess < n_classes {
                confusion_matrix[actual][guess] += 1;
            }
        }
        let n_samples: usize = confusion_matrix.iter().flatten().sum();
        let correct: usize = (0..n_classes)
            .map(|class| confusion_matrix[class][class])
            .sum();
        let per_class: Vec<ClassScores> = labels
            .iter()
            .enumerate()
            .map(|(class, &label)| {
                let true_positives = confusion_matrix[class][class];
                let support: usize = confusion_matrix[class].iter().sum();
                let n_predicted: usize = confusion_matrix.iter().map(|row| row[class]).sum();
                let precision = ratio(true_positives, n_predicted);
                let recall = ratio(true_positives, support);
                let f1 = if precision + recall > 0.0 {
                    2.0 * precision * recall / (precision + recall)
                } else {
                    0.0
                };
                ClassScores {
                    label,
                    precision,
                    recall,
                    f1,
                    support,
                }
            })
            .collect();
        let macro_avg = average(&per_class, |_| 1.0);
        let weighted_avg = average(&per_class, |class| class.support as f64);
        ClassificationEvaluation {
            n_samples,
            accuracy: ratio(correct, n_samples),
            per_class,
            macro_avg,
            weighted_avg,
            confusion_matrix,
        }
    }
}

/// How a regressor did on a set of rows with known targets (one target).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegressionEvaluation {
    /// Number of rows evaluated.
    pub n_samples: usize,
    /// Root mean squared error.
    pub rmse: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// Coefficient of determination, `1 - SS_res / SS_tot` (scikit-learn's `r2_score`: 1 for a
    /// perfect fit of constant targets, 0 for an imperfect one).
    pub r2: f64,
}

impl RegressionEvaluation {
    /// Evaluates predicted values against true ones; rows beyond the shorter slice are ignored,
    /// and no rows give zeros.
    pub fn from_values(truth: &[f64], predicted: &[f64]) -> Self {
        let n_samples = truth.len().min(predicted.len());
        if n_samples == 0 {
            return RegressionEvaluation {
                n_samples,
                rmse: 0.0,
                mae: 0.0,
                r2: 0.0,
            };
        }
        let n = n_samples as f64;
        let pairs = || truth.iter().zip(predicted);
        let squared_error: f64 = pairs()
            .map(|(actual, guess)| (actual - guess).powi(2))
            .sum();
        let absolute_error: f64 = pairs().map(|(actual, guess)| (actual - guess).abs()).sum();
        let mean = truth[..n_samples].iter().sum::<f64>() / n;
        let total_variance: f64 = truth[..n_samples]
            .iter()
            .map(|actual| (actual - mean).powi(2))
            .sum();
        let r2 = if total_variance > 0.0 {
            1.0 - squared_error / total_variance
        } else if squared_error == 0.0 {
            1.0
        } else {
            0.0
        };
        RegressionEvaluation {
            n_samples,
            rmse: (squared_error / n).sqrt(),
            mae: absolute_error / n,
            r2,
        }
    }
}

fn ratio(numerator: usize, denominator: usize) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator as f64 / denominator as f64
    }
}

fn average(per_class: &[ClassScores], weight: impl Fn(&ClassScores) -> f64) -> AveragedScores {
    let total: f64 = per_class.iter().map(&weight).sum();
    let mean = |value: fn(&ClassScores) -> f64| {
        if total == 0.0 {
            0.0
        } else {
            per_class
                .iter()
                .map(|class| weight(class) * value(class))
                .sum::<f64>()
                / total
        }
    };
    AveragedScores {
        precision: mean(|class| class.precision),
        recall: mean(|class| class.recall),
        f1: mean(|class| class.f1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_hand_computed_report() {
        // Labels 5, 7, 9; truth and predictions chosen so each class differs.
        let truth = [0, 0, 0, 1, 1, 2];
        let predicted = [0, 0, 1, 1, 2, 2];
        let evaluation =
            ClassificationEvaluation::from_class_indices(&[5, 7, 9], &truth, &predicted);
        assert_eq!(evaluation.n_samples, 6);
        assert!((evaluation.accuracy - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(
            evaluation.confusion_matrix,
            vec![vec![2, 1, 0], vec![0, 1, 1], vec![0, 0, 1]]
        );
        let first = &evaluation.per_class[0];
        assert_eq!((first.label, first.support), (5, 3));
        assert!((first.precision - 1.0).abs() < 1e-12);
        assert!((first.recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((first.f1 - 0.8).abs() < 1e-12);
        let macro_precision = (1.0 + 0.5 + 0.5) / 3.0;
        assert!((evaluation.macro_avg.precision - macro_precision).abs() < 1e-12);
        let weighted_recall = (3.0 * (2.0 / 3.0) + 2.0 * 0.5 + 1.0) / 6.0;
        assert!((evaluation.weighted_avg.recall - weighted_recall).abs() < 1e-12);
    }

    #[test]
    fn regression_scores_match_hand_computed_ones() {
        // Errors 0, -1, 2, -1; mean target 2.5, total variance 5.
        let evaluation =
            RegressionEvaluation::from_values(&[1.0, 2.0, 3.0, 4.0], &[1.0, 3.0, 1.0, 5.0]);
        assert_eq!(evaluation.n_samples, 4);
        assert!((evaluation.rmse - 1.5_f64.sqrt()).abs() < 1e-12);
        assert!((evaluation.mae - 1.0).abs() < 1e-12);
        assert!((evaluation.r2 - (1.0 - 6.0 / 5.0)).abs() < 1e-12);
        assert_eq!(
            RegressionEvaluation::from_values(&[2.0, 2.0], &[2.0, 2.0]).r2,
            1.0
        );
        assert_eq!(
            RegressionEvaluation::from_values(&[2.0, 2.0], &[2.0, 3.0]).r2,
            0.0
        );
        assert_eq!(RegressionEvaluation::from_values(&[], &[1.0]).n_samples, 0);
    }

    #[test]
    fn a_class_never_predicted_scores_zero_not_nan() {
        let evaluation = ClassificationEvaluation::from_class_indices(&[0, 1], &[0, 1], &[0, 0]);
        assert_eq!(evaluation.per_class[1].precision, 0.0);
        assert_eq!(evaluation.per_class[1].f1, 0.0);
        assert!(evaluation.macro_avg.f1.is_finite());
    }
}
