//! Training data: a CSV file with a header row and a target column, or the reference synthetic set.

use fluxops_inference::{DEFAULT_MAX_FEATURES, DEFAULT_MAX_OUTPUTS};
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::DataError;

/// Most feature columns a data set may have: as many as a served model may have by default
/// ([`DEFAULT_MAX_FEATURES`]), since the handler refuses a wider one.
pub const MAX_FEATURES: usize = DEFAULT_MAX_FEATURES;

/// Most classes a classifier may learn: as many as a served model may have by default
/// ([`DEFAULT_MAX_OUTPUTS`]). More would not load, and evaluating them takes a
/// classes-by-classes confusion matrix.
pub const MAX_CLASSES: usize = DEFAULT_MAX_OUTPUTS;

/// Default cap on the training data, in bytes (`--max-data-bytes`): the size of a CSV file, or
/// the values of a synthetic set (8 bytes each).
pub const DEFAULT_MAX_DATA_BYTES: u64 = 256 * 1024 * 1024;

/// What the model learns to predict from the target column; `classification` or `regression`
/// in `metrics.json`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// A class per row: the target holds integer labels.
    #[default]
    Classification,
    /// A number per row: the target holds finite numbers.
    Regression,
}

/// The target column, parsed for its task.
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    /// Integer class labels, each within `i32` (the label type smartcore is fitted with).
    Classes(Vec<i64>),
    /// Finite numbers.
    Values(Vec<f64>),
}

impl Targets {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            Targets::Classes(labels) => labels.len(),
            Targets::Values(values) => values.len(),
        }
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The task these targets are for.
    pub fn task(&self) -> TaskKind {
        match self {
            Targets::Classes(_) => TaskKind::Classification,
            Targets::Values(_) => TaskKind::Regression,
        }
    }
}

/// A data set held in memory, with a target per row.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Feature names, in column order.
    pub feature_names: Vec<String>,
    /// `rows x features` values, all finite.
    pub features: Array2<f64>,
    /// The target column's name.
    pub target_name: String,
    /// The target of each row.
    pub targets: Targets,
    /// Where the data came from (a path, URL or `synthetic:...`).
    pub source: String,
    /// Hex SHA-256 of the data as read.
    pub sha256: String,
}

