//! `GET /api/model-info`: what the served model is, how it was made and how well it scored.
//!
//! The route is anonymous: it says nothing about where the model or its training data are stored.
//!
//! The wire types here are the handler's own, copied field by field from the artifact's metadata,
//! so that the artifact format can evolve without silently changing this response.

use axum::Json;
use axum::extract::State;
use fluxops_inference::{
    AveragedScores, ClassLabels, ClassificationEvaluation, Evaluation, Origin, Task,
};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa::openapi::schema::{AnyOfBuilder, ArrayBuilder, ObjectBuilder, Schema, Type};

use crate::error::{ApiError, ErrorBody};
use crate::routes::health::ModelSummary;
use crate::state::AppState;

/// Everything known about the model being served.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ModelInfo {
    /// Name, version, artifact digest, feature count, and when it was published and loaded.
    #[serde(flatten)]
    served: ModelSummary,
    /// `classifier` or `regressor`.
    #[schema(example = "classifier")]
    task: &'static str,
    /// Where the model came from: trained by `fluxops-train`, or imported from another
    /// framework.
    origin: OriginInfo,
    /// The algorithm and its parameters.
    algorithm: AlgorithmInfo,
    /// Feature names, in the order rows must give them.
    feature_names: Vec<String>,
    /// A classifier's class labels (numbers or strings), in class order; null for a regressor.
    #[schema(schema_with = classes_schema)]
    classes: Option<ClassesInfo>,
    /// Values per prediction: the classes of a classifier, the outputs of a regressor.
    n_outputs: usize,
    /// Evaluation on held-out rows, when the producer measured it.
    metrics: Option<EvaluationInfo>,
    /// When training (or the import) finished.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    trained_at: OffsetDateTime,
    /// Version of the trainer (or importer) that made the model.
    trainer_version: String,
    /// Hex SHA-256 of the ensemble content, as the artifact records it.
    forest_sha256: String,
}

/// Where the model came from.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum OriginInfo {
    /// Trained by `fluxops-train`.
    Trained {
        /// Version of `fluxops-train`.
        trainer_version: String,
    },
    /// Imported by `fluxops-import` from a file another framework wrote.
    Imported {
        /// Version of the importer.
        importer_version: String,
        /// Format of the imported file, e.g. `onnx`.
        file_format: String,
        /// Framework the model was trained with, when the file says, e.g. `scikit-learn`.
        framework: Option<String>,
        /// Tool that wrote the file, with its version, e.g. `skl2onnx 1.17.0`.
        converter: String,
        /// Names of the imported file's outputs, e.g. `["label", "probabilities"]`.
        output_names: Vec<String>,
    },
}

impl From<&Origin> for OriginInfo {
    fn from(origin: &Origin) -> Self {
        match origin {
            Origin::Trained { trainer_version } => OriginInfo::Trained {
                trainer_version: trainer_version.clone(),
            },
            Origin::Imported {
                importer_version,
                file_format,
                framework,
                converter,
                output_names,
                ..
            } => OriginInfo::Imported {
                importer_version: importer_version.clone(),
                file_format: file_format.clone(),
                framework: framework.clone(),
                converter: converter.clone(),
                output_names: output_names.clone(),
            },
        }
    }
}

/// The schema of [`ModelInfo::classes`]: integers, strings, or null.
fn classes_schema() -> Schema {
    let labels =
        |label_type| ArrayBuilder::new().items(ObjectBuilder::new().schema_type(label_type));
    AnyOfBuilder::new()
        .item(labels(Type::Integer))
        .item(labels(Type::String))
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .description(Some(
            "A classifier's class labels (numbers or strings), in class order; null for a regressor.",
        ))
        .build()
        .into()
}

/// Class labels as JSON: numbers or strings.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum ClassesInfo {
    /// Integer labels.
    Integers(Vec<i64>),
    /// String labels.
    Strings(Vec<String>),
}

/// How the model did on held-out rows.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum EvaluationInfo {
    /// A classifier's report.
    Classification(MetricsInfo),
    /// A regressor's report.
    Regression(RegressionInfo),
}

/// A regressor's evaluation on held-out rows.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RegressionInfo {
    /// Rows evaluated.
    n_samples: usize,
    /// Root mean squared error.
    rmse: f64,
    /// Mean absolute error.
    mae: f64,
    /// Coefficient of determination.
    r2: f64,
}

/// The algorithm and its parameters.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AlgorithmInfo {
    /// Algorithm name, e.g. `random_forest_classifier`.
    name: String,
    /// Library and version that fitted the trees.
    library: String,
    /// The parameters as the library names them (for smartcore forests `n_trees`, `max_depth`,
    /// `min_samples_split`, `min_samples_leaf`, `max_features`, `seed`, `n_shards`).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    parameters: serde_json::Map<String, serde_json::Value>,
}

