//! Splitting rows into training and test sets, seeded: stratified by class for a classifier,
//! plainly shuffled for a regressor.

use ndarray::{Array2, Axis};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::data::Dataset;
use crate::error::TrainError;
use crate::train::TrainOptions;

/// The rows of each side of a split, ascending, and their features.
pub(crate) struct Split {
    /// Rows to fit on.
    pub train_rows: Vec<usize>,
    /// Rows held out for evaluation.
    pub test_rows: Vec<usize>,
    /// Features of the training rows.
    pub x_train: Array2<f64>,
    /// Features of the test rows.
    pub x_test: Array2<f64>,
}

impl Split {
    /// Takes the features of each side from `data`.
    pub(crate) fn new(data: &Dataset, (train_rows, test_rows): (Vec<usize>, Vec<usize>)) -> Self {
        Split {
            x_train: data.features.select(Axis(0), &train_rows),
            x_test: data.features.select(Axis(0), &test_rows),
            train_rows,
            test_rows,
        }
    }
}

/// Splits row indices per class, so both sides keep the class shares; seeded.
///
/// `class_indices[row]` is the row's index into `classes`. Each class contributes
/// `round(rows * test_size)` rows to the test side, and must leave at least one row on each side.
/// Takes time linear in the rows (plus sorting), however many classes there are.
pub(crate) fn stratified_split(
    class_indices: &[usize],
    classes: &[i64],
    options: &TrainOptions,
) -> Result<(Vec<usize>, Vec<usize>), TrainError> {
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let mut rows_of_class = vec![Vec::new(); classes.len()];
    for (row, &class) in class_indices.iter().enumerate() {
        if let Some(rows) = rows_of_class.get_mut(class) {
            rows.push(row);
        }
    }
    let mut train_rows = Vec::with_capacity(class_indices.len());
    let mut test_rows = Vec::new();
    for (mut rows, &label) in rows_of_class.into_iter().zip(classes) {
        let n_test = test_count(rows.len(), options.test_size).ok_or(TrainError::TooFewRows {
            label,
            rows: rows.len(),
            test_size: options.test_size,
        })?;
        rows.shuffle(&mut rng);
        test_rows.extend_from_slice(&rows[..n_test]);
        train_rows.extend_from_slice(&rows[n_test..]);
    }
    train_rows.sort_unstable();
    test_rows.sort_unstable();
    Ok((train_rows, test_rows))
}

/// Splits `n_rows` row indices at random, `round(n_rows * test_size)` to the test side and at
/// least one to each side; seeded.
pub(crate) fn random_split(
    n_rows: usize,
    options: &TrainOptions,
) -> Result<(Vec<usize>, Vec<usize>), TrainError> {
    let n_test = test_count(n_rows, options.test_size).ok_or(TrainError::TooFewRowsToSplit {
        rows: n_rows,
        test_size: options.test_size,
    })?;
    let mut rows: Vec<usize> = (0..n_rows).collect();
    rows.shuffle(&mut ChaCha8Rng::seed_from_u64(options.seed));
    let mut train_rows = rows.split_off(n_test);
    let mut test_rows = rows;
    train_rows.sort_unstable();
    test_rows.sort_unstable();
    Ok((train_rows, test_rows))
}

/// How many of `n_rows` rows go to the test side, if that leaves at least one on each side.
fn test_count(n_rows: usize, test_size: f64) -> Option<usize> {
    let n_test = (n_rows as f64 * test_size).round() as usize;
    (n_test > 0 && n_test < n_rows).then_some(n_test)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stratified_split_keeps_class_shares_and_is_seeded() {
        // 90 rows of class 0, 10 of class 1.
        let class_indices: Vec<usize> = (0..100).map(|row| usize::from(row % 10 == 0)).collect();
        let options = TrainOptions::default();
        let (train_rows, test_rows) = stratified_split(&class_indices, &[0, 1], &options).unwrap();
        assert_eq!((train_rows.len(), test_rows.len()), (80, 20));
        let minority_in_test = test_rows
            .iter()
            .filter(|&&row| class_indices[row] == 1)
            .count();
        assert_eq!(minority_in_test, 2);
        let mut all: Vec<usize> = train_rows.iter().chain(&test_rows).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        assert_eq!(
            stratified_split(&class_indices, &[0, 1], &options)
                .unwrap()
                .1,
            test_rows
        );
        let other_seed = TrainOptions { seed: 7, ..options };
        assert_ne!(
            stratified_split(&class_indices, &[0, 1], &other_seed)
                .unwrap()
                .1,
            test_rows
        );
    }

    #[test]
    fn a_class_too_small_to_split_is_named() {
        let class_indices = vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let error =
            stratified_split(&class_indices, &[4, 9], &TrainOptions::default()).unwrap_err();
        assert!(
            matches!(
                error,
                TrainError::TooFewRows {
                    label: 9,
                    rows: 1,
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn a_random_split_covers_every_row_once_and_is_seeded() {
        let options = TrainOptions::default();
        let (train_rows, test_rows) = random_split(50, &options).unwrap();
        assert_eq!((train_rows.len(), test_rows.len()), (40, 10));
        let mut all: Vec<usize> = train_rows.iter().chain(&test_rows).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..50).collect::<Vec<_>>());
        assert_eq!(random_split(50, &options).unwrap().1, test_rows);
        assert!(matches!(
            random_split(2, &options),
            Err(TrainError::TooFewRowsToSplit { rows: 2, .. })
        ));
    }
}
