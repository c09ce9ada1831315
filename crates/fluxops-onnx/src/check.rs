//! The import's self-check: the compiled artifact, as the handler will run it, against the
//! independent reference evaluation of the ONNX attributes ([`Ensemble::evaluate`]), on the
//! user's rows and on rows drawn around every split threshold.

use std::collections::BTreeSet;

use fluxops_inference::{BatchPrediction, EnsembleSpec, Prediction, Predictor};
use ndarray::Array2;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::ensemble::{Ensemble, Node};
use crate::reference::ReferenceOutput;

/// How far a compiled score may be from the reference's: `1e-6` relative to the larger of 1 and
/// the reference value.
///
/// Both sides add the leaves in the same order and number type, so the scores before the
/// transform are equal bit for bit. Only the last step differs: the reference rounds
/// `1 - p` and onnxruntime's outputs to the model's float type (at most half an `f32` step,
/// `6e-8`), and the two compute the logistic and the softmax by different but equivalent
/// formulas (a few `f64` steps). `1e-6` is sixteen times the largest of those and far below
/// any difference a wrong leaf, split or transform would make.
pub const SCORE_TOLERANCE: f64 = 1e-6;

/// The most rows drawn around thresholds: enough to put every threshold of a large forest to
/// the test (or a sample of them), little enough to check in a second or two.
pub const MAX_SYNTHETIC_ROWS: usize = 20_000;

/// What the self-check found: every row agreed, or the import would have stopped.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Agreement {
    /// Rows checked in all: `rows_from_check_data + synthetic_rows`.
    pub rows_checked: usize,
    /// Rows of the user's `--check-data` file.
    pub rows_from_check_data: usize,
    /// Rows drawn around the split thresholds (each threshold, its `f64` and `f32` neighbours
    /// and rounding boundaries, the other features at random), plus random combinations.
    pub synthetic_rows: usize,
    /// Rows with a missing value (NaN), checked through the artifact's reference walk, because
    /// the compiled predictor refuses missing values.
    pub rows_with_missing_values: usize,
    /// Whether every row got the reference's label (always true in a written report).
    pub labels_identical: bool,
    /// The largest difference between a compiled score and the reference's.
    pub max_score_difference: f64,
    /// The largest difference allowed, relative to the larger of 1 and the reference score.
    pub tolerance: f64,
}

/// A row on which the artifact and the reference disagree: the import stops.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "the converted model disagrees with the ONNX reference on {row}: {detail}; this is a bug in the \
     importer, please report it with the model file"
)]
pub struct Disagreement {
    /// Which row: a line of the check data, or a synthetic row.
    pub row: String,
    /// What differs.
    pub detail: String,
}

/// Where a checked row came from, for messages.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RowOrigin {
    /// The check data's row with this index (0-based, header excluded).
    CheckData(usize),
    /// A synthetic row.
    Synthetic(usize),
}

impl std::fmt::Display for RowOrigin {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RowOrigin::CheckData(row) => write!(formatter, "row {} of the check data", row + 1),
            RowOrigin::Synthetic(row) => write!(formatter, "synthetic row {row}"),
        }
    }
}

/// Checks `predictor` (compiled from `spec`) against `ensemble`'s reference evaluation on the
/// check data's rows and on synthetic rows drawn with `seed`.
pub(crate) fn check(
    ensemble: &Ensemble,
    spec: &EnsembleSpec,
    predictor: &Predictor,
    check_rows: &[Vec<f64>],
    seed: u64,
) -> Result<Agreement, Disagreement> {
    let synthetic = synthetic_rows(ensemble, seed, MAX_SYNTHETIC_ROWS);
    let rows: Vec<(RowOrigin, &[f64])> = check_rows
        .iter()
        .enumerate()
        .map(|(idx, row)| (RowOrigin::CheckData(idx), row.as_slice()))
        .chain(
            synthetic
                .iter()
                .enumerate()
                .map(|(idx, row)| (RowOrigin::Synthetic(idx), row.as_slice())),
        )
        .collect();
    let mut max_score_difference = 0.0_f64;
    let mut rows_with_missing_values = 0;
    let mut finite = Vec::new();
    for &(origin, row) in &rows {
        let expected = ensemble.evaluate(row).map_err(|error| Disagreement {
            row: origin.to_string(),
            detail: error.to_string(),
        })?;
        let got = if row.iter().any(|value| value.is_nan()) {
            rows_with_missing_values += 1;
            artifact_reference(spec, predictor, row)
        } else {
            finite.push((origin, row, expected.clone()));
            compiled(predictor, row)
        }
        .map_err(|detail| Disagreement {
            row: origin.to_string(),
            detail,
        })?;
        let difference = compare(&got, &expected).map_err(|detail| Disagreement {
            row: origin.to_string(),
            detail,
        })?;
        max_score_difference = max_score_difference.max(difference);
    }
    check_batch(predictor, &finite)?;
    Ok(Agreement {
        rows_checked: rows.len(),
        rows_from_check_data: check_rows.len(),
        synthetic_rows: synthetic.len(),
        rows_with_missing_values,
        labels_identical: true,
        max_score_difference,
        tolerance: SCORE_TOLERANCE,
    })
}

