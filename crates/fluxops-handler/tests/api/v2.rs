//! The Open Inference Protocol routes over a real socket: server and model routes, inference as
//! JSON and binary tensors, answers equal to `/api/predict`'s, and every error in the V2 shape.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{
    MODEL, N_FEATURES, SEED_REQUEST, TestApp, json_body, regression_stumps, spawn_app,
    spawn_app_with, string_stumps, stumps, test_config,
};

/// The `Inference-Header-Content-Length` header.
pub const HEADER_LENGTH: &str = "inference-header-content-length";

/// The seed request's row.
const SEED_ROW: [f64; N_FEATURES] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

/// POSTs `body` to `path` with `headers`.
pub async fn post(
    app: &TestApp,
    path: &str,
    headers: &[(&str, String)],
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut request = app.client.post(app.url(path)).body(body);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.send().await.expect("POST reaches the handler")
}

/// POSTs a binary-framed inference request (`json_length` bytes of JSON, then binary data) to
/// the served model.
async fn infer_binary(app: &TestApp, json_length: usize, body: Vec<u8>) -> reqwest::Response {
    let path = format!("/v2/models/{MODEL}/infer");
    post(
        app,
        &path,
        &[(HEADER_LENGTH, json_length.to_string())],
        body,
    )
    .await
}

/// POSTs an inference request as JSON to the served model.
async fn infer(app: &TestApp, request: &Value) -> reqwest::Response {
    let path = format!("/v2/models/{MODEL}/infer");
    post(app, &path, &[], request.to_string()).await
}

/// Checks a response is a V2 error with `status` (`{"error": "<message>"}` and nothing else)
/// and returns the message.
pub async fn v2_error(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status().as_u16(), status);
    let body = json_body(response).await;
    let object = body.as_object().expect("an object");
    assert_eq!(object.len(), 1, "only `error`: {body}");
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("`error` is a string: {body}"))
        .to_owned()
}

/// One FP64 input of `rows`, as JSON data.
fn fp64_request(rows: &[Vec<f64>]) -> Value {
    json!({"inputs": [{"name": "input-0", "shape": [rows.len(), N_FEATURES], "datatype": "FP64",
        "data": rows}]})
}

/// Rows that vote both ways on the stump model: row `i` has `(i * 7 % 10) / 10` everywhere
/// but in the last feature.
fn rows(n_rows: usize) -> Vec<Vec<f64>> {
    (0..n_rows)
        .map(|row| {
            let mut values = vec![((row * 7) % 10) as f64 / 10.0; N_FEATURES];
            values[N_FEATURES - 1] = row as f64;
            values
        })
        .collect()
}

#[tokio::test]
async fn the_server_routes_answer_in_the_protocols_shapes() {
    let app = spawn_app().await;
    let live = app.get("/v2/health/live").await;
    assert_eq!(live.status(), 200);
    assert_eq!(json_body(live).await, json!({"live": true}));
    let ready = app.get("/v2/health/ready").await;
    assert_eq!(ready.status(), 200);
    assert_eq!(json_body(ready).await, json!({"ready": true}));
    let server = app.get("/v2").await;
    assert_eq!(server.status(), 200);
    assert_eq!(
        json_body(server).await,
        json!({"name": "fluxops", "version": env!("CARGO_PKG_VERSION"),
               "extensions": ["binary_tensor_data"]})
    );
    app.stop().await;
}

#[tokio::test]
async fn model_routes_answer_by_name_and_served_version() {
    let app = spawn_app().await;
    let expected = json!({
        "name": MODEL, "versions": ["v1"], "platform": "fluxops_tree_ensemble",
        "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [-1, N_FEATURES]}],
        "outputs": [
            {"name": "predict", "datatype": "INT64", "shape": [-1, 1]},
            {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 2]}]
    });
    for path in ["/v2/models/fluxops", "/v2/models/fluxops/versions/v1"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(json_body(response).await, expected, "{path}");
        let ready = app.get(&format!("{path}/ready")).await;
        assert_eq!(ready.status(), 200, "{path}/ready");
        assert_eq!(
            json_body(ready).await,
            json!({"name": MODEL, "ready": true})
        );
    }
    for path in [
        "/v2/models/other",
        "/v2/models/other/ready",
        "/v2/models/other/versions/v1",
    ] {
        let message = v2_error(app.get(path).await, 404).await;
        assert_eq!(
            message,
            "unknown model `other`; this server serves `fluxops`"
        );
    }
    for path in [
        "/v2/models/fluxops/versions/v0",
        "/v2/models/fluxops/versions/v0/ready",
    ] {
        let message = v2_error(app.get(path).await, 404).await;
        assert_eq!(
            message,
            "model `fluxops` has no version `v0` here; the served version is `v1` (or leave the version out)"
        );
    }
    let message = v2_error(
        post(
            &app,
            "/v2/models/fluxops/versions/v0/infer",
            &[],
            SEED_REQUEST,
        )
        .await,
        404,
    )
    .await;
    assert!(message.contains("no version `v0`"), "{message}");
    // Percent-encoded names are decoded, as clients quote them.
    let long = "x".repeat(300);
    let message = v2_error(app.get(&format!("/v2/models/{long}%20y")).await, 404).await;
    assert!(
        message.starts_with(&format!("unknown model `{}...`", "x".repeat(100))),
        "{message}"
    );
    app.stop().await;
}