impl Dataset {
    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.targets.len()
    }

    /// The reference data set of the original project, made by its recipe: `n_rows` rows of
    /// `n_features` (10 in the original, at least 2) standard-normal features `feature_0`, ...,
    /// seeded. For classification the target is `1` when `feature_0 + feature_1 > 0` and `0`
    /// otherwise; for regression it is `feature_0 + feature_1` itself.
    ///
    /// The values follow the same distribution as the original's `numpy.random.randn`, not the
    /// same stream of numbers: `../shared/data/seed_reference.csv` holds the original's exact rows.
    /// The digest covers the values as little-endian `f64` features followed by the targets
    /// (`i64` labels or `f64` values). [`Dataset::check_synthetic`] bounds the size first.
    pub fn synthetic(n_rows: usize, n_features: usize, seed: u64, task: TaskKind) -> Self {
        let n_features = synthetic_width(n_features);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let features: Array2<f64> =
            Array2::from_shape_simple_fn((n_rows, n_features), || StandardNormal.sample(&mut rng));
        let latent = features.rows().into_iter().map(|row| row[0] + row[1]);
        let mut hasher = Sha256::new();
        for value in &features {
            hasher.update(value.to_le_bytes());
        }
        let targets = match task {
            TaskKind::Classification => {
                let labels: Vec<i64> = latent.map(|sum| i64::from(sum > 0.0)).collect();
                labels
                    .iter()
                    .for_each(|label| hasher.update(label.to_le_bytes()));
                Targets::Classes(labels)
            }
            TaskKind::Regression => {
                let values: Vec<f64> = latent.collect();
                values
                    .iter()
                    .for_each(|value| hasher.update(value.to_le_bytes()));
                Targets::Values(values)
            }
        };
        let task_name = match task {
            TaskKind::Classification => "",
            TaskKind::Regression => ",task=regression",
        };
        Dataset {
            feature_names: (0..n_features)
                .map(|idx| format!("feature_{idx}"))
                .collect(),
            features,
            target_name: "target".to_owned(),
            targets,
            source: format!("synthetic:rows={n_rows},features={n_features},seed={seed}{task_name}"),
            sha256: hex::encode(hasher.finalize()),
        }
    }

    /// Checks, before anything is allocated, that the synthetic set of `n_rows` by `n_features`
    /// values (8 bytes each) fits in `max_bytes`.
    pub fn check_synthetic(
        n_rows: usize,
        n_features: usize,
        max_bytes: u64,
    ) -> Result<(), DataError> {
        let n_features = synthetic_width(n_features);
        let bytes = (n_rows as u128)
            .saturating_mul(n_features as u128)
            .saturating_mul(8);
        if bytes > u128::from(max_bytes) {
            return Err(DataError::SyntheticTooLarge {
                n_rows,
                n_features,
                bytes,
                max_bytes,
            });
        }
        Ok(())
    }

    /// Parses CSV bytes (header row first) from `source`, which names the data in errors; the
    /// column `target` holds integer labels for a classification, finite numbers for a
    /// regression.
    ///
    /// Fails, naming the file, line and column, on an empty file, an empty or repeated column
    /// name, more than [`MAX_FEATURES`] features, a missing target column, a ragged row, an
    /// empty, non-numeric or non-finite cell, or a target that does not suit the task.
    pub fn from_csv_bytes(
        bytes: &[u8],
        source: &str,
        target: &str,
        task: TaskKind,
    ) -> Result<Self, DataError> {
        let file = source.to_owned();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .trim(csv::Trim::All)
            .from_reader(bytes);
        let header: Vec<String> = reader
            .headers()
            .map_err(|error| csv_error(&file, error))?
            .iter()
            .map(str::to_owned)
            .collect();
        if header.iter().all(String::is_empty) {
            return Err(DataError::Empty { file });
        }
        check_header(&file, &header)?;
        let target_idx = header
            .iter()
            .position(|name| name == target)
            .ok_or_else(|| DataError::MissingTarget {
                file: file.clone(),
                target: target.to_owned(),
                columns: header.join(", "),
            })?;
        let feature_names: Vec<String> = header
            .iter()
            .enumerate()
            .filter(|&(idx, _)| idx != target_idx)
            .map(|(_, name)| name.clone())
            .collect();
        if feature_names.is_empty() {
            return Err(DataError::NoFeatures { file });
        }

        let mut values = Vec::new();
        let mut targets = match task {
            TaskKind::Classification => Targets::Classes(Vec::new()),
            TaskKind::Regression => Targets::Values(Vec::new()),
        };
        for record in reader.records() {
            let record = record.map_err(|error| csv_error(&file, error))?;
            let line = record.position().map_or(0, csv::Position::line);
            for (idx, cell) in record.iter().enumerate() {
                let cell_error = |problem: CellProblem| problem.at(&file, line, &header[idx], cell);
                if cell.is_empty() {
                    return Err(cell_error(CellProblem::Empty));
                }
                match (&mut targets, idx == target_idx) {
                    (Targets::Classes(labels), true) => labels
                        .push(parse_label(cell).ok_or_else(|| cell_error(CellProblem::NotLabel))?),
                    (Targets::Values(targets), true) => targets.push(
                        parse_finite(cell).ok_or_else(|| cell_error(CellProblem::NotNumber))?,
                    ),
                    (_, false) => values.push(
                        parse_finite(cell).ok_or_else(|| cell_error(CellProblem::NotNumber))?,
                    ),
                }
            }
        }
        if targets.is_empty() {
            return Err(DataError::Empty { file });
        }
        let features = Array2::from_shape_vec((targets.len(), feature_names.len()), values)
            .map_err(|_| DataError::Empty { file: file.clone() })?;
        Ok(Dataset {
            feature_names,
            features,
            target_name: target.to_owned(),
            targets,
            source: file,
            sha256: fluxops_store::sha256_hex(bytes),
        })
    }
}

