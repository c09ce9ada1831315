//! The route table, the generated OpenAPI document and request ids.

use serde_json::Value;

use crate::helpers::{json_body, spawn_app};

#[tokio::test]
async fn the_openapi_document_describes_every_route_and_each_answers() {
    let app = spawn_app().await;
    let response = app.get("/api/openapi.json").await;
    assert_eq!(response.status(), 200);
    let openapi = json_body(response).await;
    assert!(
        openapi["openapi"]
            .as_str()
            .is_some_and(|version| version.starts_with("3."))
    );
    let paths = openapi["paths"].as_object().expect("paths");
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in paths {
        for method in item.as_object().expect("path item").keys() {
            documented.push((method.clone(), path.clone()));
        }
    }
    documented.sort();
    assert_eq!(
        documented,
        [
            ("get", "/"),
            ("get", "/api/health"),
            ("get", "/api/model-info"),
            ("post", "/api/predict"),
        ]
        .map(|(method, path)| (method.to_owned(), path.to_owned()))
    );
    for (method, path) in &documented {
        let method = method
            .to_uppercase()
            .parse::<reqwest::Method>()
            .expect("method");
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .header("content-type", "application/json")
            .body(crate::helpers::SEED_REQUEST)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "{method} {path}");
    }
    let schemas = &openapi["components"]["schemas"];
    for schema in ["ErrorBody", "Health", "ModelInfo"] {
        assert!(schemas[schema].is_object(), "schema {schema} missing");
    }
    let predict = &openapi["paths"]["/api/predict"]["post"];
    assert!(
        predict["requestBody"]["content"]["application/json"]["schema"]["oneOf"].is_array(),
        "{predict}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_functions_invocation_id_is_the_request_id() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/api/health"))
        .header("x-azure-functions-invocationid", "3f1c6a2e-invocation")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.headers()["x-request-id"], "3f1c6a2e-invocation");
    // Without one, every response still carries a fresh id; a caller's own id is kept.
    let first = app.get("/api/nope").await;
    let second = app.get("/api/nope").await;
    let id = |response: &reqwest::Response| response.headers()["x-request-id"].clone();
    assert_ne!(id(&first), id(&second));
    let response = app
        .client
        .get(app.url("/api/health"))
        .header("x-request-id", "mine")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.headers()["x-request-id"], "mine");
    let _: Value = response.json().await.expect("JSON");
    // An id too long or with other characters is not echoed; a fresh one replaces it.
    for hostile in ["x".repeat(200), "<script>alert(1)</script>".to_owned()] {
        let response = app
            .client
            .get(app.url("/api/health"))
            .header("x-request-id", &hostile)
            .send()
            .await
            .expect("GET");
        let id = response.headers()["x-request-id"].to_str().expect("ASCII");
        assert_ne!(id, hostile);
        assert_eq!(id.len(), 36, "a fresh UUID: {id}");
    }
    app.stop().await;
}

#[tokio::test]
async fn every_answer_says_nosniff_and_no_store_and_echoes_little_of_the_caller() {
    let app = spawn_app().await;
    let long_path = format!("/api/{}", "a".repeat(5000));
    for response in [
        app.predict(crate::helpers::SEED_REQUEST).await,
        app.predict("{").await,
        app.get("/api/health").await,
        app.get(&long_path).await,
    ] {
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body = response.text().await.expect("body");
        assert!(body.len() < 1000, "{} bytes: {body}", body.len());
    }
    app.stop().await;
}