/// The compiled predictor's answer for a finite row, in the reference's terms.
fn compiled(predictor: &Predictor, row: &[f64]) -> Result<ReferenceOutput, String> {
    match predictor.predict_one(row) {
        Ok(Prediction::Class(class)) => Ok(ReferenceOutput::Class {
            index: class.class_index,
            scores: class.probabilities,
        }),
        Ok(Prediction::Values(values)) => Ok(ReferenceOutput::Values(values)),
        Err(error) => Err(format!("the compiled model refused it: {error}")),
    }
}

/// The artifact's meaning for a row with missing values: its plain reference walk, read
/// through the schema as the predictor reads its scores.
fn artifact_reference(
    spec: &EnsembleSpec,
    predictor: &Predictor,
    row: &[f64],
) -> Result<ReferenceOutput, String> {
    let broken = || "the artifact's reference walk cannot evaluate it".to_owned();
    let scores = spec.reference_scores(row).ok_or_else(broken)?;
    if predictor.class_label(0).is_none() {
        return Ok(ReferenceOutput::Values(scores));
    }
    let index = spec.reference_class_index(row).ok_or_else(broken)?;
    let scores = match scores[..] {
        // The binary rule: one output is the second class's probability.
        [p] => vec![1.0 - p, p],
        _ => scores,
    };
    Ok(ReferenceOutput::Class { index, scores })
}

/// The largest score difference, or what differs beyond the tolerance.
fn compare(got: &ReferenceOutput, expected: &ReferenceOutput) -> Result<f64, String> {
    let (got_scores, expected_scores) = match (got, expected) {
        (
            ReferenceOutput::Class { index, scores },
            ReferenceOutput::Class {
                index: expected_index,
                scores: expected_scores,
            },
        ) => {
            if index != expected_index {
                return Err(format!(
                    "class {index} where the reference says class {expected_index} \
                     (scores {scores:?}, reference {expected_scores:?})"
                ));
            }
            (scores, expected_scores)
        }
        (ReferenceOutput::Values(values), ReferenceOutput::Values(expected)) => (values, expected),
        _ => return Err(format!("{got:?} where the reference says {expected:?}")),
    };
    if got_scores.len() != expected_scores.len() {
        return Err(format!(
            "{} scores where the reference has {}",
            got_scores.len(),
            expected_scores.len()
        ));
    }
    let mut worst = 0.0_f64;
    for (position, (got, expected)) in got_scores.iter().zip(expected_scores).enumerate() {
        let difference = (got - expected).abs();
        if difference.is_nan() || difference > SCORE_TOLERANCE * expected.abs().max(1.0) {
            return Err(format!(
                "score {position} is {got}, the reference's {expected}"
            ));
        }
        worst = worst.max(difference);
    }
    Ok(worst)
}

/// The batch path the handler takes for `instances` must answer what single rows did.
fn check_batch(
    predictor: &Predictor,
    rows: &[(RowOrigin, &[f64], ReferenceOutput)],
) -> Result<(), Disagreement> {
    let Some((_, first, _)) = rows.first() else {
        return Ok(());
    };
    let flat: Vec<f64> = rows
        .iter()
        .flat_map(|(_, row, _)| row.iter())
        .copied()
        .collect();
    let batch = Array2::from_shape_vec((rows.len(), first.len()), flat)
        .expect("every row has the model's feature count");
    let disagreement = |row: String, detail: String| Disagreement { row, detail };
    let answers = predictor
        .predict_batch(batch.view())
        .map_err(|error| disagreement("the batch".to_owned(), error.to_string()))?;
    for (row_idx, (origin, _, expected)) in rows.iter().enumerate() {
        let got = match &answers {
            BatchPrediction::Classes(classes) => ReferenceOutput::Class {
                index: classes.class_indices[row_idx],
                scores: classes.probabilities.row(row_idx).to_vec(),
            },
            BatchPrediction::Values(values) => {
                ReferenceOutput::Values(values.row(row_idx).to_vec())
            }
        };
        compare(&got, expected)
            .map_err(|detail| disagreement(format!("{origin} (in a batch)"), detail))?;
    }
    Ok(())
}

