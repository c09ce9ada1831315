//! The Open Inference Protocol ("V2", as KServe, MLServer and Triton speak it) beside the
//! original `/api` routes, with Triton's binary tensor data extension.
//!
//! Routes: `GET /v2` (server metadata), `GET /v2/health/live`,
//! `GET /v2/health/ready`, and for the served model `GET /v2/models/{model_name}`,
//! `GET .../ready` and `POST .../infer`, each also under `/versions/{model_version}`; plus
//! `GET /v2/openapi.json`, generated from the same annotations as the routes. The model's one
//! input is `[rows, features]` (or `[features]`); its outputs are named as MLServer's
//! scikit-learn runtime names them: `predict` and, for classifiers, `predict_proba`.
//!
//! Every failure under `/v2` is answered in the protocol's shape, `{"error": "<message>"}`:
//! the routes' own as [`error::V2Error`], unknown paths and methods included, and those of the
//! layers every route shares (body limit, overload, timeout, panic) re-shaped by the edge
//! middleware (`crate::error::ErrorShape`). Both are recorded in telemetry as `/api`'s are.

mod error;
#[cfg(test)]
mod fixtures;
mod infer;
mod model;
mod request;
mod response;
mod server;
mod tensor;

use axum::Router;
use axum::body::Bytes;
use axum::http::{Method, Uri, header};
use axum::routing::{any, get};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::middleware::ShedLayer;
use crate::state::AppState;
use error::{V2Error, bounded};

/// The catch-all route that answers unknown paths under `/v2/` in the V2 shape. (A router
/// nested at `/v2` would do it too, but rebuilds every request's URI on the way in.)
const NO_ROUTE_PATH: &str = "/v2/{*rest}";

/// Path of the V2 routes' OpenAPI document.
pub(crate) const OPENAPI_PATH: &str = "/v2/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "FluxOps: Open Inference Protocol (V2)",
        description = "The Open Inference Protocol's REST routes for the model FluxOps serves, with the binary tensor data extension. Errors are `{\"error\": \"<message>\"}`. Behind Azure Functions, the infer routes need the function key; the others are anonymous."
    ),
    components(schemas(error::V2ErrorBody))
)]
struct V2Doc;

/// The V2 routes, their OpenAPI document at [`OPENAPI_PATH`], and V2-shaped answers for unknown
/// paths under `/v2/` and for methods a route does not take. The infer routes go behind `shed`
/// (the layer `/api/predict` is behind, sharing its count); health and metadata do not, so they
/// answer in any storm.
pub(crate) fn router(shed: ShedLayer) -> Router<AppState> {
    let (router, openapi) = routes_and_openapi(shed);
    let openapi = Bytes::from(openapi.to_json().expect("the OpenAPI document serialises"));
    router
        .route(
            OPENAPI_PATH,
            get(move || {
                let openapi = openapi.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], openapi) }
            }),
        )
        .method_not_allowed_fallback(method_not_allowed)
        .route(NO_ROUTE_PATH, any(no_route))
}

/// The routes and their OpenAPI document, made from the same `#[utoipa::path]` annotations.
fn routes_and_openapi(shed: ShedLayer) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let working = OpenApiRouter::new()
        .routes(routes!(infer::infer))
        .routes(routes!(infer::infer_version))
        .route_layer(shed);
    OpenApiRouter::with_openapi(V2Doc::openapi())
        .routes(routes!(server::server_metadata))
        .routes(routes!(server::live))
        .routes(routes!(server::ready))
        .routes(routes!(model::model_metadata))
        .routes(routes!(model::model_version_metadata))
        .routes(routes!(model::model_ready))
        .routes(routes!(model::model_version_ready))
        .merge(working)
        .split_for_parts()
}

async fn no_route(method: Method, uri: Uri) -> V2Error {
    V2Error::NoRoute {
        method: method.to_string(),
        path: bounded(uri.path()),
    }
}

async fn method_not_allowed(method: Method, uri: Uri) -> V2Error {
    V2Error::MethodNotAllowed {
        method: method.to_string(),
        path: bounded(uri.path()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_lists_every_v2_route() {
        let (_, openapi) = routes_and_openapi(ShedLayer::new(1));
        let mut paths: Vec<&str> = openapi.paths.paths.keys().map(String::as_str).collect();
        paths.sort_unstable();
        assert_eq!(
            paths,
            [
                "/v2",
                "/v2/health/live",
                "/v2/health/ready",
                "/v2/models/{model_name}",
                "/v2/models/{model_name}/infer",
                "/v2/models/{model_name}/ready",
                "/v2/models/{model_name}/versions/{model_version}",
                "/v2/models/{model_name}/versions/{model_version}/infer",
                "/v2/models/{model_name}/versions/{model_version}/ready",
            ]
        );
    }
}