#[tokio::test]
async fn before_a_model_is_loaded_readiness_and_inference_are_503() {
    let app = spawn_app_with(test_config(), None).await;
    app.wait_for_problem("no_model_yet").await;
    let live = app.get("/v2/health/live").await;
    assert_eq!(live.status(), 200);
    let ready = app.get("/v2/health/ready").await;
    assert_eq!(ready.status(), 503);
    assert_eq!(json_body(ready).await, json!({"ready": false}));
    let not_ready = "model `fluxops` is not ready yet; retry shortly (GET /v2/health/ready answers 200 once it is)";
    for path in [
        "/v2/models/fluxops",
        "/v2/models/fluxops/ready",
        "/v2/models/fluxops/versions/v1",
    ] {
        assert_eq!(
            v2_error(app.get(path).await, 503).await,
            not_ready,
            "{path}"
        );
    }
    let request = fp64_request(&rows(1));
    assert_eq!(v2_error(infer(&app, &request).await, 503).await, not_ready);
    // An unknown name is still unknown.
    let message = v2_error(app.get("/v2/models/other").await, 404).await;
    assert!(message.starts_with("unknown model"), "{message}");
    app.stop().await;
}

#[tokio::test]
async fn json_inference_answers_as_api_predict_does() {
    let app = spawn_app().await;
    // One row, as `[1, F]` and as `[F]`, with the request's id echoed.
    let api: Value = json_body(app.predict(SEED_REQUEST).await).await;
    for shape in [json!([1, N_FEATURES]), json!([N_FEATURES])] {
        let request = json!({"id": "seed", "inputs": [{"name": "anything", "shape": shape,
            "datatype": "FP64", "data": SEED_ROW}]});
        let response = infer(&app, &request).await;
        assert_eq!(response.status(), 200);
        assert!(response.headers().get(HEADER_LENGTH).is_none());
        let answer = json_body(response).await;
        assert_eq!(
            answer,
            json!({"model_name": MODEL, "model_version": "v1", "id": "seed", "outputs": [
                {"name": "predict", "datatype": "INT64", "shape": [1, 1],
                 "data": [api["prediction"]]},
                {"name": "predict_proba", "datatype": "FP64", "shape": [1, 2],
                 "data": [api["probability"]["class_0"], api["probability"]["class_1"]]}]})
        );
    }
    // A batch, nested and flat, against `instances`.
    let batch = rows(25);
    let api: Value = json_body(app.predict(json!({"instances": batch}).to_string()).await).await;
    let labels: Vec<Value> = api["predictions"]
        .as_array()
        .expect("predictions")
        .iter()
        .map(|row| row["prediction"].clone())
        .collect();
    let probabilities: Vec<Value> = api["predictions"]
        .as_array()
        .expect("predictions")
        .iter()
        .flat_map(|row| {
            [
                row["probability"]["class_0"].clone(),
                row["probability"]["class_1"].clone(),
            ]
        })
        .collect();
    let flat: Vec<f64> = batch.iter().flatten().copied().collect();
    for data in [json!(batch), json!(flat)] {
        let request = json!({"inputs": [{"name": "x", "shape": [25, N_FEATURES],
            "datatype": "FP64", "data": data}], "outputs": [{"name": "predict"}, {"name": "predict_proba"}]});
        let answer = json_body(infer(&app, &request).await).await;
        assert_eq!(answer["outputs"][0]["shape"], json!([25, 1]));
        assert_eq!(answer["outputs"][0]["data"], json!(labels));
        assert_eq!(answer["outputs"][1]["data"], json!(probabilities));
    }
    // Integer datatypes carry the same values.
    let request = json!({"inputs": [{"name": "x", "shape": [1, N_FEATURES], "datatype": "UINT8",
        "data": [0, 1, 0, 1, 0, 1, 0, 1, 0, 1]}], "outputs": [{"name": "predict_proba"}]});
    let answer = json_body(infer(&app, &request).await).await;
    assert_eq!(
        answer["outputs"],
        json!([{"name": "predict_proba", "datatype": "FP64",
        "shape": [1, 2], "data": [1.0, 0.0]}])
    );
    app.stop().await;
}

