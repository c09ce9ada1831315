//! The V2 routes behind the same edge as `/api`: the errors the shared layers answer (body
//! limit, content encoding, overload, timeout) come back in the V2 shape over a real socket, the
//! infer routes are shed while health and metadata answer, and V2 requests are recorded in
//! telemetry as `/api/predict`'s are.

use std::time::Duration;

use fluxops_telemetry::testing::CapturedTelemetry;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::helpers::{N_FEATURES, spawn_app_recording, stumps, test_config, validation_failures};
use crate::v2::{post, v2_error};

const INFER: &str = "/v2/models/fluxops/infer";

/// A one-row FP64 inference request for a row of `value`s.
fn one_row(value: f64) -> String {
    json!({"inputs": [{"name": "x", "shape": [1, N_FEATURES], "datatype": "FP64",
        "data": vec![value; N_FEATURES]}]})
    .to_string()
}

/// Reads the answer to a stalled request once it comes (status line and JSON body).
async fn answer_of(mut stream: TcpStream) -> (String, Value) {
    let mut received = Vec::new();
    let mut buffer = [0; 4096];
    loop {
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer))
            .await
            .expect("an answer within 10 s")
            .expect("the answer is read");
        received.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n")
            && let Ok(body) = serde_json::from_str::<Value>(body)
        {
            let status = head.lines().next().unwrap_or_default().to_owned();
            return (status, body);
        }
        assert!(read > 0, "the connection closed mid-answer: {text}");
    }
}

#[tokio::test]
async fn layer_errors_on_v2_routes_are_v2_errors_and_infer_alone_is_shed() {
    let telemetry = CapturedTelemetry::start();
    let mut config = test_config();
    config.limits.max_concurrency = 2;
    config.limits.max_body_bytes = 1024;
    config.limits.request_timeout = Duration::from_secs(2);
    let app = spawn_app_recording(config, Some(stumps([0, 1])), telemetry.metrics()).await;
    app.wait_for_version("v1").await;

    // Two infer requests whose bodies never come hold both places.
    let stalled = [app.stalled_post(INFER).await, app.stalled_post(INFER).await];
    let shed = app
        .wait_until_shed(|| post(&app, INFER, &[], one_row(1.0)))
        .await;
    assert_eq!(shed.headers()["retry-after"], "1");
    assert_eq!(
        v2_error(shed, 503).await,
        "the handler is at capacity; retry after the Retry-After seconds"
    );
    // `/api/predict` shares the count; health and metadata are not counted.
    assert_eq!(app.predict(one_row(1.0)).await.status(), 503);
    for path in [
        "/v2/health/ready",
        "/v2",
        "/v2/models/fluxops",
        "/api/health",
    ] {
        assert_eq!(app.get(path).await.status(), 200, "{path}");
    }
    // Then both time out, answered 504 in the V2 shape.
    for stream in stalled {
        let (status, body) = answer_of(stream).await;
        assert!(status.starts_with("HTTP/1.1 504"), "{status}");
        assert_eq!(
            body,
            json!({"error": "the request took too long; retry, and send the body promptly"})
        );
    }

    // A body over the declared limit, and a compressed one, refused by the body reader.
    let message = v2_error(post(&app, INFER, &[], vec![b' '; 2000]).await, 413).await;
    assert_eq!(
        message,
        "the body is larger than 1024 bytes; send fewer rows per request"
    );
    let gzip = [("content-encoding", "gzip".to_owned())];
    let message = v2_error(post(&app, INFER, &gzip, one_row(1.0)).await, 415).await;
    assert!(
        message.starts_with("request bodies are read as sent"),
        "{message}"
    );

    // Recorded as `/api`'s are: shed and timed-out requests, refusals by code.
    let failures = |code| validation_failures(&telemetry, code);
    assert!(
        telemetry
            .metric("fluxops.requests.shed", &[])
            .is_some_and(|n| n >= 2.0)
    );
    assert_eq!(
        telemetry.metric("fluxops.requests.timed_out", &[]),
        Some(2.0)
    );
    assert_eq!(failures("payload_too_large"), Some(1.0));
    assert_eq!(failures("unsupported_content_encoding"), Some(1.0));
    app.stop().await;
}

#[tokio::test]
async fn v2_predictions_and_refusals_are_recorded_as_api_predicts_are() {
    let telemetry = CapturedTelemetry::start();
    let app = spawn_app_recording(test_config(), Some(stumps([0, 1])), telemetry.metrics()).await;
    app.wait_for_version("v1").await;

    // The stumps answer class 0 for a row of zeros and class 1 for a row of ones.
    assert_eq!(post(&app, INFER, &[], one_row(0.0)).await.status(), 200);
    let batch = json!({"inputs": [{"name": "x", "shape": [3, N_FEATURES], "datatype": "FP64",
        "data": [vec![1.0; N_FEATURES], vec![1.0; N_FEATURES], vec![0.0; N_FEATURES]]}]});
    assert_eq!(
        post(&app, INFER, &[], batch.to_string()).await.status(),
        200
    );
    let predictions = |class: &str| {
        telemetry.metric(
            "fluxops.predictions",
            &["model.version=v1", &format!("prediction.class={class}")],
        )
    };
    assert_eq!(predictions("0"), Some(2.0));
    assert_eq!(predictions("1"), Some(2.0));

    // One code per kind of failure, on every V2 route.
    v2_error(post(&app, INFER, &[], "{").await, 400).await;
    v2_error(post(&app, INFER, &[], r#"{"inputs": []}"#).await, 400).await;
    v2_error(app.get("/v2/models/other").await, 404).await;
    v2_error(app.get("/v2/nowhere").await, 404).await;
    v2_error(post(&app, "/v2/health/live", &[], "").await, 405).await;
    let failures = |code| validation_failures(&telemetry, code);
    assert_eq!(failures("v2_invalid_request"), Some(1.0));
    assert_eq!(failures("v2_wrong_tensor"), Some(1.0));
    assert_eq!(failures("v2_unknown_model"), Some(1.0));
    assert_eq!(failures("not_found"), Some(1.0));
    assert_eq!(failures("method_not_allowed"), Some(1.0));
    app.stop().await;
}
