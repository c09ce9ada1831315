//! `GET /api/model-info`: what the served model is, how it was made and how well it scored.
//!
//! The route is anonymous: it says nothing about where the model or its training data are stored.
//!
//! The wire types here are the handler's own, copied field by field from the artifact's metadata,
//! so that the artifact format can evolve without silently changing this response.

use axum::Json;
use axum::extract::State;
use fluxops_inference::{AveragedScores, ClassificationEvaluation, Evaluation, Origin};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::routes::health::ModelSummary;
use crate::state::AppState;

/// Everything known about the model being served.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ModelInfo {
    /// Name, version, artifact digest, and when it was published and loaded.
    #[serde(flatten)]
    served: ModelSummary,
    /// The algorithm and its parameters.
    algorithm: AlgorithmInfo,
    /// Number of features a row must have.
    n_features: usize,
    /// Feature names, in the order rows must give them.
    feature_names: Vec<String>,
    /// Class labels, in class order.
    classes: Vec<i64>,
    /// Evaluation on the held-out test split, when the model is a classifier that has one.
    metrics: Option<MetricsInfo>,
    /// When training finished.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    trained_at: OffsetDateTime,
    /// Version of the trainer (or importer) that made the model.
    trainer_version: String,
    /// Hex SHA-256 of the ensemble content, as the artifact records it.
    forest_sha256: String,
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
        (status = 503, description = "`model_unavailable`: no model is loaded yet", body = ErrorBody),
    )
)]
pub(crate) async fn model_info(State(state): State<AppState>) -> Result<Json<ModelInfo>, ApiError> {
    let loaded = state.model().ok_or(ApiError::ModelUnavailable)?;
    let model = &loaded.model;
    let metadata = model.metadata();
    let algorithm = &metadata.algorithm;
    Ok(Json(ModelInfo {
        served: ModelSummary::from(&*loaded),
        algorithm: AlgorithmInfo {
            name: algorithm.name.clone(),
            library: algorithm.library.clone(),
            parameters: algorithm.parameters.clone(),
        },
        n_features: model.predictor().n_features(),
        feature_names: model.schema().feature_names.clone(),
        classes: loaded.labels.clone(),
        metrics: match &metadata.evaluation {
            Some(Evaluation::Classification(evaluation)) => Some(evaluation.into()),
            _ => None,
        },
        trained_at: metadata.created_at,
        trainer_version: match &metadata.origin {
            Origin::Trained { trainer_version } => trainer_version.clone(),
            Origin::Imported {
                importer_version, ..
            } => importer_version.clone(),
        },
        forest_sha256: model.ensemble_sha256().to_owned(),
    }))
}
