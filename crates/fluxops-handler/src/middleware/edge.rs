//! The edge of every route: what each request and answer gets, in one service with one future and
//! no allocation of its own.
//!
//! - **Request id.** The caller's `x-request-id`, or else the Functions invocation id, when it is
//!   1 to 128 of `A-Z a-z 0-9 - _ . :`; otherwise a fresh UUID. It is set on the request (for
//!   the routes) and echoed on the answer.
//! - **Timeout.** A request that takes longer than the limit, body upload included, is dropped
//!   (which stops its blocking work, see `crate::blocking`) and answered 504 `timeout`.
//! - **Outcome.** The [`Failure`] an error answer carries (made by an [`ApiError`] or by a V2
//!   route's error) is recorded once, here: validation failures by code, timeouts, shed requests,
//!   and internal errors as exceptions with their cause.
//! - **Shape.** Under `/v2` an [`ApiError`] (one answered by a layer or the body reader: 413,
//!   415, 503 `overloaded`, 504, a panic's 500) is re-rendered in the Open Inference Protocol's
//!   shape, `{"error": "<message>"}`.
//! - **Headers.** `X-Content-Type-Options: nosniff` and `Cache-Control: no-store` on every
//!   answer: they are all JSON about a model that can change at any moment.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::BoxError;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{self, HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use fluxops_telemetry::{INVOCATION_ID_HEADER, Metrics};
use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower::{Layer, Service};
use tower_http::request_id::{MakeRequestId, MakeRequestUuid};

use crate::error::{ApiError, ErrorShape, Failure};

/// The header the request id travels in, both ways.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Longest request id taken from a caller.
const MAX_REQUEST_ID_BYTES: usize = 128;

/// Makes [`Edge`] services.
#[derive(Debug, Clone)]
pub(crate) struct EdgeLayer {
    pub(crate) timeout: Duration,
    pub(crate) metrics: Metrics,
}

impl<S> Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Edge<S> {
        Edge {
            inner,
            timeout: self.timeout,
            metrics: self.metrics.clone(),
        }
    }
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub(crate) struct Edge<S> {
    inner: S,
    timeout: Duration,
    metrics: Metrics,
}

impl<S, B> Service<Request> for Edge<S>
where
    S: Service<Request, Response = http::Response<B>, Error = Infallible>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = EdgeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let request_id = request_id(request.headers()).unwrap_or_else(|| fresh_id(&request));
        request
            .headers_mut()
            .insert(REQUEST_ID_HEADER, request_id.clone());
        let shape = ErrorShape::for_path(request.uri().path());
        EdgeFuture {
            inner: self.inner.call(request),
            deadline: tokio::time::sleep(self.timeout),
            finish: Some(Finish {
                request_id,
                shape,
                metrics: self.metrics.clone(),
            }),
        }
    }
}

pin_project! {
    /// The answer of an [`Edge`]: the inner answer, or a timeout, finished alike.
    pub(crate) struct EdgeFuture<F> {
        #[pin]
        inner: F,
        #[pin]
        deadline: Sleep,
        finish: Option<Finish>,
    }
}

impl<F, B> Future for EdgeFuture<F>
where
    F: Future<Output = Result<http::Response<B>, Infallible>>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = match this.inner.poll(cx) {
            // The router would box the body into axum's `Body` anyway; it is done once, here.
            Poll::Ready(Ok(response)) => response.map(Body::new),
            Poll::Ready(Err(never)) => match never {},
            Poll::Pending => {
                ready!(this.deadline.poll(cx));
                ApiError::Timeout.into_response()
            }
        };
        let finish = this
            .finish
            .take()
            .expect("a future is not polled after it is ready");
        Poll::Ready(Ok(finish.answer(response)))
    }
}

/// What the answer gets once it is known.
struct Finish {
    request_id: HeaderValue,
    shape: ErrorShape,
    metrics: Metrics,
}

impl Finish {
    fn answer(self, mut response: Response) -> Response {
        if let Some(failure) = response.extensions_mut().remove::<Failure>() {
            record(&self.metrics, failure);
        }
        if self.shape != ErrorShape::Api
            && let Some(error) = response.extensions().get::<ApiError>()
        {
            let body = error.shaped_body(self.shape);
            *response.body_mut() = body;
            // The compression layer may have encoded the body replaced: the new one is plain.
            let headers = response.headers_mut();
            headers.remove(header::CONTENT_ENCODING);
            headers.remove(header::CONTENT_LENGTH);
        }
        let headers = response.headers_mut();
        headers.insert(REQUEST_ID_HEADER, self.request_id);
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// Records what an error answer means for operators.
fn record(metrics: &Metrics, failure: Failure) {
    match failure {
        Failure::Refused(code) => metrics.record_validation_failure(code),
        Failure::TimedOut => metrics.record_timeout(),
        Failure::Overloaded => metrics.record_overload(),
        Failure::Internal(cause) => fluxops_telemetry::record_exception("internal", &cause),
        Failure::Unavailable => {}
    }
}

/// The caller's request id, or else the Functions invocation id, if it is one we may echo.
fn request_id(headers: &HeaderMap) -> Option<HeaderValue> {
    [REQUEST_ID_HEADER, INVOCATION_ID_HEADER]
        .into_iter()
        .filter_map(|name| headers.get(name))
        .find(|value| is_echoable(value.as_bytes()))
        .cloned()
}

/// Whether a caller's id is short and plain enough to put in our answer and logs.
fn is_echoable(id: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID_BYTES).contains(&id.len())
        && id
            .iter()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-_.:".contains(byte))
}

fn fresh_id(request: &Request) -> HeaderValue {
    MakeRequestUuid
        .make_request_id(request)
        .map(|id| id.into_header_value())
        .unwrap_or_else(|| HeaderValue::from_static("unknown"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_ids_are_echoed() {
        assert!(is_echoable(b"3f1c6a2e-invocation"));
        assert!(is_echoable(b"trace:00f0.aa_b"));
        assert!(!is_echoable(b""));
        assert!(!is_echoable(&[b'a'; 129]));
        assert!(is_echoable(&[b'a'; 128]));
        for bad in ["a b", "<script>", "id\"", "é", "a/b", "a\tb"] {
            assert!(!is_echoable(bad.as_bytes()), "{bad}");
        }
    }
}