/// An FP64 binary request for `rows`, asking for every output as binary data.
fn binary_request(rows: &[Vec<f64>]) -> (Vec<u8>, usize) {
    let header = json!({"inputs": [{"name": "input-0", "shape": [rows.len(), N_FEATURES],
        "datatype": "FP64", "parameters": {"binary_data_size": rows.len() * N_FEATURES * 8}}],
        "parameters": {"binary_data_output": true}});
    let mut body = header.to_string().into_bytes();
    let json_length = body.len();
    for value in rows.iter().flatten() {
        body.extend_from_slice(&value.to_le_bytes());
    }
    (body, json_length)
}

#[tokio::test]
async fn binary_tensors_in_and_out_match_json() {
    let app = spawn_app().await;
    let batch = rows(40);
    let json_answer = json_body(infer(&app, &fp64_request(&batch)).await).await;
    let (body, json_length) = binary_request(&batch);
    let response = post(
        &app,
        &format!("/v2/models/{MODEL}/versions/v1/infer"),
        &[(HEADER_LENGTH, json_length.to_string())],
        body,
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/octet-stream"
    );
    let answer_length: usize = response.headers()[HEADER_LENGTH]
        .to_str()
        .expect("ASCII")
        .parse()
        .expect("a length");
    let bytes = response.bytes().await.expect("body");
    let header: Value = serde_json::from_slice(&bytes[..answer_length]).expect("JSON header");
    assert_eq!(
        header["outputs"],
        json!([
            {"name": "predict", "datatype": "INT64", "shape": [40, 1],
             "parameters": {"binary_data_size": 320}},
            {"name": "predict_proba", "datatype": "FP64", "shape": [40, 2],
             "parameters": {"binary_data_size": 640}}])
    );
    let binary = &bytes[answer_length..];
    assert_eq!(binary.len(), 960);
    let labels: Vec<i64> = binary[..320]
        .chunks_exact(8)
        .map(|chunk| i64::from_le_bytes(chunk.try_into().expect("8 bytes")))
        .collect();
    let probabilities: Vec<f64> = binary[320..]
        .chunks_exact(8)
        .map(|chunk| f64::from_le_bytes(chunk.try_into().expect("8 bytes")))
        .collect();
    assert_eq!(json!(labels), json_answer["outputs"][0]["data"]);
    assert_eq!(json!(probabilities), json_answer["outputs"][1]["data"]);
    // A raw binary body: the rows alone, every output in binary.
    let raw: Vec<u8> = SEED_ROW
        .iter()
        .flat_map(|value| value.to_le_bytes())
        .collect();
    let response = post(
        &app,
        "/v2/models/fluxops/infer",
        &[(HEADER_LENGTH, "0".to_owned())],
        raw,
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key(HEADER_LENGTH));
    app.stop().await;
}

/// Sends each `(request, status, message start)` to the served model's infer route.
async fn expect_errors(app: &TestApp, cases: &[(Value, u16, &str)]) {
    for (request, status, start) in cases {
        let message = v2_error(infer(app, request).await, *status).await;
        assert!(message.starts_with(start), "{request}: {message}");
    }
}

