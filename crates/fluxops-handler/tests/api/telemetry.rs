//! What the real application records, through the telemetry crate's own layers and instruments
//! with in-memory exporters: refusals by code (those answered by the body reader and the
//! timeout included), timeouts, and no error log for answers that are not failures.

use std::time::Duration;

use fluxops_telemetry::testing::CapturedTelemetry;

use crate::helpers::{
    SEED_REQUEST, artifact_bytes, publish, spawn_app_recording, stumps, test_config,
    validation_failures,
};

// A current-thread runtime keeps the server's tasks on this thread, where the subscriber is.
#[tokio::test]
async fn refusals_and_timeouts_are_counted_and_a_503_while_loading_logs_no_error() {
    let telemetry = CapturedTelemetry::start();
    let _scoped = tracing::dispatcher::set_default(telemetry.dispatch());
    let mut config = test_config();
    config.limits.max_body_bytes = 1024;
    config.limits.request_timeout = Duration::from_millis(300);
    let app = spawn_app_recording(config, None, telemetry.metrics()).await;

    // No model yet: 503, which is no failure of the service to log.
    app.wait_for_problem("no_model_yet").await;
    assert_eq!(app.predict(SEED_REQUEST).await.status(), 503);

    publish(&app.registry, "v1", artifact_bytes(stumps([0, 1]), "v1")).await;
    app.wait_for_version("v1").await;
    assert_eq!(app.predict(SEED_REQUEST).await.status(), 200);
    assert_eq!(app.predict("{").await.status(), 400);
    assert_eq!(app.predict(vec![b' '; 2000]).await.status(), 413);
    let gzip = app
        .client
        .post(app.url("/api/predict"))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(SEED_REQUEST)
        .send()
        .await
        .expect("POST");
    assert_eq!(gzip.status(), 415);
    assert_eq!(app.get("/api/nope").await.status(), 404);
    // A body promised and never sent.
    let _stalled = app.stalled_predict().await;
    app.wait_for_health("the stalled request timed out", |_| {
        telemetry.metric("fluxops.requests.timed_out", &[]) == Some(1.0)
    })
    .await;

    let failures = |code| validation_failures(&telemetry, code);
    assert_eq!(failures("invalid_json"), Some(1.0));
    assert_eq!(failures("payload_too_large"), Some(1.0));
    assert_eq!(failures("unsupported_content_encoding"), Some(1.0));
    assert_eq!(failures("not_found"), Some(1.0));
    assert_eq!(failures("model_unavailable"), None);
    let errors: Vec<_> = telemetry
        .log_records()
        .into_iter()
        .filter(|record| record.severity == "ERROR")
        .collect();
    assert!(errors.is_empty(), "error logs: {errors:?}");
    assert!(
        telemetry
            .span_names()
            .iter()
            .any(|name| name == "POST /api/predict"),
        "requests are traced: {:?}",
        telemetry.span_names()
    );
    app.stop().await;
}
