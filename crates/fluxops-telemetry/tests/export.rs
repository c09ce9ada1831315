//! End to end: a miniature handler on a real socket exports to a local HTTPS receiver that
//! stands in for Application Insights, and the envelopes it captured are checked.
//!
//! Each test scopes its own subscriber to its thread (`set_default`) and runs on a
//! current-thread runtime, so the tests share no global state and may run in parallel.

// Shared with the overhead example; each target uses a part of it.
#[allow(dead_code)]
mod support;

use std::{
    net::TcpListener,
    time::{Duration, Instant},
};

use fluxops_telemetry::TelemetryBuilder;
use serde_json::{Value, json};
use support::{app, receiver::Receiver, test_log_format};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";
const INVOCATION_ID: &str = "5b7d3f0e-9c61-4d1f-8a11-2c6f3b9e0a77";
/// A feature value that must never appear in telemetry.
const SECRET_FEATURE: f64 = 271828.182845;

fn data<'a>(envelope: &'a Value, base_type: &str) -> Option<&'a Value> {
    (envelope["data"]["baseType"] == base_type).then(|| &envelope["data"]["baseData"])
}

fn all<'a>(envelopes: &'a [Value], base_type: &str) -> Vec<(&'a Value, &'a Value)> {
    envelopes
        .iter()
        .filter_map(|envelope| data(envelope, base_type).map(|data| (envelope, data)))
        .collect()
}

fn one<'a>(
    envelopes: &'a [Value],
    base_type: &str,
    matches: impl Fn(&Value) -> bool,
) -> (&'a Value, &'a Value) {
    let found: Vec<_> = all(envelopes, base_type)
        .into_iter()
        .filter(|(_, data)| matches(data))
        .collect();
    let [found] = found.as_slice() else {
        panic!(
            "expected one matching {base_type}, found {}: {envelopes:#?}",
            found.len()
        )
    };
    *found
}

