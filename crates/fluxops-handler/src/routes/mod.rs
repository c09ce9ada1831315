//! The HTTP routes and the OpenAPI document generated from them.

mod health;
mod model_info;
mod openapi;
mod predict;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::routing::get;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use self::openapi::ApiDocs;
use crate::error::{ApiError, bounded};
use crate::middleware::{self, ShedLayer};
use crate::state::AppState;

/// Path of the generated OpenAPI document.
pub const OPENAPI_PATH: &str = "/api/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "FluxOps",
        description = "Predictions of the tree-ensemble model being served (a classifier or a regressor, trained by fluxops-train or imported), by the FluxOps custom handler for Azure Functions. The body of /api/predict is described for the model being served when the document is fetched."
    ),
    components(schemas(crate::error::ErrorBody))
)]
struct ApiDoc;

/// Builds the whole application: routes, fallbacks and middleware, without binding anything.
///
/// Every route that does work (`/api/predict`, `/api/model-info`, the V2 infer routes) goes
/// behind the one `shed` layer, whose clones share one count of requests in flight
/// (`FLUXOPS_MAX_CONCURRENCY`); the host's readiness probe, health and the V2 health and metadata
/// routes do not, so they answer in any storm. The middleware stack (`middleware::wrap`) goes around everything,
/// and renders errors under `/v2` in the Open Inference Protocol's shape.
pub fn app(state: AppState) -> Router {
    let limits = state.limits();
    let metrics = state.metrics().clone();
    let shed = ShedLayer::new(limits.max_concurrency);
    let (router, generated) = routes_and_openapi(shed.clone());
    let docs = Arc::new(ApiDocs::new(&generated, limits.max_batch));
    let router = router
        .route(
            OPENAPI_PATH,
            get(move |State(state): State<AppState>| {
                let docs = Arc::clone(&docs);
                async move { docs.answer(&state) }
            }),
        )
        .merge(crate::v2::router(shed))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .with_state(state);
    middleware::wrap(router, limits, metrics)
}

/// The `/api` routes and their OpenAPI document, made from the same `#[utoipa::path]`
/// annotations so the two cannot drift apart; the ones that do work behind `shed`.
fn routes_and_openapi(shed: ShedLayer) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let working = OpenApiRouter::new()
        .routes(routes!(predict::predict))
        .routes(routes!(model_info::model_info))
        .route_layer(shed);
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(ready))
        .routes(routes!(health::health))
        .merge(working)
        .split_for_parts()
}

/// The Functions host's readiness probe: any answer means the handler is up.
#[utoipa::path(get, path = "/", tag = "host", responses((status = 200, description = "The handler is up")))]
async fn ready() -> StatusCode {
    StatusCode::OK
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound(bounded(&format!("{method} {}", uri.path())))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed {
        method: bounded(method.as_str()),
        path: bounded(uri.path()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_lists_every_api_route() {
        let (_, openapi) = routes_and_openapi(ShedLayer::new(1));
        let mut paths: Vec<&str> = openapi.paths.paths.keys().map(String::as_str).collect();
        paths.sort_unstable();
        assert_eq!(
            paths,
            ["/", "/api/health", "/api/model-info", "/api/predict"]
        );
    }
}
