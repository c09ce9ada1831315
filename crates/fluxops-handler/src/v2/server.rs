//! The server routes: liveness, readiness and server metadata.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

/// The extensions this server offers, under the names Triton gives them: the binary tensor
/// data extension (`Inference-Header-Content-Length`, `binary_data_size`, `binary_data`,
/// `binary_data_output`).
pub(crate) const EXTENSIONS: [&str; 1] = ["binary_tensor_data"];

/// Server metadata (`$metadata_server_response`).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ServerMetadata {
    /// Always `fluxops`.
    #[schema(example = "fluxops")]
    name: &'static str,
    /// The handler's version.
    #[schema(example = "0.1.0")]
    version: &'static str,
    /// `binary_tensor_data`.
    #[schema(value_type = Vec<String>, example = json!(["binary_tensor_data"]))]
    extensions: [&'static str; 1],
}

/// Liveness (`$live_server_response`).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Live {
    /// Always true: a server that answers is live.
    live: bool,
}

/// Readiness.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Ready {
    /// Whether the model is loaded.
    ready: bool,
}

/// The server's name, version and extensions.
#[utoipa::path(get, path = "/v2", tag = "v2", responses((status = 200, description = "Who the server is", body = ServerMetadata)))]
pub(crate) async fn server_metadata() -> Json<ServerMetadata> {
    Json(ServerMetadata {
        name: "fluxops",
        version: env!("CARGO_PKG_VERSION"),
        extensions: EXTENSIONS,
    })
}

/// Whether the server answers at all (a liveness probe).
#[utoipa::path(get, path = "/v2/health/live", tag = "v2", responses((status = 200, description = "The server is live", body = Live)))]
pub(crate) async fn live() -> Json<Live> {
    Json(Live { live: true })
}

/// Whether the server can infer: 200 once the model is loaded, 503 before (a readiness probe;
/// `/api/health` says why not).
#[utoipa::path(get, path = "/v2/health/ready", tag = "v2", responses(
    (status = 200, description = "The model is loaded", body = Ready),
    (status = 503, description = "No model is loaded yet", body = Ready)))]
pub(crate) async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Ready>) {
    let ready = state.model().is_some();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(Ready { ready }))
}