/// Test-split evaluation.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MetricsInfo {
    /// Rows evaluated.
    n_samples: usize,
    /// Share of rows predicted correctly.
    accuracy: f64,
    /// Unweighted mean over classes.
    macro_avg: AveragedInfo,
    /// Mean over classes weighted by support.
    weighted_avg: AveragedInfo,
    /// Per class, in class order.
    per_class: Vec<ClassInfo>,
    /// `confusion_matrix[true][predicted]`, in class order.
    confusion_matrix: Vec<Vec<usize>>,
}

/// Averaged precision, recall and F1.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AveragedInfo {
    /// Precision.
    precision: f64,
    /// Recall.
    recall: f64,
    /// F1 score.
    f1: f64,
}

/// Precision, recall, F1 and support of one class.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClassInfo {
    /// The class label.
    label: i64,
    /// Precision.
    precision: f64,
    /// Recall.
    recall: f64,
    /// F1 score.
    f1: f64,
    /// Rows of this class.
    support: usize,
}

impl From<&AveragedScores> for AveragedInfo {
    fn from(metrics: &AveragedScores) -> Self {
        AveragedInfo {
            precision: metrics.precision,
            recall: metrics.recall,
            f1: metrics.f1,
        }
    }
}

impl From<&ClassificationEvaluation> for MetricsInfo {
    fn from(evaluation: &ClassificationEvaluation) -> Self {
        MetricsInfo {
            n_samples: evaluation.n_samples,
            accuracy: evaluation.accuracy,
            macro_avg: (&evaluation.macro_avg).into(),
            weighted_avg: (&evaluation.weighted_avg).into(),
            per_class: evaluation
                .per_class
                .iter()
                .map(|class| ClassInfo {
                    label: class.label,
                    precision: class.precision,
                    recall: class.recall,
                    f1: class.f1,
                    support: class.support,
                })
                .collect(),
            confusion_matrix: evaluation.confusion_matrix.clone(),
        }
    }
}

/// Describes the model being served.
#[utoipa::path(
    get,
    path = "/api/model-info",
    tag = "operations",
    responses(
        (status = 200, description = "The model being served", body = ModelInfo),
        (status = 503, description = "`model_unavailable` (no model is loaded yet) or `overloaded` (retry after Retry-After seconds)", body = ErrorBody),
        (status = 504, description = "`timeout`: the request took longer than the handler allows", body = ErrorBody),
    )
)]
pub(crate) async fn model_info(State(state): State<AppState>) -> Result<Json<ModelInfo>, ApiError> {
    let loaded = state.model().ok_or(ApiError::ModelUnavailable)?;
    let model = &loaded.model;
    let metadata = model.metadata();
    let algorithm = &metadata.algorithm;
    let (task, classes) = match &model.schema().task {
        Task::Classifier {
            labels: ClassLabels::Integers(labels),
        } => ("classifier", Some(ClassesInfo::Integers(labels.clone()))),
        Task::Classifier {
            labels: ClassLabels::Strings(labels),
        } => ("classifier", Some(ClassesInfo::Strings(labels.clone()))),
        Task::Regressor {} => ("regressor", None),
    };
    let origin = OriginInfo::from(&metadata.origin);
    let trainer_version = match &origin {
        OriginInfo::Trained { trainer_version } => trainer_version.clone(),
        OriginInfo::Imported {
            importer_version, ..
        } => importer_version.clone(),
    };
    Ok(Json(ModelInfo {
        served: ModelSummary::from(&*loaded),
        task,
        origin,
        algorithm: AlgorithmInfo {
            name: algorithm.name.clone(),
            library: algorithm.library.clone(),
            parameters: algorithm.parameters.clone(),
        },
        feature_names: model.schema().feature_names.clone(),
        classes,
        n_outputs: loaded.n_outputs,
        metrics: metadata
            .evaluation
            .as_ref()
            .map(|evaluation| match evaluation {
                Evaluation::Classification(evaluation) => {
                    EvaluationInfo::Classification(evaluation.into())
                }
                Evaluation::Regression(evaluation) => EvaluationInfo::Regression(RegressionInfo {
                    n_samples: evaluation.n_samples,
                    rmse: evaluation.rmse,
                    mae: evaluation.mae,
                    r2: evaluation.r2,
                }),
            }),
        trained_at: metadata.created_at,
        trainer_version,
        forest_sha256: model.ensemble_sha256().to_owned(),
    }))
}