#[tokio::test]
async fn requests_dependencies_events_metrics_and_exceptions_reach_application_insights() {
    let receiver = Receiver::start();
    let (dispatch, telemetry) = TelemetryBuilder::new("fluxops-handler", "9.9.9")
        .connection_string(receiver.connection_string())
        .http_client(receiver.client())
        .cloud_role("func-fluxops-test", Some("instance-1".to_owned()))
        .log_format(test_log_format())
        .build()
        .expect("telemetry");
    assert!(telemetry.is_exporting());
    let _scoped = tracing::dispatcher::set_default(&dispatch);
    let metrics = telemetry.metrics();
    app::load_model(&metrics).await;
    let base = app::serve(app::app(metrics)).await;

    let client = reqwest::Client::new();
    let predicted = client
        .post(format!("{base}/api/predict"))
        .header("traceparent", format!("00-{TRACE_ID}-{PARENT_ID}-01"))
        .header(fluxops_telemetry::INVOCATION_ID_HEADER, INVOCATION_ID)
        .json(&json!({"features": [SECRET_FEATURE, 1.0]}))
        .send()
        .await
        .expect("predict");
    assert_eq!(predicted.status(), 200);
    let refused = client
        .post(format!("{base}/api/predict"))
        .json(&json!({"features": []}))
        .send()
        .await
        .expect("bad predict");
    assert_eq!(refused.status(), 400);
    let failed = client
        .get(format!("{base}/api/fail"))
        .send()
        .await
        .expect("fail");
    assert_eq!(failed.status(), 500);

    telemetry.shutdown();
    let envelopes = receiver.envelopes();

    // The predict call: a successful request named by its route, in the caller's trace.
    let (request, predict) = one(&envelopes, "RequestData", |data| {
        data["name"] == "POST /api/predict" && data["responseCode"] == "200"
    });
    assert_eq!(predict["success"], true);
    assert_eq!(predict["properties"]["faas.invocation_id"], INVOCATION_ID);
    assert_eq!(request["tags"]["ai.operation.id"], TRACE_ID);
    assert_eq!(request["tags"]["ai.operation.parentId"], PARENT_ID);
    assert_eq!(request["tags"]["ai.operation.name"], "POST /api/predict");
    assert_eq!(request["tags"]["ai.cloud.role"], "func-fluxops-test");
    assert_eq!(request["tags"]["ai.cloud.roleInstance"], "instance-1");
    assert_eq!(request["tags"]["ai.application.ver"], "9.9.9");
    assert_eq!(request["iKey"], support::receiver::INSTRUMENTATION_KEY);

    // A validation failure is the caller's mistake: recorded, but not a failed request.
    let (_, bad_request) = one(&envelopes, "RequestData", |data| {
        data["responseCode"] == "400"
    });
    assert_eq!(bad_request["success"], true);

    // The failing call: a failed request and an exception in the same operation.
    let (failed_request, fail) = one(&envelopes, "RequestData", |data| {
        data["name"] == "GET /api/fail"
    });
    assert_eq!(fail["responseCode"], "500");
    assert_eq!(fail["success"], false);
    let (exception, exception_data) = one(&envelopes, "ExceptionData", |_| true);
    assert_eq!(exception_data["exceptions"][0]["typeName"], "internal");
    assert_eq!(
        exception_data["exceptions"][0]["message"],
        "model store unreachable"
    );
    assert_eq!(
        exception["tags"]["ai.operation.id"],
        failed_request["tags"]["ai.operation.id"]
    );

    // The start-up Blob read: a dependency inside the model-load operation, and the event.
    let (dependency, blob) = one(&envelopes, "RemoteDependencyData", |data| {
        data["name"] == "GET /models/fluxops/latest.json"
    });
    assert_eq!(blob["target"], "fluxopsmodels.blob.core.windows.net");
    assert_eq!(blob["type"], "HTTP");
    let (event_envelope, event) = one(&envelopes, "EventData", |_| true);
    assert_eq!(event["name"], "ModelLoaded");
    assert_eq!(event["properties"]["model.version"], app::MODEL_VERSION);
    assert_eq!(
        event_envelope["tags"]["ai.operation.id"],
        dependency["tags"]["ai.operation.id"]
    );
    // The event is not exported a second time as a trace line; the readable line is.
    assert!(
        all(&envelopes, "MessageData")
            .iter()
            .all(|(_, message)| message["properties"]["ai.customEvent.name"].is_null())
    );
    one(&envelopes, "MessageData", |data| {
        data["message"] == "model loaded"
    });

    // Metrics: the prediction by class and version, the refusal by code, the load.
    let metric = |name: &str| {
        all(&envelopes, "MetricData")
            .into_iter()
            .map(|(_, data)| data)
            .filter(|data| data["metrics"][0]["name"] == name)
            .cloned()
            .collect::<Vec<_>>()
    };
    let predictions = metric("fluxops.predictions");
    assert_eq!(predictions.len(), 1, "{predictions:#?}");
    assert_eq!(predictions[0]["metrics"][0]["value"], 1.0);
    assert_eq!(predictions[0]["properties"]["prediction.class"], "1");
    assert_eq!(
        predictions[0]["properties"]["model.version"],
        app::MODEL_VERSION
    );
    assert_eq!(metric("fluxops.prediction.duration").len(), 1);
    let failures = metric("fluxops.validation.failures");
    assert_eq!(failures[0]["properties"]["error.code"], "missing_features");
    assert_eq!(metric("fluxops.model.reloads").len(), 1);

    // Nothing from a request body is ever exported.
    let raw = serde_json::to_string(&envelopes).expect("JSON");
    assert!(!raw.contains("271828"), "a feature value leaked: {raw}");
}

#[tokio::test]
async fn a_dead_ingestion_endpoint_neither_fails_requests_nor_hangs_shutdown() {
    // A port that was just free: connections to it are refused.
    let closed_port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let shutdown_timeout = Duration::from_millis(500);
    let (dispatch, telemetry) = TelemetryBuilder::new("fluxops-handler", "9.9.9")
        .connection_string(format!(
            "InstrumentationKey=k;IngestionEndpoint=https://127.0.0.1:{closed_port}/;"
        ))
        .log_format(test_log_format())
        .shutdown_timeout(shutdown_timeout)
        .build()
        .expect("telemetry");
    let _scoped = tracing::dispatcher::set_default(&dispatch);
    let base = app::serve(app::app(telemetry.metrics())).await;
    let client = reqwest::Client::new();
    for _ in 0..50 {
        let response = client
            .post(format!("{base}/api/predict"))
            .json(&json!({"features": [1.0]}))
            .send()
            .await
            .expect("predict");
        assert_eq!(response.status(), 200);
    }
    let started = Instant::now();
    telemetry.shutdown();
    let waited = started.elapsed();
    assert!(
        waited < shutdown_timeout + Duration::from_secs(2),
        "shutdown took {waited:?}"
    );
}
