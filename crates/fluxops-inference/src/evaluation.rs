//! Classification metrics, as the trainer computes them and the artifact records them.

use serde::{Deserialize, Serialize};

/// Precision, recall, F1 and support of one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
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
pub struct AveragedMetrics {
    /// Averaged precision.
    pub precision: f64,
    /// Averaged recall.
    pub recall: f64,
    /// Averaged F1.
    pub f1: f64,
}

/// How a classifier did on a labelled set of rows (scikit-learn's `classification_report`
/// conventions, with `zero_division = 0`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Number of rows evaluated.
    pub n_samples: usize,
    /// Share of rows predicted correctly.
    pub accuracy: f64,
    /// One entry per class, in class-index order.
    pub per_class: Vec<ClassMetrics>,
    /// Unweighted mean over classes.
    pub macro_avg: AveragedMetrics,
    /// Mean over classes weighted by support.
    pub weighted_avg: AveragedMetrics,
    /// `confusion_matrix[true][predicted]`, in class-index order.
    pub confusion_matrix: Vec<Vec<usize>>,
}

impl Evaluation {
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
        let per_class: Vec<ClassMetrics> = labels
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
                ClassMetrics {
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
        Evaluation {
            n_samples,
            accuracy: ratio(correct, n_samples),
            per_class,
            macro_avg,
            weighted_avg,
            confusion_matrix,
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

fn average(per_class: &[ClassMetrics], weight: impl Fn(&ClassMetrics) -> f64) -> AveragedMetrics {
    let total: f64 = per_class.iter().map(&weight).sum();
    let mean = |value: fn(&ClassMetrics) -> f64| {
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
    AveragedMetrics {
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
        let evaluation = Evaluation::from_class_indices(&[5, 7, 9], &truth, &predicted);
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
    fn a_class_never_predicted_scores_zero_not_nan() {
        let evaluation = Evaluation::from_class_indices(&[0, 1], &[0, 1], &[0, 0]);
        assert_eq!(evaluation.per_class[1].precision, 0.0);
        assert_eq!(evaluation.per_class[1].f1, 0.0);
        assert!(evaluation.macro_avg.f1.is_finite());
    }
}
