//! `GET /api/health`: whether a model is being served, which one, and what the registry said.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::state::{AppState, LoadedModel};

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
    /// Why there is no model, when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// The model being served, if any.
    model: Option<ModelSummary>,
    /// The registry watcher's last check.
    registry: RegistryReport,
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
}

impl From<&LoadedModel> for ModelSummary {
    fn from(loaded: &LoadedModel) -> Self {
        ModelSummary {
            name: loaded.model.metadata().name.clone(),
            version: loaded.version.clone(),
            sha256: loaded.sha256.clone(),
            published_at: loaded.published_at,
            loaded_at: loaded.loaded_at,
        }
    }
}

/// What the registry watcher found.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RegistryReport {
    /// When the last check finished; null before the first.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    checked_at: Option<OffsetDateTime>,
    /// Why the newest published model is not the one served (unreachable, refused, none yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
}

/// Health of the handler: 200 once a model is being served, 503 with the reason before.
#[utoipa::path(
    get,
    path = "/api/health",
    tag = "operations",
    responses(
        (status = 200, description = "A model is being served", body = Health),
        (status = 503, description = "No model is loaded yet; `reason` says why", body = Health),
    )
)]
pub(crate) async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let registry = state.registry_status();
    let model = state.model().map(|loaded| ModelSummary::from(&*loaded));
    let (status, label, reason) = if model.is_some() {
        (StatusCode::OK, "healthy", None)
    } else {
        let reason = registry
            .problem
            .clone()
            .unwrap_or_else(|| "the first registry check has not finished yet".to_owned());
        (StatusCode::SERVICE_UNAVAILABLE, "unhealthy", Some(reason))
    };
    let health = Health {
        status: label,
        service: env!("CARGO_PKG_NAME"),
        version: env!("CARGO_PKG_VERSION"),
        reason,
        model,
        registry: RegistryReport {
            checked_at: registry.checked_at,
            problem: registry.problem.clone(),
        },
    };
    (status, Json(health))
}
