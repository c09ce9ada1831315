//! Load shedding: beyond `FLUXOPS_MAX_CONCURRENCY` requests in flight the work routes answer 503
//! `overloaded` with `Retry-After` at once, health keeps answering, and capacity comes back as
//! requests finish.

use std::time::Duration;

use fluxops_telemetry::testing::CapturedTelemetry;

use crate::helpers::{SEED_REQUEST, assert_error, spawn_app_recording, stumps, test_config};

#[tokio::test]
async fn past_the_limit_work_is_shed_with_retry_after_and_health_still_answers() {
    let telemetry = CapturedTelemetry::start();
    let mut config = test_config();
    config.limits.max_concurrency = 4;
    let app = spawn_app_recording(config, Some(stumps([0, 1])), telemetry.metrics()).await;
    app.wait_for_version("v1").await;
    let mut stalled = Vec::new();
    for _ in 0..4 {
        stalled.push(app.stalled_predict().await);
    }
    // The handler has admitted the four once a fifth is shed.
    let response = app.wait_until_shed(|| app.predict(SEED_REQUEST)).await;
    assert_eq!(response.headers()["retry-after"], "1");
    let message = assert_error(response, 503, "overloaded").await;
    assert!(message.contains("Retry-After"), "{message}");
    assert_error(app.get("/api/model-info").await, 503, "overloaded").await;

    // Health and the readiness probe are not counted.
    for path in ["/api/health", "/"] {
        let answered = tokio::time::timeout(Duration::from_secs(1), app.get(path)).await;
        assert_eq!(
            answered.expect("answered within a second").status(),
            200,
            "{path}"
        );
    }

    let shed = telemetry.metric("fluxops.requests.shed", &[]);
    assert!(shed.is_some_and(|n| n >= 2.0), "counted: {shed:?}");

    // Places come back as requests end.
    drop(stalled);
    let mut status = 0;
    for _ in 0..100 {
        status = app.predict(SEED_REQUEST).await.status().as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(status, 200);
    app.stop().await;
}
