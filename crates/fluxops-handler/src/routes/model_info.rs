//! `GET /api/model-info`: what the served model is, how it was made and how well it scored.
//!
//! The wire types here are the handler's own, copied field by field from the artifact's metadata,
//! so that the artifact format can evolve without silently changing this response.

use axum::Json;
use axum::extract::State;
use fluxops_inference::{AveragedMetrics, Evaluation};
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
    /// Evaluation on the held-out test split.
    metrics: MetricsInfo,
    /// Where the training data came from (path, URL or `synthetic:<rows>:<seed>`).
    training_data: String,
    /// When training finished.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    trained_at: OffsetDateTime,
    /// Version of the trainer that made the model.
    trainer_version: String,
    /// Hex SHA-256 of the forest content, as the artifact records it.
    forest_sha256: String,
    /// Registry location and key the artifact was loaded from.
    source: String,
}

/// The algorithm and its parameters.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AlgorithmInfo {
    /// Algorithm name, `random_forest_classifier`.
    name: String,
    /// Library and version that fitted the trees.
    library: String,
    /// Number of trees.
    n_trees: usize,
    /// Maximum tree depth, if limited.
    max_depth: Option<u16>,
    /// Minimum rows a node needs to be split.
    min_samples_split: usize,
    /// Minimum rows in a leaf.
    min_samples_leaf: usize,
    /// Features tried at each split.
    max_features: usize,
    /// Random seed.
    seed: u64,
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

impl From<&AveragedMetrics> for AveragedInfo {
    fn from(metrics: &AveragedMetrics) -> Self {
        AveragedInfo {
            precision: metrics.precision,
            recall: metrics.recall,
            f1: metrics.f1,
        }
    }
}

impl From<&Evaluation> for MetricsInfo {
    fn from(evaluation: &Evaluation) -> Self {
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
            n_trees: algorithm.n_trees,
            max_depth: algorithm.max_depth,
            min_samples_split: algorithm.min_samples_split,
            min_samples_leaf: algorithm.min_samples_leaf,
            max_features: algorithm.max_features,
            seed: algorithm.seed,
        },
        n_features: model.n_features(),
        feature_names: metadata.feature_names.clone(),
        classes: metadata.class_labels.clone(),
        metrics: (&metadata.metrics).into(),
        training_data: metadata.training_data.source.clone(),
        trained_at: metadata.created_at,
        trainer_version: metadata.trainer_version.clone(),
        forest_sha256: model.forest_sha256().to_owned(),
        source: loaded.source.clone(),
    }))
}
