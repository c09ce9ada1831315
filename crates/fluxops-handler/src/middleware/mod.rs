//! The middleware every route passes through, built once as one [`ServiceBuilder`] stack that
//! reads outermost first. Bodies are bounded where they are read (`crate::body`), so that a
//! refused one can be drained.

mod edge;
mod shed;

use std::any::Any;
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::response::{IntoResponse, Response};
use fluxops_telemetry::Metrics;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::trace::TraceLayer;

use self::edge::EdgeLayer;
pub use self::edge::REQUEST_ID_HEADER;
pub(crate) use self::shed::ShedLayer;
use crate::error::{ApiError, InternalCause};
use crate::state::Limits;

/// Wraps every route (and the fallbacks) in the stack below.
pub(crate) fn wrap(router: Router, limits: Limits, metrics: Metrics) -> Router {
    let stack = ServiceBuilder::new()
        // One span per request, outermost so it sees every answer. Failures are recorded once,
        // by the edge, as what they are (a 503 while no model is loaded is not an error to log).
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(record_response)
                .on_failure(()),
        )
        // Request id, timeout, outcome telemetry, error shape, security headers.
        .layer(EdgeLayer {
            timeout: limits.request_timeout,
            metrics,
        })
        .layer(CompressionLayer::new())
        // A panic becomes a generic 500; its message goes to the exception only.
        .layer(CatchPanicLayer::custom(panic_response));
    router.layer(stack)
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

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without a message");
    ApiError::Internal(InternalCause::new(format!("a route panicked: {detail}"))).into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::routing::get;
    use fluxops_telemetry::INVOCATION_ID_HEADER;
    use fluxops_telemetry::testing::CapturedTelemetry;
    use tower::ServiceExt;

    use super::*;

    fn limits() -> Limits {
        Limits {
            max_batch: 10,
            max_body_bytes: 64,
            request_timeout: Duration::from_millis(200),
            max_concurrency: 4,
        }
    }

    async fn body_json(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        serde_json::from_slice(&bytes).expect("JSON body")
    }

    async fn call(router: Router, request: Request) -> Response {
        router.oneshot(request).await.expect("infallible")
    }

    fn get_request(path: &str) -> Request {
        Request::get(path).body(Body::empty()).expect("request")
    }

    // The real app has no route that fails on demand, so the stack is tried on one that panics.
    #[tokio::test]
    async fn a_panic_is_a_generic_500_recorded_as_an_exception_with_its_cause() {
        async fn boom() -> StatusCode {
            panic!("secret internal detail")
        }
        let telemetry = CapturedTelemetry::start();
        let _scoped = tracing::dispatcher::set_default(telemetry.dispatch());
        let router = wrap(
            Router::new().route("/boom", get(boom)),
            limits(),
            telemetry.metrics(),
        );
        let response = call(router, get_request("/boom")).await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.headers().contains_key(REQUEST_ID_HEADER));
        let body = body_json(response).await;
        assert_eq!(body["error"]["code"], "internal");
        assert!(!body.to_string().contains("secret"));
        let exceptions: Vec<_> = telemetry
            .log_records()
            .into_iter()
            .filter(|record| record.exception_type.as_deref() == Some("internal"))
            .collect();
        assert_eq!(exceptions.len(), 1, "{exceptions:?}");
        assert!(exceptions[0].body.contains("secret internal detail"));
    }

    // Over a real socket, as a caller sees it: a panic under `/v2` is the protocol's error.
    #[tokio::test]
    async fn a_panic_under_v2_is_a_v2_shaped_500() {
        async fn boom() -> StatusCode {
            panic!("secret internal detail")
        }
        let router = wrap(
            Router::new().route("/v2/boom", get(boom)),
            limits(),
            Metrics::default(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let served = tokio::spawn(async move { axum::serve(listener, router).await });
        let response = reqwest::get(format!("http://{address}/v2/boom"))
            .await
            .expect("answered");
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body: serde_json::Value = response.json().await.expect("JSON");
        assert_eq!(
            body,
            serde_json::json!({"error": "internal error; retry, and report it with the x-request-id header if it persists"})
        );
        served.abort();
    }

    #[tokio::test]
    async fn a_slow_route_times_out_with_a_json_504_counted_once() {
        async fn slow() -> StatusCode {
            tokio::time::sleep(Duration::from_secs(60)).await;
            StatusCode::OK
        }
        let telemetry = CapturedTelemetry::start();
        let router = wrap(
            Router::new().route("/slow", get(slow)),
            limits(),
            telemetry.metrics(),
        );
        let response = call(router, get_request("/slow")).await;
        assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(body_json(response).await["error"]["code"], "timeout");
        assert_eq!(
            telemetry.metric("fluxops.requests.timed_out", &[]),
            Some(1.0)
        );
    }

    #[tokio::test]
    async fn request_ids_are_echoed_when_plain_and_replaced_otherwise() {
        let router: Router = wrap(
            Router::new().route("/", get(|| async {})),
            limits(),
            Metrics::default(),
        );
        let id_for = |headers: &[(&str, &str)]| {
            let mut request = Request::get("/");
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            let router = router.clone();
            async move {
                let response = call(router, request.body(Body::empty()).expect("request")).await;
                response.headers()[REQUEST_ID_HEADER]
                    .to_str()
                    .expect("ASCII")
                    .to_owned()
            }
        };
        assert_eq!(
            id_for(&[(INVOCATION_ID_HEADER, "invocation-42")]).await,
            "invocation-42"
        );
        assert_eq!(id_for(&[(REQUEST_ID_HEADER, "mine")]).await, "mine");
        let long = "a".repeat(129);
        for hostile in [long.as_str(), "<script>alert(1)</script>", "a b"] {
            let id = id_for(&[(REQUEST_ID_HEADER, hostile)]).await;
            assert_ne!(id, hostile);
            assert_eq!(id.len(), 36, "a fresh UUID: {id}");
        }
        // A hostile caller id falls back to a plain invocation id.
        assert_eq!(
            id_for(&[(REQUEST_ID_HEADER, "a b"), (INVOCATION_ID_HEADER, "inv-7")]).await,
            "inv-7"
        );
    }

    #[tokio::test]
    async fn every_answer_says_nosniff_and_no_store() {
        let router: Router = wrap(
            Router::new().route("/", get(|| async {})),
            limits(),
            Metrics::default(),
        );
        for path in ["/", "/missing"] {
            let response = call(router.clone(), get_request(path)).await;
            assert_eq!(response.headers()["x-content-type-options"], "nosniff");
            assert_eq!(response.headers()["cache-control"], "no-store");
        }
    }
}