/// The classes of a classification's labels, ascending: at least two, at most [`MAX_CLASSES`].
pub(crate) fn class_labels(data: &Dataset, labels: &[i64]) -> Result<Vec<i64>, DataError> {
    let mut classes = labels.to_vec();
    classes.sort_unstable();
    classes.dedup();
    match classes.as_slice() {
        [only] => Err(DataError::OneClass {
            file: data.source.clone(),
            target: data.target_name.clone(),
            label: *only,
        }),
        _ if classes.len() > MAX_CLASSES => Err(DataError::TooManyClasses {
            file: data.source.clone(),
            target: data.target_name.clone(),
            found: classes.len(),
            max: MAX_CLASSES,
        }),
        _ => Ok(classes),
    }
}

/// The width of a synthetic set: at least the two features its target is made of.
fn synthetic_width(n_features: usize) -> usize {
    n_features.max(2)
}

/// Refuses a header with an empty or repeated column name, or more columns than a model may
/// have features (plus the target), before any row is read.
fn check_header(file: &str, header: &[String]) -> Result<(), DataError> {
    if header.len() > MAX_FEATURES + 1 {
        return Err(DataError::TooManyColumns {
            file: file.to_owned(),
            found: header.len(),
            max: MAX_FEATURES + 1,
        });
    }
    let mut seen = std::collections::HashMap::with_capacity(header.len());
    for (idx, name) in header.iter().enumerate() {
        if name.is_empty() {
            return Err(DataError::EmptyColumnName {
                file: file.to_owned(),
                position: idx + 1,
            });
        }
        if let Some(first) = seen.insert(name.as_str(), idx) {
            return Err(DataError::DuplicateColumn {
                file: file.to_owned(),
                column: name.clone(),
                first: first + 1,
                second: idx + 1,
            });
        }
    }
    Ok(())
}

/// What is wrong with one cell.
enum CellProblem {
    Empty,
    NotNumber,
    NotLabel,
}

impl CellProblem {
    fn at(self, file: &str, line: u64, column: &str, cell: &str) -> DataError {
        let (file, column, value) = (file.to_owned(), column.to_owned(), cell.to_owned());
        match self {
            CellProblem::Empty => DataError::EmptyCell { file, line, column },
            CellProblem::NotNumber => DataError::NotNumeric {
                file,
                line,
                column,
                value,
            },
            CellProblem::NotLabel => DataError::BadLabel {
                file,
                line,
                column,
                value,
            },
        }
    }
}

fn parse_finite(cell: &str) -> Option<f64> {
    cell.parse::<f64>().ok().filter(|value| value.is_finite())
}

/// Labels are integers; `1.0` (as pandas writes them) is accepted, `1.5` is not. They must fit
/// in `i32`, the label type smartcore is fitted with.
fn parse_label(cell: &str) -> Option<i64> {
    let label = match cell.parse::<i64>() {
        Ok(label) => label,
        Err(_) => {
            let value = parse_finite(cell)?;
            if value.fract() != 0.0 {
                return None;
            }
            value as i64
        }
    };
    i32::try_from(label).ok().map(i64::from)
}

