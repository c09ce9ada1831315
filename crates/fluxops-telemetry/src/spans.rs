//! Spans with the attributes Application Insights maps to requests and dependencies.

use std::future::Future;

use http::{HeaderMap, Method, StatusCode, Uri};
use opentelemetry::{propagation::TextMapPropagator, trace::TraceContextExt};
use opentelemetry_http::HeaderExtractor;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::{Instrument, Span, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The header in which the Functions host forwards its invocation id.
pub const INVOCATION_ID_HEADER: &str = "x-azure-functions-invocationid";

/// The span of one HTTP request, which Application Insights records as a request named
/// `"{method} {route}"`.
///
/// `route` is the route template (axum's `MatchedPath`, say `/api/predict`), never the raw path,
/// so that requests group by endpoint. The span continues the W3C trace of a valid
/// `traceparent` header, and records the Functions invocation id ([`INVOCATION_ID_HEADER`]) as
/// `faas.invocation_id`. End it with [`record_response`]. Nothing from the body is recorded.
pub fn server_span(method: &Method, route: &str, headers: &HeaderMap) -> Span {
    let name = format!("{method} {route}");
    let invocation_id = headers
        .get(INVOCATION_ID_HEADER)
        .and_then(|value| value.to_str().ok());
    let span = tracing::info_span!(
        "http.request",
        otel.name = name.as_str(),
        otel.kind = "server",
        http.request.method = method.as_str(),
        http.route = route,
        http.response.status_code = Empty,
        otel.status_code = Empty,
        faas.invocation_id = invocation_id,
    );
    if let Some(parent) = remote_parent(headers) {
        // Fails only when no OpenTelemetry layer is installed (export off): nothing to link.
        let _ = span.set_parent(parent);
    }
    span
}

/// Records the response status on a [`server_span`]: the request's result code, and a failure
/// for 5xx (a 4xx is the caller's mistake, not a failure of the service).
pub fn record_response(span: &Span, status: StatusCode) {
    span.record("http.response.status_code", i64::from(status.as_u16()));
    record_outcome(span, !status.is_server_error());
}

/// Marks a span made by this crate as succeeded or failed (its `otel.status_code`), which is
/// what Application Insights shows as the request's or dependency's success.
pub fn record_outcome(span: &Span, succeeded: bool) {
    span.record("otel.status_code", if succeeded { "OK" } else { "ERROR" });
}

/// Runs `read`, a read of `blob` from the Blob Storage container at `location` (a URL without
/// credentials, like `https://account.blob.core.windows.net/models`), inside a client span:
/// Application Insights records a dependency named `GET /<container>/<blob>` with the account
/// host as target, failed when `read` returns an error.
pub async fn trace_blob_read<T, E>(
    location: &str,
    blob: &str,
    read: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let url = format!("{}/{}", location.trim_end_matches('/'), blob);
    let uri = url.parse::<Uri>().ok();
    let name = format!(
        "GET {}",
        uri.as_ref().map_or(url.as_str(), |uri| uri.path())
    );
    let span = tracing::info_span!(
        "blob.read",
        otel.name = name.as_str(),
        otel.kind = "client",
        otel.status_code = Empty,
        http.request.method = "GET",
        url.full = url.as_str(),
        server.address = uri.as_ref().and_then(Uri::host),
    );
    let result = read.instrument(span.clone()).await;
    record_outcome(&span, result.is_ok());
    result
}

/// The caller's trace context, when `headers` carry a valid `traceparent`.
fn remote_parent(headers: &HeaderMap) -> Option<opentelemetry::Context> {
    if !headers.contains_key("traceparent") {
        return None;
    }
    let context = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    context.span().span_context().is_valid().then_some(context)
}

#[cfg(test)]
mod tests {
    use opentelemetry::{
        Value,
        trace::{SpanKind, Status, TracerProvider as _},
    };
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;
    use crate::layers::span_layer;
    use crate::trainer_run_span;

    const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const PARENT_ID: &str = "00f067aa0ba902b7";

    /// Runs `work` with spans exported to memory through the crate's own span layer.
    fn spans_of(work: impl FnOnce()) -> Vec<SpanData> {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let subscriber = tracing_subscriber::registry().with(span_layer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, work);
        provider.force_flush().expect("flush");
        exporter.get_finished_spans().expect("spans")
    }

    fn attribute(span: &SpanData, key: &str) -> Option<Value> {
        span.attributes
            .iter()
            .find(|attribute| attribute.key.as_str() == key)
            .map(|attribute| attribute.value.clone())
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    http::HeaderName::from_static(name),
                    value.parse().expect("header value"),
                )
            })
            .collect()
    }

    #[test]
    fn a_server_span_continues_the_callers_trace_and_names_the_route() {
        let headers = headers(&[
            ("traceparent", &format!("00-{TRACE_ID}-{PARENT_ID}-01")),
            (INVOCATION_ID_HEADER, "inv-42"),
        ]);
        let spans = spans_of(|| {
            let span = server_span(&Method::POST, "/api/predict", &headers);
            span.in_scope(|| record_response(&span, StatusCode::OK));
        });
        let [span] = spans.as_slice() else {
            panic!("expected one span, got {spans:?}")
        };
        assert_eq!(span.name, "POST /api/predict");
        assert_eq!(span.span_kind, SpanKind::Server);
        assert_eq!(span.span_context.trace_id().to_string(), TRACE_ID);
        assert_eq!(span.parent_span_id.to_string(), PARENT_ID);
        assert_eq!(
            attribute(span, "http.route"),
            Some(Value::from("/api/predict"))
        );
        assert_eq!(
            attribute(span, "http.request.method"),
            Some(Value::from("POST"))
        );
        assert_eq!(
            attribute(span, "http.response.status_code"),
            Some(Value::I64(200))
        );
        assert_eq!(
            attribute(span, "faas.invocation_id"),
            Some(Value::from("inv-42"))
        );
        assert_eq!(span.status, Status::Ok);
    }

    #[test]
    fn a_malformed_traceparent_starts_a_new_trace_and_a_5xx_fails() {
        let headers = headers(&[("traceparent", "00-not-a-trace-01")]);
        let spans = spans_of(|| {
            let span = server_span(&Method::GET, "/api/health", &headers);
            record_response(&span, StatusCode::SERVICE_UNAVAILABLE);
        });
        let [span] = spans.as_slice() else {
            panic!("expected one span, got {spans:?}")
        };
        assert_ne!(span.span_context.trace_id().to_string(), TRACE_ID);
        assert_eq!(span.parent_span_id, opentelemetry::trace::SpanId::INVALID);
        assert!(matches!(span.status, Status::Error { .. }));
    }

    #[test]
    fn a_4xx_is_not_a_failure() {
        let spans = spans_of(|| {
            let span = server_span(&Method::POST, "/api/predict", &HeaderMap::new());
            record_response(&span, StatusCode::BAD_REQUEST);
        });
        assert_eq!(spans[0].status, Status::Ok);
    }

    #[test]
    fn a_blob_read_is_a_client_span_failed_by_an_error() {
        let spans = spans_of(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime");
            let result: Result<(), &str> = runtime.block_on(trace_blob_read(
                "https://acct.blob.core.windows.net/models/",
                "fluxops/latest.json",
                async { Err("403") },
            ));
            assert_eq!(result, Err("403"));
        });
        let [span] = spans.as_slice() else {
            panic!("expected one span, got {spans:?}")
        };
        assert_eq!(span.name, "GET /models/fluxops/latest.json");
        assert_eq!(span.span_kind, SpanKind::Client);
        assert_eq!(
            attribute(span, "server.address"),
            Some(Value::from("acct.blob.core.windows.net"))
        );
        assert_eq!(
            attribute(span, "url.full"),
            Some(Value::from(
                "https://acct.blob.core.windows.net/models/fluxops/latest.json"
            ))
        );
        assert!(matches!(span.status, Status::Error { .. }));
    }

    #[test]
    fn a_trainer_run_is_a_request_span() {
        let spans = spans_of(|| {
            let span = trainer_run_span("fluxops");
            record_outcome(&span, true);
        });
        assert_eq!(spans[0].name, "train fluxops");
        assert_eq!(spans[0].span_kind, SpanKind::Consumer);
        assert_eq!(spans[0].status, Status::Ok);
    }
}