/// Rows that put the splits to the test: for each threshold (a sample of them when there are
/// too many), a row per value around it, each other feature drawn from the values around its
/// own thresholds; then random combinations of those values, some with missing values.
pub(crate) fn synthetic_rows(ensemble: &Ensemble, seed: u64, max_rows: usize) -> Vec<Vec<f64>> {
    let n_features = ensemble.n_features();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let splits: Vec<(usize, f64)> = ensemble
        .trees
        .iter()
        .flat_map(|tree| &tree.nodes)
        .filter_map(|node| match node {
            Node::Split(split) => Some((split.feature, split.threshold.to_bits())),
            Node::Leaf(_) => None,
        })
        .collect::<BTreeSet<(usize, u64)>>()
        .into_iter()
        .map(|(feature, bits)| (feature, f64::from_bits(bits)))
        .collect();
    // Features no split reads still need a value.
    let mut candidates: Vec<Vec<f64>> = vec![Vec::new(); n_features];
    for &(feature, threshold) in &splits {
        candidates[feature].extend(around(threshold));
    }
    for values in &mut candidates {
        if values.is_empty() {
            values.push(0.0);
        }
    }
    let draw = |rng: &mut ChaCha8Rng, feature: usize| {
        *candidates[feature]
            .choose(rng)
            .expect("every feature has a candidate")
    };

    let n_random = (max_rows / 10).min(1000);
    let per_split = around(0.5).len();
    let budget = max_rows.saturating_sub(2 * n_random) / per_split;
    let chosen: Vec<&(usize, f64)> = if splits.len() > budget {
        splits.choose_multiple(&mut rng, budget).collect()
    } else {
        splits.iter().collect()
    };
    let mut rows = Vec::with_capacity(max_rows);
    for &(feature, threshold) in chosen {
        for value in around(threshold) {
            let mut row: Vec<f64> = (0..n_features).map(|f| draw(&mut rng, f)).collect();
            row[feature] = value;
            rows.push(row);
        }
    }
    for with_missing in [false, true] {
        for _ in 0..n_random {
            let mut row: Vec<f64> = (0..n_features).map(|f| draw(&mut rng, f)).collect();
            if with_missing {
                for value in &mut row {
                    if rng.random_bool(0.3) {
                        *value = f64::NAN;
                    }
                }
            }
            rows.push(row);
        }
    }
    rows
}

/// The values around a threshold `t` where a split can change its mind: `t` and its `f64`
/// neighbours; its `f32` neighbours; and the `f64` values where rounding to `f32` moves from
/// `t` to a neighbour (the midpoints and the values next to them).
fn around(threshold: f64) -> [f64; 11] {
    let t32 = threshold as f32;
    let up = f64::from(t32.next_up());
    let down = f64::from(t32.next_down());
    let mid_up = (f64::from(t32) + up) / 2.0;
    let mid_down = (f64::from(t32) + down) / 2.0;
    [
        threshold,
        threshold.next_up(),
        threshold.next_down(),
        up,
        down,
        mid_up,
        mid_up.next_up(),
        mid_up.next_down(),
        mid_down,
        mid_down.next_up(),
        mid_down.next_down(),
    ]
    .map(|value| if value.is_finite() { value } else { threshold })
}

#[cfg(test)]
mod tests {
    use super::*;
    use fluxops_inference::{ModelLimits, NodeSpec, NumberType, Schema};

    fn forest() -> Ensemble {
        let bytes = include_bytes!("../tests/fixtures/rf_multiclass.onnx");
        Ensemble::from_onnx(bytes, 1 << 20).expect("reads")
    }