#[tokio::test]
async fn bad_requests_are_400_with_what_to_send() {
    let app = spawn_app().await;
    let row = |datatype: &str, data: Value| json!({"inputs": [{"name": "x", "shape": [1, N_FEATURES], "datatype": datatype, "data": data}]});
    let nines = json!(vec![9; N_FEATURES]);
    expect_errors(
        &app,
        &[
            (json!({"input": []}), 400, "the body is not a valid inference request (missing field `inputs`"),
            (json!({"inputs": []}), 400, "the model takes one input of shape [rows, 10]; the request has 0"),
            (row("FP16", nines.clone()), 400, "input `x`: datatype `FP16` cannot be a feature value here; send FP64"),
            (row("DOUBLE", nines.clone()), 400, "input `x`: datatype `DOUBLE` is not a tensor datatype"),
            (row("INT8", json!([1, 2, 3, 4, 5, 6, 7, 8, 9, 300])), 400, "input `x`: element 9 is 300, outside INT8's range -128 to 127"),
            (row("INT64", json!([1, 2, 3, 4, 5, 6, 7, 8, 9, 1.5])), 400, "input `x`: element 9 is 1.5, not an integer as INT64 needs"),
            (row("FP64", json!([1, 2, 3])), 400, "input `x`: shape [1, 10] holds 10 values, but `data` has 3"),
            (row("FP64", json!(vec!["1"; N_FEATURES])), 400, "the body is not a valid inference request (invalid type: string"),
            (json!({"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP64", "data": [1, 2, 3, 4, 5, 6]}]}),
             400, "input `x`: expected 10 features per row, got 3; send shape [rows, 10]"),
            (json!({"inputs": [{"name": "x", "shape": [0, N_FEATURES], "datatype": "FP64", "data": []}]}),
             400, "input `x` has no rows; send at least one"),
            (json!({"inputs": [{"name": "x", "shape": [1001, N_FEATURES], "datatype": "FP64", "data": []}]}),
             413, "the batch has 1001 rows; send at most 1000 per request"),
            (json!({"inputs": [{"name": "x", "shape": [1, N_FEATURES], "datatype": "FP64", "data": nines}],
                    "outputs": [{"name": "probabilities"}]}),
             400, "the model has no output `probabilities`; it produces `predict` and `predict_proba`"),
        ],
    )
    .await;
    // Non-finite values only come as binary data.
    let mut values = SEED_ROW.to_vec();
    values[4] = f64::NAN;
    let (body, json_length) = binary_request(&[values]);
    let response = infer_binary(&app, json_length, body).await;
    assert_eq!(
        v2_error(response, 400).await,
        "input `input-0`: feature 4 is not a finite number; send finite numbers only"
    );
    let (body, _) = binary_request(&rows(2));
    let length = body.len() + 1;
    let response = infer_binary(&app, length, body).await;
    let message = v2_error(response, 400).await;
    assert!(
        message.starts_with("the Inference-Header-Content-Length header must give"),
        "{message}"
    );
    for body in ["", "{", "[1, 2]", "\u{feff}{}"] {
        let response = post(&app, "/v2/models/fluxops/infer", &[], body).await;
        let message = v2_error(response, 400).await;
        assert!(
            message.starts_with("the body is not a valid inference request"),
            "{body:?}: {message}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn the_body_and_batch_limits_hold() {
    let mut config = test_config();
    config.limits.max_batch = 3;
    config.limits.max_body_bytes = 4096;
    let app = spawn_app_with(config, Some(stumps([0, 1]))).await;
    app.wait_for_version("v1").await;
    let message = v2_error(infer(&app, &fp64_request(&rows(4))).await, 413).await;
    assert_eq!(message, "the batch has 4 rows; send at most 3 per request");
    let (body, json_length) = binary_request(&rows(4));
    let response = infer_binary(&app, json_length, body).await;
    assert_eq!(v2_error(response, 413).await, message);
    // A body larger than the limit, sent without a length, is refused while it is read, in the
    // V2 shape, as `/api/predict` refuses one.
    let (head, body) = send_chunked(app.port, "/v2/models/fluxops/infer", 6000).await;
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    let body: Value = serde_json::from_str(&body).expect("a JSON error");
    assert_eq!(
        body,
        json!({"error": "the body is larger than 4096 bytes; send fewer rows per request"})
    );
    app.stop().await;
}

/// POSTs `length` spaces to `path` as one chunk of a chunked body (no Content-Length) and
/// returns the answer's head and body.
async fn send_chunked(port: u16, path: &str, length: usize) -> (String, String) {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\ntransfer-encoding: chunked\r\n\r\n{length:x}\r\n"
    )
    .into_bytes();
    request.extend(std::iter::repeat_n(b' ', length));
    request.extend_from_slice(b"\r\n0\r\n\r\n");
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    stream
        .write_all(&request)
        .await
        .expect("the request is written");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .expect("an answer within 10 s")
        .expect("the answer is read");
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    (head.to_owned(), body.to_owned())
}

