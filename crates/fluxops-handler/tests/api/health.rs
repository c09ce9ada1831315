//! `/api/health` and `/`: what an anonymous caller learns, and what it never learns.

use crate::helpers::{
    SEED_REQUEST, TestApp, artifact_bytes, assert_error, json_body, publish, spawn_app,
    spawn_app_with, stumps, test_config,
};

/// Checks that an anonymous answer names nothing of where the registry is.
pub async fn assert_reveals_no_location(app: &TestApp, path: &str) {
    let body = app.get(path).await.text().await.expect("body");
    let folder = app.folder().to_string_lossy().into_owned();
    for secret in [
        folder.as_str(),
        "/tmp",
        "folder",
        "latest.json",
        "model.json",
    ] {
        assert!(!body.contains(secret), "{path} reveals {secret:?}: {body}");
    }
}

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
    assert_eq!(health["model"]["n_features"], 10);
    assert_eq!(health["model"]["sha256"].as_str().map(str::len), Some(64));
    assert!(health["registry"]["checked_at"].is_string());
    assert_eq!(health["registry"]["watcher_restarts"], 0);
    assert!(health.get("problem").is_none());
    assert_reveals_no_location(&app, "/api/health").await;
    assert_reveals_no_location(&app, "/api/model-info").await;
    app.stop().await;
}

#[tokio::test]
async fn an_empty_registry_is_unhealthy_with_a_code_and_predictions_wait() {
    let app = spawn_app_with(test_config(), None).await;
    let health = app.wait_for_problem("no_model_yet").await;
    assert_eq!(app.get("/api/health").await.status(), 503);
    assert_eq!(health["status"], "unhealthy");
    assert!(health["model"].is_null());
    assert!(health["problem"]["message"].is_string());
    assert_reveals_no_location(&app, "/api/health").await;

    assert_error(app.predict(SEED_REQUEST).await, 503, "model_unavailable").await;
    assert_error(app.get("/api/model-info").await, 503, "model_unavailable").await;

    // The loader keeps checking: a model published later is picked up.
    publish(&app.registry, "v1", artifact_bytes(stumps([0, 1]), "v1")).await;
    app.wait_for_version("v1").await;
    assert_eq!(app.predict(SEED_REQUEST).await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn an_unreadable_pointer_is_a_refused_model_and_its_path_stays_in_the_logs() {
    let app = spawn_app_with(test_config(), None).await;
    // A pointer that is not JSON: the registry answers, but not with a usable pointer.
    let folder = app.folder();
    std::fs::create_dir_all(folder.join("fluxops")).expect("model folder");
    std::fs::write(folder.join("fluxops/latest.json"), b"not json").expect("pointer");
    let health = app.wait_for_problem("model_refused").await;
    assert_eq!(health["status"], "unhealthy");
    assert_reveals_no_location(&app, "/api/health").await;
    app.stop().await;
}

#[tokio::test]
async fn an_unreadable_registry_is_unavailable_and_says_nothing_about_why() {
    let app = spawn_app_with(test_config(), None).await;
    // The model's folder is a file: reading the pointer fails with an I/O error whose text
    // names the path.
    std::fs::write(app.folder().join("fluxops"), b"in the way").expect("file");
    let health = app.wait_for_problem("registry_unavailable").await;
    assert_eq!(health["status"], "unhealthy");
    assert_reveals_no_location(&app, "/api/health").await;
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
