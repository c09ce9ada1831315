use fluxops_inference::TrainingData;
use serde_json::{Value, json};

use crate::helpers::{
    N_FEATURES, SEED_REQUEST, artifact_bytes, json_body, publish, regression_stumps, spawn_app,
    spawn_app_with, string_stumps, stumps, test_config,
};

#[tokio::test]
async fn the_seed_request_gets_the_seed_response_byte_for_byte() {
    let app = spawn_app().await;
    let response = app.predict(SEED_REQUEST).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("body");
    assert_eq!(
        text,
        r#"{"prediction":0,"probability":{"class_0":0.6,"class_1":0.4},"confidence":0.6,"model_version":"v1"}"#
    );
    let body: Value = serde_json::from_str(&text).expect("JSON");
    // Stumps on features 0, 2, 4 (0.1, 0.3, 0.5) vote class 0; on 6, 8 (0.7, 0.9) class 1.
    assert_eq!(body["prediction"], 0);
    assert_eq!(body["probability"]["class_0"], 0.6);
    assert_eq!(body["probability"]["class_1"], 0.4);
    assert_eq!(body["confidence"], 0.6);
    assert_eq!(body["model_version"], "v1");
    assert_eq!(body.as_object().map(|object| object.len()), Some(4));
    app.stop().await;
}

#[tokio::test]
async fn a_batch_gets_one_prediction_per_row_in_order() {
    let app = spawn_app().await;
    let low = vec![0.0; N_FEATURES];
    let high = vec![1.0; N_FEATURES];
    let response = app
        .predict(json!({"instances": [low, high, low]}).to_string())
        .await;
    assert_eq!(response.status(), 200);
    let body = json_body(response).await;
    assert_eq!(body["model_version"], "v1");
    let predictions = body["predictions"].as_array().expect("an array");
    let labels: Vec<&Value> = predictions.iter().map(|row| &row["prediction"]).collect();
    assert_eq!(labels, [&json!(0), &json!(1), &json!(0)]);
    assert_eq!(
        predictions[1]["probability"],
        json!({"class_0": 0.0, "class_1": 1.0})
    );
    assert_eq!(predictions[1]["confidence"], 1.0);
    app.stop().await;
}

#[tokio::test]
async fn probability_keys_name_arbitrary_labels() {
    let app = spawn_app_with(test_config(), Some(stumps([-3, 7]))).await;
    app.wait_for_version("v1").await;
    let body = json_body(app.predict(SEED_REQUEST).await).await;
    assert_eq!(body["prediction"], -3);
    assert_eq!(
        body["probability"],
        json!({"class_-3": 0.6, "class_7": 0.4})
    );
    app.stop().await;
}

#[tokio::test]
async fn string_labels_are_answered_as_strings_with_their_own_keys() {
    let app = spawn_app_with(test_config(), Some(string_stumps(["cold", "warm"]))).await;
    app.wait_for_version("v1").await;
    let body = json_body(app.predict(SEED_REQUEST).await).await;
    assert_eq!(
        body,
        json!({
            "prediction": "cold",
            "probability": {"class_cold": 0.6, "class_warm": 0.4},
            "confidence": 0.6,
            "model_version": "v1",
        })
    );
    let high = vec![1.0; N_FEATURES];
    let body = json_body(app.predict(json!({"instances": [high]}).to_string()).await).await;
    assert_eq!(body["predictions"][0]["prediction"], "warm");
    assert_eq!(body["predictions"][0]["probability"]["class_warm"], 1.0);
    let info = json_body(app.get("/api/model-info").await).await;
    assert_eq!(info["task"], "classifier");
    assert_eq!(info["classes"], json!(["cold", "warm"]));
    app.stop().await;
}

#[tokio::test]
async fn a_regressor_answers_a_number_per_row() {
    let app = spawn_app_with(test_config(), Some(regression_stumps(2.5, 10.0))).await;
    app.wait_for_version("v1").await;
    let response = app.predict(SEED_REQUEST).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.expect("body"),
        r#"{"prediction":2.5,"model_version":"v1"}"#
    );
    let mut mixed = vec![0.0; N_FEATURES];
    mixed[1] = 1.0;
    let rows = json!({"instances": [vec![0.0; N_FEATURES], mixed, vec![1.0; N_FEATURES]]});
    let body = json_body(app.predict(rows.to_string()).await).await;
    assert_eq!(
        body,
        json!({
            "predictions": [{"prediction": 2.5}, {"prediction": 6.25}, {"prediction": 10.0}],
            "model_version": "v1",
        })
    );
    let info = json_body(app.get("/api/model-info").await).await;
    assert_eq!(info["task"], "regressor");
    assert!(info["classes"].is_null());
    assert_eq!(info["n_outputs"], 1);
    assert_eq!(info["origin"]["kind"], "trained");
    assert_eq!(
        info["metrics"]["rmse"].as_f64().map(|rmse| rmse > 0.0),
        Some(true)
    );
    app.stop().await;
}

