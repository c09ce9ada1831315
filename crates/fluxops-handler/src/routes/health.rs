//! `GET /api/health`: whether a model is being served, which one, and, if something is wrong, a
//! stable problem code.
//!
//! The route is anonymous: it names no storage account, container, path, identity or storage
//! error. Operators find those in the logs and telemetry.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::state::{AppState, LoadedModel, Problem};

/// The health report.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// `healthy` when a model is being served, `unhealthy` otherwise.
    #[schema(example = "healthy")]
    status: &'static str,
    /// Always `fluxops-handler`.
    service: &'static str,
    /// Version of the handler.
    version: &'static str,
    /// What is wrong, if anything: why no model is served, or why the newest published version
    /// is not the one served.
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<ProblemReport>,
    /// The model being served, if any.
    model: Option<ModelSummary>,
    /// The registry watcher.
    registry: RegistryReport,
}

/// A problem: a stable code for programs and a message for people.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProblemReport {
    /// `first_check_pending`, `no_model_yet`, `registry_unavailable` or `model_refused`.
    #[schema(example = "model_refused")]
    code: &'static str,
    /// What it means and what happens next.
    message: &'static str,
}

impl From<Problem> for ProblemReport {
    fn from(problem: Problem) -> Self {
        ProblemReport {
            code: problem.code(),
            message: problem.message(),
        }
    }
}

/// Which model is being served (also the first fields of `/api/model-info`).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ModelSummary {
    /// Model name in the registry.
    name: String,
    /// Version in the registry.
    version: String,
    /// Hex SHA-256 of the artifact.
    sha256: String,
    /// When the version became `latest` in the registry.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    published_at: OffsetDateTime,
    /// When this process loaded it.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    loaded_at: OffsetDateTime,
    /// Number of features a row must have.
    n_features: usize,
}

impl From<&LoadedModel> for ModelSummary {
    fn from(loaded: &LoadedModel) -> Self {
        ModelSummary {
            name: loaded.model.metadata().name.clone(),
            version: loaded.version.clone(),
            sha256: loaded.sha256.clone(),
            published_at: loaded.published_at,
            loaded_at: loaded.loaded_at,
            n_features: loaded.model.predictor().n_features(),
        }
    }
}

/// What the registry watcher is doing.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RegistryReport {
    /// When the last check finished; null before the first.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    checked_at: Option<OffsetDateTime>,
    /// How often the watcher died and was started again since the handler started (each time
    /// also logged and recorded as an exception).
    watcher_restarts: u32,
}

/// The code of an unhealthy answer before the registry watcher's first check has finished.
const FIRST_CHECK_PENDING: ProblemReport = ProblemReport {
    code: "first_check_pending",
    message: "the first registry check has not finished yet; retry shortly",
};

/// Health of the handler: 200 once a model is being served, 503 with a problem code before.
#[utoipa::path(
    get,
    path = "/api/health",
    tag = "operations",
    responses(
        (status = 200, description = "A model is being served; `problem`, if present, says why the newest published version is not the one served", body = Health),
        (status = 503, description = "No model is served; `problem.code` says why", body = Health),
    )
)]
pub(crate) async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let registry = state.registry_status();
    let model = state.model().map(|loaded| ModelSummary::from(&*loaded));
    let problem = registry.problem.map(ProblemReport::from);
    let (status, label, problem) = match (&model, registry.checked_at) {
        (Some(_), _) => (StatusCode::OK, "healthy", problem),
        (None, None) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "unhealthy",
            Some(FIRST_CHECK_PENDING),
        ),
        (None, Some(_)) => (StatusCode::SERVICE_UNAVAILABLE, "unhealthy", problem),
    };
    let health = Health {
        status: label,
        service: env!("CARGO_PKG_NAME"),
        version: env!("CARGO_PKG_VERSION"),
        problem,
        model,
        registry: RegistryReport {
            checked_at: registry.checked_at,
            watcher_restarts: state.watcher_restarts(),
        },
    };
    (status, Json(health))
}
