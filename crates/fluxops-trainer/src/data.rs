//! Training data: a CSV file with a header row and a target column, or the reference synthetic set.

use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use sha2::{Digest, Sha256};

use crate::error::DataError;

/// A labelled data set held in memory.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Feature names, in column order.
    pub feature_names: Vec<String>,
    /// `rows x features` values, all finite.
    pub features: Array2<f64>,
    /// Class label per row.
    pub labels: Vec<i64>,
    /// Where the data came from (a path, URL or `synthetic:...`).
    pub source: String,
    /// Hex SHA-256 of the data as read.
    pub sha256: String,
}

impl Dataset {
    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.labels.len()
    }

    /// The reference data set of the original project, made by its recipe: `n_rows` rows of
    /// `n_features` (10 in the original, at least 2) standard-normal features `feature_0`, ...,
    /// labelled `1` when `feature_0 + feature_1 > 0` and `0` otherwise, seeded.
    ///
    /// The values follow the same distribution as the original's `numpy.random.randn`, not the
    /// same stream of numbers: `../shared/data/seed_reference.csv` holds the original's exact rows.
    /// The digest covers the values as little-endian `f64` features followed by `i64` labels.
    pub fn synthetic(n_rows: usize, n_features: usize, seed: u64) -> Self {
        let n_features = n_features.max(2);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let features: Array2<f64> =
            Array2::from_shape_simple_fn((n_rows, n_features), || StandardNormal.sample(&mut rng));
        let labels: Vec<i64> = features
            .rows()
            .into_iter()
            .map(|row| i64::from(row[0] + row[1] > 0.0))
            .collect();
        let mut hasher = Sha256::new();
        for value in &features {
            hasher.update(value.to_le_bytes());
        }
        for label in &labels {
            hasher.update(label.to_le_bytes());
        }
        Dataset {
            feature_names: (0..n_features)
                .map(|idx| format!("feature_{idx}"))
                .collect(),
            features,
            labels,
            source: format!("synthetic:rows={n_rows},features={n_features},seed={seed}"),
            sha256: hex::encode(hasher.finalize()),
        }
    }

    /// Parses CSV bytes (header row first) from `source`, which names the data in errors.
    ///
    /// Fails, naming the file, line and column, on an empty file, a missing target column, a
    /// ragged row, an empty, non-numeric or non-finite cell, a non-integer label, or a data set
    /// with fewer than two classes.
    pub fn from_csv_bytes(bytes: &[u8], source: &str, target: &str) -> Result<Self, DataError> {
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
        let mut labels = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|error| csv_error(&file, error))?;
            let line = record.position().map_or(0, csv::Position::line);
            for (idx, cell) in record.iter().enumerate() {
                let column = &header[idx];
                if cell.is_empty() {
                    return Err(DataError::EmptyCell {
                        file: file.clone(),
                        line,
                        column: column.clone(),
                    });
                }
                if idx == target_idx {
                    labels.push(parse_label(cell).ok_or_else(|| DataError::BadLabel {
                        file: file.clone(),
                        line,
                        column: column.clone(),
                        value: cell.to_owned(),
                    })?);
                    continue;
                }
                let value: f64 = cell.parse().map_err(|_| DataError::NotNumeric {
                    file: file.clone(),
                    line,
                    column: column.clone(),
                    value: cell.to_owned(),
                })?;
                if !value.is_finite() {
                    return Err(DataError::NotNumeric {
                        file: file.clone(),
                        line,
                        column: column.clone(),
                        value: cell.to_owned(),
                    });
                }
                values.push(value);
            }
        }
        if labels.is_empty() {
            return Err(DataError::Empty { file });
        }
        let mut classes = labels.clone();
        classes.sort_unstable();
        classes.dedup();
        if classes.len() < 2 {
            return Err(DataError::OneClass {
                file,
                target: target.to_owned(),
                label: classes[0],
            });
        }
        let features = Array2::from_shape_vec((labels.len(), feature_names.len()), values)
            .map_err(|_| DataError::Empty { file: file.clone() })?;
        Ok(Dataset {
            feature_names,
            features,
            labels,
            source: file,
            sha256: hex::encode(Sha256::digest(bytes)),
        })
    }
}

/// Labels are integers; `1.0` (as pandas writes them) is accepted, `1.5` is not. They must fit
/// in `i32`, the label type smartcore is fitted with.
fn parse_label(cell: &str) -> Option<i64> {
    let label = match cell.parse::<i64>() {
        Ok(label) => label,
        Err(_) => {
            let value: f64 = cell.parse().ok()?;
            if value.fract() != 0.0 || !value.is_finite() {
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