#[tokio::test]
async fn unknown_v2_paths_and_methods_are_v2_errors() {
    let app = spawn_app().await;
    let message = v2_error(app.get("/v2/models/fluxops/config").await, 404).await;
    assert_eq!(
        message,
        "no route GET /v2/models/fluxops/config; see /v2/openapi.json for the V2 routes"
    );
    let response = post(&app, "/v2/health/live", &[], "").await;
    assert_eq!(
        v2_error(response, 405).await,
        "POST is not allowed on /v2/health/live; see /v2/openapi.json for the V2 routes"
    );
    let message = v2_error(app.get("/v2/models/fluxops/infer").await, 405).await;
    assert!(message.starts_with("GET is not allowed"), "{message}");
    // Outside /v2 the original API's shape stays.
    let response = app.get("/api/nope").await;
    assert_eq!(response.status(), 404);
    assert!(json_body(response).await["error"]["code"].is_string());
    app.stop().await;
}

#[tokio::test]
async fn the_v2_openapi_document_describes_routes_that_answer() {
    let app = spawn_app().await;
    let response = app.get("/v2/openapi.json").await;
    assert_eq!(response.status(), 200);
    let openapi = json_body(response).await;
    let paths = openapi["paths"].as_object().expect("paths");
    assert_eq!(paths.len(), 9);
    let infer_body = fp64_request(&rows(1)).to_string();
    for (template, item) in paths {
        let path = template
            .replace("{model_name}", MODEL)
            .replace("{model_version}", "v1");
        for method in item.as_object().expect("path item").keys() {
            let response = match method.as_str() {
                "get" => app.get(&path).await,
                "post" => post(&app, &path, &[], infer_body.clone()).await,
                other => panic!("unexpected method {other} on {template}"),
            };
            assert_eq!(response.status(), 200, "{method} {path}");
        }
    }
    for schema in [
        "InferenceRequest",
        "InferenceResponse",
        "ModelMetadata",
        "ServerMetadata",
        "V2ErrorBody",
    ] {
        assert!(
            openapi["components"]["schemas"][schema].is_object(),
            "schema {schema} missing"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn string_labels_and_regressors_answer_as_api_predict_does() {
    let mut mixed = vec![0.0; N_FEATURES];
    mixed[0] = 1.0;
    let batch = vec![vec![0.0; N_FEATURES], mixed, vec![1.0; N_FEATURES]];
    let request = fp64_request(&batch);
    let api_request = json!({"instances": batch}).to_string();

    let app = spawn_app_with(test_config(), Some(string_stumps(["cold", "warm"]))).await;
    app.wait_for_version("v1").await;
    let api = json_body(app.predict(api_request.clone()).await).await;
    let answer = json_body(infer(&app, &request).await).await;
    let labels: Vec<Value> = (0..3)
        .map(|row| api["predictions"][row]["prediction"].clone())
        .collect();
    assert_eq!(labels, [json!("cold"), json!("cold"), json!("warm")]);
    assert_eq!(
        answer["outputs"][0],
        json!({"name": "predict", "datatype": "BYTES", "shape": [3, 1], "data": labels})
    );
    let probabilities: Vec<Value> = (0..3)
        .flat_map(|row| {
            let probability = &api["predictions"][row]["probability"];
            [
                probability["class_cold"].clone(),
                probability["class_warm"].clone(),
            ]
        })
        .collect();
    assert_eq!(answer["outputs"][1]["data"], json!(probabilities));
    app.stop().await;

    let app = spawn_app_with(test_config(), Some(regression_stumps(2.5, 10.0))).await;
    app.wait_for_version("v1").await;
    let api = json_body(app.predict(api_request).await).await;
    let values: Vec<Value> = (0..3)
        .map(|row| api["predictions"][row]["prediction"].clone())
        .collect();
    assert_eq!(values, [json!(2.5), json!(6.25), json!(10.0)]);
    let answer = json_body(infer(&app, &request).await).await;
    assert_eq!(
        answer["outputs"],
        json!([{"name": "predict", "datatype": "FP64", "shape": [3, 1], "data": values}])
    );
    let message = v2_error(
        infer(
            &app,
            &json!({"inputs": request["inputs"], "outputs": [{"name": "predict_proba"}]}),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(
        message,
        "the model has no output `predict_proba`; it produces `predict` only"
    );
    app.stop().await;
}
