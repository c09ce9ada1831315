//! The middleware every request passes through, outermost first: request id, tracing, gzip
//! compression, JSON bodies for the layers' own errors, timeout, body limit and panic catching.

use std::any::Any;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fluxops_telemetry::INVOCATION_ID_HEADER;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{
    MakeRequestId, MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::state::Limits;

/// The header the request id travels in, both ways.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Wraps the routes in the middleware stack. Each `layer` call wraps everything added before it,
/// so the list below reads from the innermost layer to the outermost.
pub(crate) fn wrap(router: Router, limits: Limits) -> Router {
    let request_id = HeaderName::from_static(REQUEST_ID_HEADER);
    router
        // A panic becomes a generic 500; the detail goes to the log only.
        .layer(CatchPanicLayer::custom(panic_response))
        // The limit below replaces axum's own 2 MB default.
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
        // Covers the body upload too, so a client that stalls mid-body is cut off.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(axum::middleware::map_response_with_state(
            limits,
            render_layer_errors,
        ))
        .layer(CompressionLayer::new())
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(record_response),
        )
        .layer(SetRequestIdLayer::new(request_id, InvocationOrUuid))
}

/// One span per request, named by route template (`POST /api/predict`), as Application
/// Insights groups requests; it carries no body, no query string (which may hold the function
/// key) and no header but the Functions invocation id.
fn request_span(request: &Request) -> tracing::Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE, MatchedPath::as_str);
    fluxops_telemetry::server_span(request.method(), route, request.headers())
}

/// The route name of requests that match no route.
const UNMATCHED_ROUTE: &str = "(no route)";

fn record_response<B>(response: &Response<B>, latency: Duration, span: &tracing::Span) {
    fluxops_telemetry::record_response(span, response.status());
    tracing::debug!(
        status = response.status().as_u16(),
        latency_us = latency.as_micros(),
        "finished request"
    );
}

/// Takes the request id from the Functions host's invocation id when there is one, so logs of
/// the host and the handler line up; otherwise makes a UUID.
#[derive(Debug, Clone, Copy)]
struct InvocationOrUuid;

impl MakeRequestId for InvocationOrUuid {
    fn make_request_id<B>(&mut self, request: &axum::http::Request<B>) -> Option<RequestId> {
        match request.headers().get(INVOCATION_ID_HEADER) {
            Some(invocation) => Some(RequestId::new(invocation.clone())),
            None => MakeRequestUuid.make_request_id(request),
        }
    }
}

/// Gives the body-limit and timeout layers' bare answers the same JSON error body as the routes.
async fn render_layer_errors(State(limits): State<Limits>, response: Response) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if is_json {
        return response;
    }
    match response.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge {
            limit: limits.max_body_bytes,
        }
        .into_response(),
        StatusCode::GATEWAY_TIMEOUT => ApiError::Timeout.into_response(),
        _ => response,
    }
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without a message");
    tracing::error!(panic = detail, "request handler panicked");
    let mut response = ApiError::Internal.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    fn limits() -> Limits {
        Limits {
            max_batch: 10,
            max_body_bytes: 64,
            request_timeout: std::time::Duration::from_secs(5),
        }
    }

    async fn body_json(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        serde_json::from_slice(&bytes).expect("JSON body")
    }

    #[tokio::test]
    async fn a_panic_is_a_generic_500_and_the_process_lives_on() {
        async fn boom() -> StatusCode {
            panic!("secret internal detail")
        }
        let router: Router = Router::new().route("/boom", get(boom));
        let app = wrap(router, limits());
        let response = app
            .clone()
            .oneshot(Request::get("/boom").body(Body::empty()).expect("request"))
            .await
            .expect("infallible");
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.headers().contains_key(REQUEST_ID_HEADER));
        let body = body_json(response).await;
        assert_eq!(body["error"]["code"], "internal");
        assert!(!body.to_string().contains("secret"));
    }

    #[tokio::test]
    async fn the_invocation_id_becomes_the_request_id() {
        let router: Router = Router::new().route("/", get(|| async {}));
        let response = wrap(router, limits())
            .oneshot(
                Request::get("/")
                    .header(INVOCATION_ID_HEADER, "invocation-42")
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("infallible");
        assert_eq!(response.headers()[REQUEST_ID_HEADER], "invocation-42");
    }
}