    fn compiled(ensemble: &Ensemble, spec: &EnsembleSpec) -> Predictor {
        let schema = Schema {
            feature_names: (0..ensemble.n_features()).map(|f| f.to_string()).collect(),
            task: ensemble.to_artifact().expect("converts").task,
        };
        Predictor::new(schema, spec, &ModelLimits::default()).expect("compiles")
    }

    #[test]
    fn a_faithful_conversion_agrees_on_every_row() {
        let ensemble = forest();
        let spec = ensemble.to_artifact().expect("converts").ensemble;
        let rows = vec![vec![0.5; 6], vec![f64::NAN; 6]];
        let agreement = check(&ensemble, &spec, &compiled(&ensemble, &spec), &rows, 7).unwrap();
        assert_eq!(agreement.rows_from_check_data, 2);
        assert_eq!(
            agreement.rows_checked,
            agreement.synthetic_rows + agreement.rows_from_check_data
        );
        assert!(agreement.synthetic_rows > 1000);
        assert!(agreement.rows_with_missing_values > 100);
        assert!(agreement.max_score_difference <= SCORE_TOLERANCE);
    }

    #[test]
    fn a_conversion_that_compares_in_the_wrong_type_is_caught() {
        let ensemble = forest();
        let mut spec = ensemble.to_artifact().expect("converts").ensemble;
        for node in spec.trees.iter_mut().flat_map(|tree| &mut tree.nodes) {
            if let NodeSpec::Split { threshold_type, .. } = node {
                *threshold_type = NumberType::F64;
            }
        }
        let error = check(&ensemble, &spec, &compiled(&ensemble, &spec), &[], 7).unwrap_err();
        assert!(error.row.starts_with("synthetic row"), "{error}");
        assert!(error.to_string().contains("bug in the importer"), "{error}");
    }

    #[test]
    fn synthetic_rows_stay_within_their_budget_and_are_seeded() {
        let ensemble = forest();
        let few = synthetic_rows(&ensemble, 3, 500);
        assert!(few.len() <= 500 && few.len() > 300, "{}", few.len());
        assert!(few.iter().all(|row| row.len() == ensemble.n_features()));
        let again = synthetic_rows(&ensemble, 3, 500);
        let bits = |rows: &[Vec<f64>]| -> Vec<u64> {
            rows.iter().flatten().map(|value| value.to_bits()).collect()
        };
        assert_eq!(bits(&few), bits(&again));
    }

    #[test]
    fn values_around_a_threshold_cross_every_boundary_of_both_types() {
        let t = f64::from(0.1_f32);
        let values = around(t);
        // Some round to the threshold in f32 and some do not, on both sides.
        let rounds_to_t = |value: f64| f64::from(value as f32) == t;
        assert!(values.iter().any(|v| *v > t && rounds_to_t(*v)));
        assert!(values.iter().any(|v| *v > t && !rounds_to_t(*v)));
        assert!(values.iter().any(|v| *v < t && rounds_to_t(*v)));
        assert!(values.iter().any(|v| *v < t && !rounds_to_t(*v)));
        assert!(values.contains(&t.next_up()) && values.contains(&t.next_down()));
        // At the edge of the f32 range nothing becomes infinite.
        assert!(around(f64::from(f32::MAX)).iter().all(|v| v.is_finite()));
    }

    #[test]
    fn a_difference_beyond_the_tolerance_or_another_label_is_named() {
        let class = |index, scores: &[f64]| ReferenceOutput::Class {
            index,
            scores: scores.to_vec(),
        };
        assert!(compare(&class(1, &[0.25, 0.75]), &class(1, &[0.25, 0.75 + 1e-7])).is_ok());
        let error = compare(&class(0, &[0.5, 0.5]), &class(1, &[0.5, 0.5])).unwrap_err();
        assert!(
            error.contains("class 0 where the reference says class 1"),
            "{error}"
        );
        let error = compare(&class(1, &[0.2, 0.8]), &class(1, &[0.2, 0.8001])).unwrap_err();
        assert!(error.contains("score 1"), "{error}");
        // Large regression values get a relative tolerance.
        let values = |v: f64| ReferenceOutput::Values(vec![v]);
        assert!(compare(&values(1e6 + 0.5), &values(1e6)).is_ok());
        assert!(compare(&values(1e6 + 2.0), &values(1e6)).is_err());
        assert!(compare(&values(f64::NAN), &values(1.0)).is_err());
    }
}