fn csv_error(file: &str, error: csv::Error) -> DataError {
    let line = error.position().map_or(0, csv::Position::line);
    match error.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => DataError::Ragged {
            file: file.to_owned(),
            line,
            expected: *expected_len as usize,
            found: *len as usize,
        },
        _ => DataError::Csv {
            file: file.to_owned(),
            line,
            message: error.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, task: TaskKind) -> Result<Dataset, DataError> {
        Dataset::from_csv_bytes(text.as_bytes(), "data.csv", "target", task)
    }

    #[test]
    fn a_regression_target_is_any_finite_number() {
        let data = parse("x,target\n1,0.5\n2,-3e2\n", TaskKind::Regression).unwrap();
        assert_eq!(data.targets, Targets::Values(vec![0.5, -300.0]));
        let error = parse("x,target\n1,inf\n", TaskKind::Regression).unwrap_err();
        assert!(
            matches!(error, DataError::NotNumeric { line: 2, .. }),
            "{error}"
        );
        let error = parse("x,target\n1,0.5\n", TaskKind::Classification).unwrap_err();
        assert!(
            matches!(error, DataError::BadLabel { line: 2, .. }),
            "{error}"
        );
    }

    #[test]
    fn a_header_is_checked_before_any_row() {
        // The rows are broken too; the header's problem is the one reported.
        let error = parse("x,y,x,target\n,,,\n", TaskKind::Classification).unwrap_err();
        assert!(
            matches!(&error, DataError::DuplicateColumn { column, first: 1, second: 3, .. } if column == "x"),
            "{error}"
        );
        let error = parse("x,,target\n1,2,3\n", TaskKind::Classification).unwrap_err();
        assert!(
            matches!(error, DataError::EmptyColumnName { position: 2, .. }),
            "{error}"
        );
        let wide: Vec<String> = (0..=MAX_FEATURES).map(|idx| format!("f{idx}")).collect();
        let error = parse(
            &format!("{},target\n", wide.join(",")),
            TaskKind::Classification,
        )
        .unwrap_err();
        assert!(
            matches!(error, DataError::TooManyColumns { found, max, .. } if found == MAX_FEATURES + 2 && max == MAX_FEATURES + 1),
            "{error}"
        );
    }

    #[test]
    fn classes_are_at_least_two_and_at_most_the_cap() {
        let data = Dataset::synthetic(10, 2, 1, TaskKind::Classification);
        assert_eq!(class_labels(&data, &[3, -1, 3]).unwrap(), vec![-1, 3]);
        assert!(matches!(
            class_labels(&data, &[3, 3]),
            Err(DataError::OneClass { label: 3, .. })
        ));
        let many: Vec<i64> = (0..=MAX_CLASSES as i64).collect();
        assert!(matches!(
            class_labels(&data, &many),
            Err(DataError::TooManyClasses { found, .. }) if found == MAX_CLASSES + 1
        ));
    }

    #[test]
    fn a_synthetic_set_is_sized_before_it_is_made() {
        assert!(Dataset::check_synthetic(1000, 10, 80_000).is_ok());
        let error = Dataset::check_synthetic(1001, 10, 80_000).unwrap_err();
        assert!(
            matches!(error, DataError::SyntheticTooLarge { bytes: 80_080, .. }),
            "{error}"
        );
        // Rows times features beyond u64 are a refusal, not an overflow.
        assert!(Dataset::check_synthetic(usize::MAX, usize::MAX, u64::MAX).is_err());
    }

    #[test]
    fn the_synthetic_regression_target_is_the_classifiers_latent_sum() {
        let classes = Dataset::synthetic(50, 4, 9, TaskKind::Classification);
        let values = Dataset::synthetic(50, 4, 9, TaskKind::Regression);
        assert_eq!(classes.features, values.features);
        let (Targets::Classes(labels), Targets::Values(sums)) = (&classes.targets, &values.targets)
        else {
            panic!("each set has its task's targets");
        };
        for ((row, label), sum) in values.features.rows().into_iter().zip(labels).zip(sums) {
            assert_eq!(*sum, row[0] + row[1]);
            assert_eq!(*label, i64::from(*sum > 0.0));
        }
        assert_ne!(classes.sha256, values.sha256);
    }
}
