//! Prediction: a compiled ensemble read through its schema, as classes or values.

use ndarray::{Array2, ArrayView2};

use crate::artifact::{ClassLabels, EnsembleSpec, Schema, Task, binary_class_index, class_index};
use crate::ensemble::{CompiledEnsemble, PARALLEL_MIN_ROWS};
use crate::error::{ArtifactError, InputError};
use crate::limits::ModelLimits;

/// A checked, compiled ensemble with its schema: everything needed to predict, nothing about
/// where the model came from.
///
/// [`crate::Model`] holds one for a loaded artifact; a producer (the trainer, an importer) makes
/// one with [`Predictor::new`] to check what it built before writing the artifact.
#[derive(Debug, Clone)]
pub struct Predictor {
    schema: Schema,
    ensemble: CompiledEnsemble,
    /// A two-class classifier whose one output is the probability of the second class.
    binary_score: bool,
}

/// The prediction for one row.
#[derive(Debug, Clone, PartialEq)]
pub enum Prediction<'m> {
    /// A classifier's answer.
    Class(ClassPrediction<'m>),
    /// A regressor's answer: one value per output.
    Values(Vec<f64>),
}

/// A classifier's answer for one row.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassPrediction<'m> {
    /// Index of the predicted class in the schema's labels.
    pub class_index: usize,
    /// The predicted class label.
    pub label: ClassLabel<'m>,
    /// Probability of each class, in class-index order.
    pub probabilities: Vec<f64>,
    /// Probability of the predicted class.
    pub confidence: f64,
}

/// A class label, borrowed from the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassLabel<'m> {
    /// An integer label.
    Integer(i64),
    /// A string label.
    String(&'m str),
}

impl std::fmt::Display for ClassLabel<'_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClassLabel::Integer(label) => label.fmt(formatter),
            ClassLabel::String(label) => label.fmt(formatter),
        }
    }
}

/// Predictions for a batch of rows, row-major and without per-row allocations: ready to hand
/// out as `[rows, 1]` and `[rows, classes]` (or `[rows, outputs]`) tensors.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchPrediction {
    /// A classifier's answers.
    Classes(ClassBatch),
    /// A regressor's answers: `rows x outputs`.
    Values(Array2<f64>),
}

/// A classifier's answers for a batch of rows.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassBatch {
    /// Predicted class index per row ([`Predictor::class_label`] turns one into its label).
    pub class_indices: Vec<usize>,
    /// `rows x classes` probabilities, in class-index order.
    pub probabilities: Array2<f64>,
}

impl ClassBatch {
    /// Probability of the predicted class for row `row`, if it exists.
    pub fn confidence(&self, row: usize) -> Option<f64> {
        let class = *self.class_indices.get(row)?;
        self.probabilities.get((row, class)).copied()
    }
}

impl Predictor {
    /// Checks that `schema` fits `ensemble` and compiles the ensemble within `limits`.
    ///
    /// The schema must name one feature per ensemble feature; a classifier needs unique labels
    /// and one output per class, or one output for two classes (the probability of the second).
    pub fn new(
        schema: Schema,
        ensemble: &EnsembleSpec,
        limits: &ModelLimits,
    ) -> Result<Self, ArtifactError> {
        let ensemble = CompiledEnsemble::compile(ensemble, limits)?;
        let inconsistent = |message: String| Err(ArtifactError::Inconsistent(message));
        if schema.feature_names.len() != ensemble.n_features() {
            return inconsistent(format!(
                "{} feature names for an ensemble of {} features",
                schema.feature_names.len(),
                ensemble.n_features()
            ));
        }
        let n_outputs = ensemble.n_outputs();
        let binary_score = match &schema.task {
            Task::Regressor {} => false,
            Task::Classifier { labels } => {
                if !labels.are_unique() {
                    return inconsistent("class labels must be unique".to_owned());
                }
                let binary_score = labels.len() == 2 && n_outputs == 1;
                if labels.len() != n_outputs && !binary_score {
                    return inconsistent(format!(
                        "{} class labels for an ensemble of {n_outputs} outputs (a classifier needs one output per class, or one output for two classes)",
                        labels.len()
                    ));
                }
                binary_score
            }
        };
        Ok(Predictor {
            schema,
            ensemble,
            binary_score,
        })
    }

