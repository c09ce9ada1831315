//! A miniature of the FluxOps handler, wired to the telemetry crate exactly as the real handler
//! is meant to be: a `TraceLayer` whose spans come from `server_span` and end with
//! `record_response`, metrics from the guard, Blob reads in `trace_blob_read`, model events
//! inside the load span, and errors through `record_exception`.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    body::Body,
    extract::{MatchedPath, State},
    http::{Request, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use fluxops_telemetry::{Metrics, ModelReload, Predicted};
use serde_json::{Value, json};
use tower_http::trace::TraceLayer;
use tracing::{Instrument, Span};

/// The model version the miniature serves.
pub const MODEL_VERSION: &str = "20261127T220000Z-ab12cd34";

/// The router, with the telemetry layer outermost so it sees every response.
pub fn app(metrics: Metrics) -> Router {
    Router::new()
        .route("/api/predict", post(predict))
        .route("/api/fail", get(fail))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<Body>| {
                    let route = request
                        .extensions()
                        .get::<MatchedPath>()
                        .map_or("unmatched", MatchedPath::as_str);
                    fluxops_telemetry::server_span(request.method(), route, request.headers())
                })
                .on_response(|response: &Response, _latency: Duration, span: &Span| {
                    fluxops_telemetry::record_response(span, response.status());
                })
                // Failures are reported once, as exceptions, by the code that knows why.
                .on_failure(()),
        )
        .with_state(metrics)
}

/// Serves `app` on 127.0.0.1, port 0, on the current runtime; returns the base URL.
pub async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address: SocketAddr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    format!("http://{address}")
}

/// What the handler does at start-up: read the model from Blob Storage inside a load span and
/// report the outcome.
pub async fn load_model(metrics: &Metrics) {
    let span = tracing::info_span!("model.load");
    async {
        let read = fluxops_telemetry::trace_blob_read(
            "https://fluxopsmodels.blob.core.windows.net/models",
            "fluxops/latest.json",
            async { Ok::<_, std::io::Error>(()) },
        )
        .await;
        if read.is_ok() {
            fluxops_telemetry::model_loaded(MODEL_VERSION, "sha256:0f1e2d");
            metrics.record_model_reload(ModelReload::Loaded);
        }
    }
    .instrument(span)
    .await;
}

async fn predict(State(metrics): State<Metrics>, Json(body): Json<Value>) -> Response {
    let started = Instant::now();
    let Some(features) = body["features"].as_array().filter(|row| !row.is_empty()) else {
        metrics.record_validation_failure("missing_features");
        return (StatusCode::BAD_REQUEST, "missing features").into_response();
    };
    let sum: f64 = features.iter().filter_map(Value::as_f64).sum();
    let class = usize::from(sum > 0.0);
    let labels: [std::sync::Arc<str>; 2] = ["0".into(), "1".into()];
    let predicted = Predicted::Classes {
        class_indices: &[class],
        labels: &labels,
    };
    metrics.record_predictions(MODEL_VERSION, predicted, started.elapsed());
    (
        StatusCode::OK,
        json!({"prediction": class, "model_version": MODEL_VERSION}).to_string(),
    )
        .into_response()
}

async fn fail() -> Response {
    let error = std::io::Error::other("model store unreachable");
    fluxops_telemetry::record_exception("internal", &error);
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
}