#[tokio::test]
async fn a_batch_larger_than_one_step_keeps_row_order() {
    let mut config = test_config();
    config.limits.max_batch = 2500;
    let app = spawn_app_with(config, Some(regression_stumps(1.0, 3.0))).await;
    app.wait_for_version("v1").await;
    // 2500 rows: three steps of the blocking work, alternating low and high rows.
    let rows: Vec<Vec<f64>> = (0..2500)
        .map(|row| vec![f64::from(row % 2); N_FEATURES])
        .collect();
    let answer = json_body(app.predict(json!({"instances": rows}).to_string()).await).await;
    let predictions = answer["predictions"].as_array().expect("predictions");
    assert_eq!(predictions.len(), 2500);
    for (row, prediction) in predictions.iter().enumerate() {
        let expected = if row % 2 == 0 { 1.0 } else { 3.0 };
        assert_eq!(prediction["prediction"], expected, "row {row}");
    }
    app.stop().await;
}

#[tokio::test]
async fn integers_and_a_json_charset_are_accepted() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/api/predict"))
        .header("content-type", "application/json; charset=utf-8")
        .body(r#"{"features": [1, 1, 1, 1, 1, 1, 1, 1, 1, 1], "request_id": "extra fields are ignored"}"#)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 200);
    assert_eq!(json_body(response).await["prediction"], 1);
    app.stop().await;
}

#[tokio::test]
async fn model_info_describes_the_served_model_and_not_where_it_came_from() {
    let mut model = stumps([0, 1]);
    model.metadata.training_data = Some(TrainingData {
        source: "https://secretaccount.blob.core.windows.net/data/train.csv".to_owned(),
        sha256: "0".repeat(64),
        n_rows: 10,
        n_train_rows: 8,
        n_test_rows: 2,
        test_size: 0.2,
    });
    let app = spawn_app_with(test_config(), Some(model)).await;
    app.wait_for_version("v1").await;
    let response = app.get("/api/model-info").await;
    assert_eq!(response.status(), 200);
    let info = json_body(response).await;
    assert_eq!(info["name"], "fluxops");
    assert_eq!(info["version"], "v1");
    assert_eq!(info["n_features"], N_FEATURES);
    assert_eq!(info["feature_names"][9], "feature_9");
    assert_eq!(info["classes"], json!([0, 1]));
    assert_eq!(info["algorithm"]["name"], "random_forest_classifier");
    assert_eq!(info["algorithm"]["n_trees"], 5);
    assert!(info["metrics"]["accuracy"].is_number());
    assert!(info["trained_at"].is_string());
    assert_eq!(info["sha256"].as_str().map(str::len), Some(64));
    assert_eq!(info["forest_sha256"].as_str().map(str::len), Some(64));
    for hidden in ["source", "training_data"] {
        assert!(info.get(hidden).is_none(), "{hidden}: {info}");
    }
    assert!(!info.to_string().contains("secretaccount"), "{info}");
    crate::health::assert_reveals_no_location(&app, "/api/model-info").await;
    app.stop().await;
}

#[tokio::test]
async fn a_gzip_client_gets_a_compressed_response() {
    let app = spawn_app().await;
    let client = reqwest::Client::builder()
        .no_gzip()
        .build()
        .expect("client");
    let response = client
        .get(app.url("/api/model-info"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let plain = app.get("/api/model-info").await;
    assert!(plain.headers().get("content-encoding").is_none());
    app.stop().await;
}

#[tokio::test]
async fn a_second_version_is_served_after_publishing() {
    let app = spawn_app().await;
    publish(&app.registry, "v2", artifact_bytes(stumps([5, 6]), "v2")).await;
    app.wait_for_version("v2").await;
    let body = json_body(app.predict(SEED_REQUEST).await).await;
    assert_eq!(body["model_version"], "v2");
    assert_eq!(body["prediction"], 5);
    app.stop().await;
}