    /// Feature names and task.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Number of features a row must have.
    pub fn n_features(&self) -> usize {
        self.ensemble.n_features()
    }

    /// The label of class `class_index`, if there is such a class.
    pub fn class_label(&self, class_index: usize) -> Option<ClassLabel<'_>> {
        match &self.schema.task {
            Task::Classifier {
                labels: ClassLabels::Integers(labels),
            } => labels.get(class_index).copied().map(ClassLabel::Integer),
            Task::Classifier {
                labels: ClassLabels::Strings(labels),
            } => labels
                .get(class_index)
                .map(|label| ClassLabel::String(label)),
            Task::Regressor {} => None,
        }
    }

    /// Predicts one row, after checking its length and that every value is finite.
    pub fn predict_one(&self, row: &[f64]) -> Result<Prediction<'_>, InputError> {
        // The answer's one allocation, with room for a binary classifier's two probabilities.
        let mut scores = Vec::with_capacity(self.ensemble.n_outputs().max(2));
        self.ensemble.untransformed_scores(row, &mut scores)?;
        if let Task::Regressor {} = self.schema.task {
            self.ensemble.transform(&mut scores);
            return Ok(Prediction::Values(scores));
        }
        let (class_index, probabilities) = if self.binary_score {
            self.ensemble.transform(&mut scores);
            let p = scores[0];
            scores.clear();
            scores.extend([1.0 - p, p]);
            (binary_class_index(p), scores)
        } else {
            let class_index = class_index(&scores);
            self.ensemble.transform(&mut scores);
            (class_index, scores)
        };
        Ok(Prediction::Class(ClassPrediction {
            class_index,
            label: self
                .class_label(class_index)
                .expect("a classifier has a label per probability"),
            confidence: probabilities[class_index],
            probabilities,
        }))
    }

    /// Predicts every row of a `rows x features` batch on the calling thread, after checking all
    /// of it.
    pub fn predict_batch(&self, rows: ArrayView2<'_, f64>) -> Result<BatchPrediction, InputError> {
        self.predict_batch_on_threads(rows, 1)
    }

    /// Like [`Predictor::predict_batch`], but splits batches of at least 1024 rows per thread
    /// over up to `n_threads` scoped threads.
    pub fn predict_batch_on_threads(
        &self,
        rows: ArrayView2<'_, f64>,
        n_threads: usize,
    ) -> Result<BatchPrediction, InputError> {
        const _: () = assert!(PARALLEL_MIN_ROWS == 1024, "update the doc comment above");
        let n_rows = rows.nrows();
        let n_outputs = self.ensemble.n_outputs();
        let per_class = matches!(self.schema.task, Task::Classifier { .. }) && !self.binary_score;
        let (scores, class_indices) = self.ensemble.scores_batch(rows, n_threads, per_class)?;
        if let Task::Regressor {} = self.schema.task {
            return Ok(BatchPrediction::Values(table(n_rows, n_outputs, scores)));
        }
        if per_class {
            return Ok(BatchPrediction::Classes(ClassBatch {
                class_indices,
                probabilities: table(n_rows, n_outputs, scores),
            }));
        }
        let expanded = scores.iter().flat_map(|&p| [1.0 - p, p]).collect();
        Ok(BatchPrediction::Classes(ClassBatch {
            class_indices: scores.iter().map(|&p| binary_class_index(p)).collect(),
            probabilities: table(n_rows, 2, expanded),
        }))
    }

    /// Checks that rows of possibly different lengths all have the model's feature count and
    /// packs them into a batch, naming the first bad row; the way to turn a JSON `instances`
    /// array into input for [`Predictor::predict_batch`] (which checks the values).
    pub fn rows_to_batch(&self, rows: &[Vec<f64>]) -> Result<Array2<f64>, InputError> {
        if rows.is_empty() {
            return Err(InputError::EmptyBatch);
        }
        let n_features = self.n_features();
        let mut flat = Vec::with_capacity(rows.len() * n_features);
        for (row_idx, row) in rows.iter().enumerate() {
            if row.len() != n_features {
                return Err(InputError::WrongFeatureCount {
                    row: Some(row_idx),
                    expected: n_features,
                    actual: row.len(),
                });
            }
            flat.extend_from_slice(row);
        }
        Ok(table(rows.len(), n_features, flat))
    }
}

