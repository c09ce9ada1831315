//! FluxOps telemetry: one call sets up `tracing` for a FluxOps binary and, when an Application
//! Insights connection string is configured, exports traces, logs and metrics to it.
//!
//! The way in is [`init`] (or [`TelemetryBuilder`] for explicit settings), which installs the
//! global `tracing` subscriber and returns a [`TelemetryGuard`]. The guard flushes and stops the
//! exporters when dropped or on [`TelemetryGuard::shutdown`], and hands out [`Metrics`], the one
//! handle for the domain's instruments.
//!
//! - **Logs** go to the console: human-readable on a terminal, JSON lines otherwise
//!   (`FLUXOPS_LOG_FORMAT=json|pretty|auto` overrides), filtered by `RUST_LOG` (default `info`).
//!   JSON lines at `WARN` and `ERROR` go to stderr and the rest to stdout, so the Azure Functions
//!   host, which reads a custom handler's console, records each line at the right severity.
//! - **Export** is on only when `APPLICATIONINSIGHTS_CONNECTION_STRING` is set. Spans, log events
//!   and metrics then flow through bounded in-memory queues to background threads that post them
//!   to Application Insights; a slow or dead ingestion endpoint only ever drops telemetry, it never
//!   blocks the code that records it. Export failures are logged at most once a minute.
//!   `FLUXOPS_TRACE_SAMPLE_RATIO` (default 1) exports the spans of only that share of
//!   operations, for when export costs too much CPU under heavy load.
//!   Without a connection string no exporter, thread or OpenTelemetry layer exists at all.
//!
//! This crate depends on none of the other FluxOps crates.
//!
//! # Conventions (what the handler and the trainer record)
//!
//! | what | how | Application Insights |
//! | --- | --- | --- |
//! | an HTTP request | [`server_span`] per request, [`record_response`] when it ends | `requests`, named by route template (`POST /api/predict`) |
//! | a Blob Storage read | [`trace_blob_read`] around the read | `dependencies` (type `HTTP`, target the account host) |
//! | model loaded / refused | [`model_loaded`] / [`model_refused`], inside a span | `customEvents` `ModelLoaded` / `ModelRefused`, plus a `traces` line |
//! | an error | [`record_exception`], never with request content | `exceptions`, correlated with the request |
//! | any other log event | `tracing::info!` and friends | `traces` |
//! | counts and timings | [`Metrics`] methods | `customMetrics`, names below |
//! | a trainer run and its phases | [`trainer_run_span`], [`Metrics::trainer_phase`] | `requests` (`train <model>`) and `dependencies` (type `InProc`) |
//!
//! Every span and log line carries the W3C trace of the request it belongs to: [`server_span`]
//! continues the caller's `traceparent`, and the Functions invocation id
//! (`X-Azure-Functions-InvocationId`) is the request's `faas.invocation_id` property.
//!
//! Metric instruments, all prefixed `fluxops.`:
//!
//! | instrument | kind | unit | attributes |
//! | --- | --- | --- | --- |
//! | `fluxops.predictions` | counter | `{prediction}` | `prediction.class` (classifiers: the label), `model.version` |
//! | `fluxops.prediction.duration` | histogram | `ms` | `model.version` |
//! | `fluxops.prediction.batch_size` | histogram | `{row}` | |
//! | `fluxops.validation.failures` | counter | `{failure}` | `error.code` |
//! | `fluxops.requests.timed_out` | counter | `{request}` | |
//! | `fluxops.requests.shed` | counter | `{request}` | |
//! | `fluxops.model.reloads` | counter | `{reload}` | `outcome` (`loaded`, `refused`, `failed`) |
//! | `fluxops.model.age` | gauge, observed at each export | `s` | `model.version` |
//! | `fluxops.trainer.phase.duration` | histogram | `s` | `phase` |
//! | `fluxops.trainer.accuracy` | gauge | `1` | |
//!
//! Application Insights keeps a histogram's sum, count, minimum and maximum per export interval
//! (one minute), not its buckets: percentiles of request latency come from `requests.duration`.
//!
//! # Wiring an axum service
//!
//! One `TraceLayer`, outermost, so that it also sees the responses other layers make (panics
//! caught, timeouts, body limits); failures are reported by the code that knows why, through
//! [`record_exception`], so the layer's own failure log is switched off:
//!
//! ```
//! use std::time::Duration;
//!
//! use axum::{Router, body::Body, extract::MatchedPath, http::Request, response::Response, routing::get};
//! use tower_http::trace::TraceLayer;
//! use tracing::Span;
//!
//! let app: Router = Router::new()
//!     .route("/api/health", get(|| async { "ok" }))
//!     .layer(
//!         TraceLayer::new_for_http()
//!             .make_span_with(|request: &Request<Body>| {
//!                 let route = request
//!                     .extensions()
//!                     .get::<MatchedPath>()
//!                     .map_or("unmatched", MatchedPath::as_str);
//!                 fluxops_telemetry::server_span(request.method(), route, request.headers())
//!             })
//!             .on_response(|response: &Response, _latency: Duration, span: &Span| {
//!                 fluxops_telemetry::record_response(span, response.status());
//!             })
//!             .on_failure(()),
//!     );
//! ```
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//!
//! use std::sync::Arc;
//!
//! use fluxops_telemetry::{LogFormat, Predicted, TelemetryBuilder};
//!
//! // In a binary: `let telemetry = fluxops_telemetry::init("fluxops-handler", env!("CARGO_PKG_VERSION"));`
//! let telemetry = TelemetryBuilder::new("fluxops-handler", "1.0.0")
//!     .log_format(LogFormat::Off)
//!     .init();
//! let metrics = telemetry.metrics();
//! let labels: Vec<Arc<str>> = vec![Arc::from("0"), Arc::from("1")];
//! let predicted = Predicted::Classes { class_indices: &[1, 0, 1], labels: &labels };
//! metrics.record_predictions("20261127T220000Z-ab12cd34", predicted, Duration::from_micros(180));
//! telemetry.shutdown();
//! ```
#![deny(missing_docs)]

mod builder;
mod events;
mod export;
mod guard;
mod layers;
mod metrics;
mod spans;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod trainer;

pub use builder::{CONNECTION_STRING_VAR, Error, TelemetryBuilder};
pub use events::{model_loaded, model_refused, record_exception};
pub use guard::TelemetryGuard;
pub use layers::LogFormat;
pub use metrics::{Metrics, ModelReload, Predicted};
pub use spans::{
    INVOCATION_ID_HEADER, record_outcome, record_response, server_span, trace_blob_read,
};
pub use trainer::{TrainerPhase, TrainerPhaseGuard, trainer_run_span};

/// Installs the global `tracing` subscriber for `service` at `version`, configured from the
/// environment (see [`TelemetryBuilder::from_env`]), and starts export when
/// `APPLICATIONINSIGHTS_CONNECTION_STRING` is set.
///
/// Never fails: if export cannot be set up (say, a malformed connection string), the service
/// runs with console logs only and the reason is logged at `ERROR`. Calling it twice keeps the
/// first subscriber (the second call installs nothing), so tests may call it freely.
pub fn init(service: &'static str, version: &'static str) -> TelemetryGuard {
    TelemetryBuilder::from_env(service, version).init()
}
