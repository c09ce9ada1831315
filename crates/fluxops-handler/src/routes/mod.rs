//! The HTTP routes and the OpenAPI document generated from them.

mod health;
mod model_info;
mod predict;

use axum::Router;
use axum::body::Bytes;
use axum::http::{Method, StatusCode, Uri, header};
use axum::routing::get;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::middleware;
use crate::state::AppState;

/// Path of the generated OpenAPI document.
pub const OPENAPI_PATH: &str = "/api/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "FluxOps",
        description = "Random-forest predictions served by the FluxOps custom handler for Azure Functions."
    ),
    components(schemas(crate::error::ErrorBody))
)]
struct ApiDoc;

/// Builds the whole application: routes, fallbacks and middleware, without binding anything.
pub fn app(state: AppState) -> Router {
    let limits = state.limits();
    let (router, openapi) = routes_and_openapi();
    let openapi = Bytes::from(openapi.to_json().unwrap_or_default());
    let router = router
        .route(
            OPENAPI_PATH,
            get(move || {
                let openapi = openapi.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], openapi) }
            }),
        )
        .merge(crate::v2::router())
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .with_state(state);
    middleware::wrap(router, limits)
}

/// The routes and the OpenAPI document, made from the same `#[utoipa::path]` annotations so the
/// two cannot drift apart.
fn routes_and_openapi() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(ready))
        .routes(routes!(health::health))
        .routes(routes!(predict::predict))
        .routes(routes!(model_info::model_info))
        .split_for_parts()
}

/// The Functions host's readiness probe: any answer means the handler is up.
#[utoipa::path(get, path = "/", tag = "host", responses((status = 200, description = "The handler is up")))]
async fn ready() -> StatusCode {
    StatusCode::OK
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound(format!("{method} {}", shorten(uri.path())))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
        path: shorten(uri.path()),
    }
}

/// A caller's path, cut short enough to echo in a message.
fn shorten(path: &str) -> String {
    const MAX_CHARS: usize = 100;
    match path.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}...", &path[..cut]),
        None => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_lists_every_api_route() {
        let (_, openapi) = routes_and_openapi();
        let mut paths: Vec<&str> = openapi.paths.paths.keys().map(String::as_str).collect();
        paths.sort_unstable();
        assert_eq!(
            paths,
            ["/", "/api/health", "/api/model-info", "/api/predict"]
        );
    }

    #[test]
    fn long_paths_are_cut_short() {
        assert_eq!(shorten("/api"), "/api");
        let long = format!("/{}", "é".repeat(300));
        assert_eq!(shorten(&long).chars().count(), 103);
    }
}