/// A row-major `n_rows x n_columns` array around `values`, which has exactly that many.
fn table(n_rows: usize, n_columns: usize, values: Vec<f64>) -> Array2<f64> {
    Array2::from_shape_vec((n_rows, n_columns), values)
        .expect("the values were made for this shape")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::{Aggregation, NodeSpec, NumberType, PostTransform, TreeSpec};

    /// One stump on feature 0 at 0.0 whose two leaves hold `low` and `high`.
    fn stump_ensemble(
        low: Vec<f64>,
        high: Vec<f64>,
        post_transform: PostTransform,
    ) -> EnsembleSpec {
        EnsembleSpec {
            n_features: 1,
            n_outputs: low.len(),
            aggregation: Aggregation::Sum,
            base_values: vec![0.0; low.len()],
            post_transform,
            score_type: NumberType::F64,
            trees: vec![TreeSpec {
                nodes: vec![
                    NodeSpec::split(0, 0.0, 1, 2),
                    NodeSpec::leaf(low),
                    NodeSpec::leaf(high),
                ],
            }],
        }
    }

    fn schema(task: Task) -> Schema {
        Schema {
            feature_names: vec!["x".to_owned()],
            task,
        }
    }

    fn strings(labels: &[&str]) -> Task {
        Task::Classifier {
            labels: ClassLabels::Strings(labels.iter().map(|label| (*label).to_owned()).collect()),
        }
    }

    fn classifier(labels: &[&str], ensemble: &EnsembleSpec) -> Predictor {
        Predictor::new(schema(strings(labels)), ensemble, &ModelLimits::default()).unwrap()
    }

    fn class_of(prediction: Prediction<'_>) -> ClassPrediction<'_> {
        match prediction {
            Prediction::Class(class) => class,
            Prediction::Values(values) => panic!("a classifier answered values {values:?}"),
        }
    }

    #[test]
    fn one_score_for_two_classes_is_the_second_class_probability() {
        let ensemble = stump_ensemble(vec![0.25], vec![0.75], PostTransform::None);
        let predictor = classifier(&["no", "yes"], &ensemble);
        let low = class_of(predictor.predict_one(&[-1.0]).unwrap());
        assert_eq!(low.probabilities, vec![0.75, 0.25]);
        assert_eq!(
            (low.class_index, low.label, low.confidence),
            (0, ClassLabel::String("no"), 0.75)
        );
        let batch = predictor
            .predict_batch(ndarray::array![[-1.0], [1.0]].view())
            .unwrap();
        let BatchPrediction::Classes(batch) = batch else {
            panic!("a classifier predicts classes");
        };
        assert_eq!(batch.class_indices, vec![0, 1]);
        assert_eq!(
            batch.probabilities,
            ndarray::array![[0.75, 0.25], [0.25, 0.75]]
        );
        assert_eq!(batch.confidence(1), Some(0.75));
        assert_eq!(batch.confidence(2), None);
    }

    #[test]
    fn a_binary_tie_goes_to_the_first_class() {
        let ensemble = stump_ensemble(vec![0.0], vec![0.0], PostTransform::Logistic);
        let predictor = classifier(&["a", "b"], &ensemble);
        let prediction = class_of(predictor.predict_one(&[1.0]).unwrap());
        assert_eq!(prediction.probabilities, vec![0.5, 0.5]);
        assert_eq!(prediction.label, ClassLabel::String("a"));
    }

    #[test]
    fn the_class_is_chosen_before_the_transform_among_scored_classes() {
        // Class "b" has no value anywhere (-0.0): the logistic makes it 0.5, more than "a" and
        // "c" on the low side, yet it is never predicted.
        let mut ensemble = stump_ensemble(
            vec![-2.0, -0.0, -1.0],
            vec![40.0, -0.0, 41.0],
            PostTransform::Logistic,
        );
        ensemble.base_values = vec![-0.0; 3];
        let predictor = classifier(&["a", "b", "c"], &ensemble);
        let low = class_of(predictor.predict_one(&[-1.0]).unwrap());
        assert_eq!(low.label, ClassLabel::String("c"));
        assert_eq!(low.probabilities[1], 0.5);
        assert!(low.probabilities[2] < 0.5);
        // Both logistics round to 1.0; the scores before it still say "c".
        let high = class_of(predictor.predict_one(&[1.0]).unwrap());
        assert_eq!((high.probabilities[0], high.probabilities[2]), (1.0, 1.0));
        assert_eq!(high.label, ClassLabel::String("c"));
        let BatchPrediction::Classes(batch) = predictor
            .predict_batch(ndarray::array![[-1.0], [1.0]].view())
            .unwrap()
        else {
            panic!("a classifier predicts classes");
        };
        assert_eq!(batch.class_indices, vec![2, 2]);
        // A base value of +0.0 scores every class: "b" then wins on the low side.
        ensemble.base_values = vec![0.0; 3];
        let predictor = classifier(&["a", "b", "c"], &ensemble);
        let low = class_of(predictor.predict_one(&[-1.0]).unwrap());
        assert_eq!(low.label, ClassLabel::String("b"));
    }

    #[test]
    fn a_regressor_answers_its_values() {
        let ensemble = stump_ensemble(vec![1.5, -2.0], vec![3.0, 4.0], PostTransform::None);
        let predictor = Predictor::new(
            schema(Task::Regressor {}),
            &ensemble,
            &ModelLimits::default(),
        )
        .unwrap();
        assert_eq!(
            predictor.predict_one(&[0.0]).unwrap(),
            Prediction::Values(vec![1.5, -2.0])
        );
        assert_eq!(predictor.class_label(0), None);
        assert_eq!(
            predictor
                .predict_batch(ndarray::array![[0.0], [0.5]].view())
                .unwrap(),
            BatchPrediction::Values(ndarray::array![[1.5, -2.0], [3.0, 4.0]])
        );
    }

    #[test]
    fn refuses_a_schema_that_does_not_fit_the_ensemble() {
        let three_outputs = stump_ensemble(
            vec![1.0, 0.0, 0.0],
            vec![0.0, 0.0, 1.0],
            PostTransform::None,
        );
        let limits = ModelLimits::default();
        for (schema, expected) in [
            (
                schema(strings(&["a", "b"])),
                "2 class labels for an ensemble of 3 outputs",
            ),
            (schema(strings(&["a", "b", "a"])), "unique"),
            (
                Schema {
                    feature_names: vec![],
                    task: strings(&["a", "b", "c"]),
                },
                "0 feature names",
            ),
        ] {
            match Predictor::new(schema, &three_outputs, &limits) {
                Err(ArtifactError::Inconsistent(message)) => {
                    assert!(message.contains(expected), "{message}")
                }
                other => panic!("expected a refusal, got {other:?}"),
            }
        }
        let integers = Task::Classifier {
            labels: ClassLabels::Integers(vec![3, -1, 3]),
        };
        assert!(Predictor::new(schema(integers), &three_outputs, &limits).is_err());
    }
}
