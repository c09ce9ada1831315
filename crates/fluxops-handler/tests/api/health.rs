use crate::helpers::{assert_error, json_body, spawn_app, spawn_app_with, test_config};

#[tokio::test]
async fn health_reports_the_model_being_served() {
    let app = spawn_app().await;
    let response = app.get("/api/health").await;
    assert_eq!(response.status(), 200);
    let health = json_body(response).await;
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["service"], "fluxops-handler");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(health["model"]["name"], "fluxops");
    assert_eq!(health["model"]["version"], "v1");
    assert_eq!(health["model"]["sha256"].as_str().map(str::len), Some(64));
    assert!(health["registry"]["checked_at"].is_string());
    assert!(health.get("reason").is_none());
    app.stop().await;
}

#[tokio::test]
async fn an_empty_registry_is_unhealthy_with_the_reason_and_predictions_wait() {
    let app = spawn_app_with(test_config(), None).await;
    let health = app.wait_for_first_check().await;
    let response = app.get("/api/health").await;
    assert_eq!(response.status(), 503);
    assert_eq!(health["status"], "unhealthy");
    assert!(health["model"].is_null());
    let reason = health["reason"].as_str().expect("a reason");
    assert!(reason.contains("no model named \"fluxops\""), "{reason}");

    assert_error(
        app.predict(crate::helpers::SEED_REQUEST).await,
        503,
        "model_unavailable",
    )
    .await;
    assert_error(app.get("/api/model-info").await, 503, "model_unavailable").await;

    // The loader keeps checking: a model published later is picked up.
    crate::helpers::publish(
        &app.registry,
        "v1",
        crate::helpers::artifact_bytes(crate::helpers::stumps([0, 1]), "v1"),
    )
    .await;
    app.wait_for_version("v1").await;
    assert_eq!(
        app.predict(crate::helpers::SEED_REQUEST).await.status(),
        200
    );
    app.stop().await;
}

#[tokio::test]
async fn an_unreadable_registry_is_unhealthy_and_says_so() {
    let app = spawn_app_with(test_config(), None).await;
    // A pointer that is not JSON: the registry answers, but not with a usable pointer.
    let folder = app.folder();
    std::fs::create_dir_all(folder.join("fluxops")).expect("model folder");
    std::fs::write(folder.join("fluxops/latest.json"), b"not json").expect("pointer");
    let mut health = app.wait_for_first_check().await;
    for _ in 0..100 {
        if health["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains("registry"))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        health = app.get("/api/health").await.json().await.expect("JSON");
    }
    let reason = health["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("cannot read the model registry"),
        "{reason}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_readiness_probe_answers_with_an_empty_200_even_without_a_model() {
    let app = spawn_app_with(test_config(), None).await;
    let response = app.get("/").await;
    assert_eq!(response.status(), 200);
    assert!(response.bytes().await.expect("body").is_empty());
    app.stop().await;
}
