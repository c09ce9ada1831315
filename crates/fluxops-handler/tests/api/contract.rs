//! The OpenAPI document says what the server accepts and answers, for every kind of model: the
//! predict operation's schemas are checked against real requests and answers (schemathesis
//! fuzzes the reference model's in `cargo xtask test`).

use jsonschema::Validator;
use serde_json::{Value, json};

use crate::helpers::{
    N_FEATURES, TestApp, json_body, regression_stumps, spawn_app_with, string_stumps, stumps,
    test_config,
};

/// The request and 200-answer validators of `/api/predict` in the document the app serves now.
async fn predict_schemas(app: &TestApp) -> (Validator, Validator) {
    let document = json_body(app.get("/api/openapi.json").await).await;
    let operation = &document["paths"]["/api/predict"]["post"];
    let schema = |pointer: &str| {
        let schema = operation
            .pointer(pointer)
            .unwrap_or_else(|| panic!("{pointer} in {operation}"));
        jsonschema::validator_for(schema).expect("a valid JSON Schema")
    };
    (
        schema("/requestBody/content/application~1json/schema"),
        schema("/responses/200/content/application~1json/schema"),
    )
}

/// Checks the document against the app for valid and invalid requests.
async fn check_contract(app: &TestApp) {
    let (request, answer) = predict_schemas(app).await;
    let row = vec![0.25; N_FEATURES];
    for valid in [
        json!({"features": row}),
        json!({"features": row, "instances": null, "extra": [1]}),
        json!({"instances": [row, vec![0.75; N_FEATURES]]}),
        json!({"instances": [row], "features": null}),
    ] {
        assert!(request.is_valid(&valid), "{valid} is valid");
        let response = app.predict(valid.to_string()).await;
        assert_eq!(response.status(), 200, "{valid}");
        let body = json_body(response).await;
        let errors: Vec<String> = answer.iter_errors(&body).map(|e| e.to_string()).collect();
        assert!(
            errors.is_empty(),
            "{body} violates the document: {errors:?}"
        );
    }
    for invalid in [
        json!({}),
        json!({"features": row, "instances": [row]}),
        json!({"features": [1.0]}),
        json!({"instances": []}),
        json!({"instances": [[1.0]]}),
        json!({"features": row, "instances": "no"}),
    ] {
        assert!(!request.is_valid(&invalid), "{invalid} is invalid");
        let status = app.predict(invalid.to_string()).await.status().as_u16();
        assert!(matches!(status, 400 | 422), "{invalid}: {status}");
    }
}

#[tokio::test]
async fn the_document_fits_an_integer_classifier_a_string_classifier_and_a_regressor() {
    for model in [
        stumps([3, 7]),
        string_stumps(["cold", "warm"]),
        regression_stumps(2.5, 10.0),
    ] {
        let app = spawn_app_with(test_config(), Some(model)).await;
        app.wait_for_version("v1").await;
        check_contract(&app).await;
        app.stop().await;
    }
}

#[tokio::test]
async fn the_document_fixes_row_width_batch_size_and_labels_for_the_loaded_model() {
    let mut config = test_config();
    config.limits.max_batch = 7;
    let app = spawn_app_with(config, Some(string_stumps(["cold", "warm"]))).await;
    app.wait_for_version("v1").await;
    let document = json_body(app.get("/api/openapi.json").await).await;
    let operation = &document["paths"]["/api/predict"]["post"];
    let request = &operation["requestBody"]["content"]["application/json"]["schema"];
    let one_row = &request["oneOf"][0]["properties"]["features"];
    assert_eq!(one_row["minItems"], N_FEATURES);
    assert_eq!(one_row["maxItems"], N_FEATURES);
    let names = one_row["description"].as_str().unwrap_or_default();
    assert!(names.contains("feature_0, feature_1"), "{names}");
    let batch = &request["oneOf"][1]["properties"]["instances"];
    assert_eq!(batch["maxItems"], 7);
    let answer = &operation["responses"]["200"]["content"]["application/json"]["schema"];
    assert_eq!(
        answer["oneOf"][0]["properties"]["prediction"]["enum"],
        json!(["cold", "warm"])
    );
    app.stop().await;
}

#[tokio::test]
async fn before_a_model_the_document_says_the_row_width_in_prose() {
    let app = spawn_app_with(test_config(), None).await;
    let document: Value = json_body(app.get("/api/openapi.json").await).await;
    let row = &document["paths"]["/api/predict"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"]["oneOf"][0]["properties"]["features"];
    assert!(row.get("minItems").is_none(), "{row}");
    assert!(
        row["description"]
            .as_str()
            .is_some_and(|text| text.contains("/api/model-info")),
        "{row}"
    );
    app.stop().await;
}
