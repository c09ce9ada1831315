//! A loaded, verified model ready to predict.

use ndarray::{Array2, ArrayView2};

use crate::artifact::{ModelArtifact, ModelMetadata};
use crate::error::{ArtifactError, InputError};
use crate::forest::{CompiledForest, winner};

/// A verified model: metadata plus the compiled forest.
///
/// Made only by [`Model::from_json`] or [`Model::from_artifact`], so every `Model` has passed the
/// format, digest, structure and metadata checks.
#[derive(Debug, Clone)]
pub struct Model {
    metadata: ModelMetadata,
    forest_sha256: String,
    forest: CompiledForest,
}

/// The prediction for one row.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Index of the predicted class in [`ModelMetadata::class_labels`].
    pub class_index: usize,
    /// The predicted class label.
    pub label: i64,
    /// Share of trees voting for each class, in class-index order; sums to 1.
    pub probabilities: Vec<f64>,
    /// Probability of the predicted class.
    pub confidence: f64,
}

/// Predictions for a batch of rows.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchPrediction {
    /// Predicted class index per row.
    pub class_indices: Vec<usize>,
    /// Predicted label per row.
    pub labels: Vec<i64>,
    /// `rows x classes` share of trees voting for each class.
    pub probabilities: Array2<f64>,
}

impl BatchPrediction {
    /// Probability of the predicted class for row `row`, if it exists.
    pub fn confidence(&self, row: usize) -> Option<f64> {
        let class = *self.class_indices.get(row)?;
        self.probabilities.get((row, class)).copied()
    }
}

impl Model {
    /// Parses, verifies and compiles an artifact from `model.json` bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ArtifactError> {
        Self::from_artifact(ModelArtifact::parse(bytes)?)
    }

    /// Verifies and compiles a parsed artifact.
    ///
    /// Checks the digest again (the artifact's fields are public), the forest's structure, and
    /// that the feature names and class labels match the forest.
    pub fn from_artifact(artifact: ModelArtifact) -> Result<Self, ArtifactError> {
        artifact.check_digest()?;
        let forest = CompiledForest::compile(&artifact.forest)?;
        let metadata = artifact.metadata;
        if metadata.feature_names.len() != forest.n_features() {
            return Err(ArtifactError::Inconsistent(format!(
                "{} feature names for a forest of {} features",
                metadata.feature_names.len(),
                forest.n_features()
            )));
        }
        if metadata.class_labels.len() != forest.n_classes() {
            return Err(ArtifactError::Inconsistent(format!(
                "{} class labels for a forest of {} classes",
                metadata.class_labels.len(),
                forest.n_classes()
            )));
        }
        if !metadata.class_labels.is_sorted_by(|a, b| a < b) {
            return Err(ArtifactError::Inconsistent(
                "class labels must be unique and ascending".to_owned(),
            ));
        }
        Ok(Model {
            metadata,
            forest_sha256: artifact.forest_sha256,
            forest,
        })
    }

    /// What the model is and how it was made.
    pub fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    /// Hex SHA-256 of the forest content.
    pub fn forest_sha256(&self) -> &str {
        &self.forest_sha256
    }

    /// Number of features a row must have.
    pub fn n_features(&self) -> usize {
        self.forest.n_features()
    }

    /// Predicts one row, after checking its length and that every value is finite.
    pub fn predict_one(&self, row: &[f64]) -> Result<Prediction, InputError> {
        let votes = self.forest.votes(row)?;
        let n_trees = self.forest.n_trees() as f64;
        let probabilities: Vec<f64> = votes
            .counts
            .iter()
            .map(|&count| f64::from(count) / n_trees)
            .collect();
        Ok(Prediction {
            class_index: votes.winner,
            label: self.metadata.class_labels[votes.winner],
            confidence: probabilities[votes.winner],
            probabilities,
        })
    }

    /// Predicts every row of a `rows x features` batch on the calling thread, after checking all
    /// of it.
    pub fn predict_batch(&self, rows: ArrayView2<'_, f64>) -> Result<BatchPrediction, InputError> {
        self.predict_batch_on_threads(rows, 1)
    }

    /// Like [`Model::predict_batch`], but splits batches of at least
    /// [`crate::PARALLEL_MIN_ROWS`] rows per thread over up to `n_threads` scoped threads.
    pub fn predict_batch_on_threads(
        &self,
        rows: ArrayView2<'_, f64>,
        n_threads: usize,
    ) -> Result<BatchPrediction, InputError> {
        let n_classes = self.forest.n_classes();
        let table = self.forest.votes_batch(rows, n_threads)?;
        let n_trees = self.forest.n_trees() as f64;
        let class_indices: Vec<usize> = table.chunks_exact(n_classes).map(winner).collect();
        let labels = class_indices
            .iter()
            .map(|&class| self.metadata.class_labels[class])
            .collect();
        let shares = table
            .iter()
            .map(|&count| f64::from(count) / n_trees)
            .collect();
        let probabilities = Array2::from_shape_vec((rows.nrows(), n_classes), shares)
            .unwrap_or_else(|_| Array2::zeros((0, n_classes)));
        Ok(BatchPrediction {
            class_indices,
            labels,
            probabilities,
        })
    }

    /// Checks that rows of possibly different lengths all have the model's feature count and packs
    /// them into a batch, naming the first bad row; the way to turn a JSON `instances` array into
    /// input for [`Model::predict_batch`] (which checks the values).
    pub fn rows_to_batch(&self, rows: &[Vec<f64>]) -> Result<Array2<f64>, InputError> {
        if rows.is_empty() {
            return Err(InputError::EmptyBatch);
        }
        let mut flat = Vec::with_capacity(rows.len() * self.n_features());
        for (row_idx, row) in rows.iter().enumerate() {
            if row.len() != self.n_features() {
                return Err(InputError::WrongFeatureCount {
                    row: Some(row_idx),
                    expected: self.n_features(),
                    actual: row.len(),
                });
            }
            flat.extend_from_slice(row);
        }
        Ok(
            Array2::from_shape_vec((rows.len(), self.n_features()), flat)
                .unwrap_or_else(|_| Array2::zeros((0, self.n_features()))),
        )
    }
}
