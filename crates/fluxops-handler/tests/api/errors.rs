//! Every error status, and a battery of hostile bodies that must never crash the handler.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{
    N_FEATURES, SEED_REQUEST, TestApp, assert_error, spawn_app, spawn_app_with, stumps, test_config,
};

/// Sends a prediction body and checks the error it gets.
async fn check(app: &TestApp, body: impl Into<Vec<u8>>, status: u16, code: &str) -> String {
    let body = body.into();
    let shown = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
    let response = app.predict(body).await;
    assert_eq!(response.status().as_u16(), status, "status for {shown:?}");
    assert_error(response, status, code).await
}

#[tokio::test]
async fn malformed_json_is_400_invalid_json() {
    let app = spawn_app().await;
    for body in [
        "",
        "   ",
        r#"{"features": [0.1, 0.2"#,
        r#"{"features": [0.1,]}"#,
        r#"{"features": [NaN, 1, 1, 1, 1, 1, 1, 1, 1, 1]}"#,
        r#"{"features": [Infinity, 1, 1, 1, 1, 1, 1, 1, 1, 1]}"#,
        r#"{"features": [1e999, 1, 1, 1, 1, 1, 1, 1, 1, 1]}"#,
        r#"{"features": [-1e999, 1, 1, 1, 1, 1, 1, 1, 1, 1]}"#,
        "{\"features\": [1, 2]} trailing",
        "\u{feff}{}",
        "{'features': [1]}",
    ] {
        let message = check(&app, body, 400, "invalid_json").await;
        assert!(message.contains("not valid JSON"), "{body:?}: {message}");
    }
    // Deep nesting in a field the handler ignores is skipped without recursion, not a stack
    // overflow; the body still lacks `features`.
    let deep = format!(
        "{{\"extra\": {}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    check(&app, deep, 400, "missing_features").await;
    // Invalid UTF-8 inside a string.
    check(
        &app,
        b"{\"features\": \"\xff\xfe\"}".to_vec(),
        400,
        "invalid_json",
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn wrong_types_are_422_invalid_request() {
    let app = spawn_app().await;
    for body in [
        json!({"features": ["0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9", "1.0"]}),
        json!({"features": "0.1,0.2"}),
        json!({"features": {"a": 1}}),
        json!({"features": [[1, [2, {"x": [3]}]], {"a": {"b": []}}]}),
        json!({"features": [true, false, null, 1, 1, 1, 1, 1, 1, 1]}),
        json!({"instances": [1, 2, 3]}),
        json!({"instances": [["1", 2]]}),
        json!({"instances": {"rows": []}}),
        json!([[0.1, 0.2]]),
        json!([]),
        json!("features"),
        json!(42),
        json!(null),
    ] {
        let message = check(&app, body.to_string(), 422, "invalid_request").await;
        assert!(message.contains("wrong shape"), "{body}: {message}");
    }
    // Deeply nested arrays where numbers belong: the wrong type, found before any depth limit.
    let deep = format!(
        "{{\"features\": {}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    check(&app, deep, 422, "invalid_request").await;
    app.stop().await;
}

#[tokio::test]
async fn requests_without_exactly_one_of_features_and_instances_are_400() {
    let app = spawn_app().await;
    for body in [
        json!({}),
        json!({"feature": [1, 2, 3]}),
        json!({"features": null}),
        json!({"features": null, "instances": null}),
    ] {
        check(&app, body.to_string(), 400, "missing_features").await;
    }
    // Both is a mistake of its own, whatever the rows hold (schemathesis found `[[]]`).
    for body in [
        json!({"features": vec![1; 10], "instances": [vec![1; 10]]}),
        json!({"features": vec![1; 10], "instances": [[]]}),
        json!({"instances": [[]], "features": []}),
    ] {
        let message = check(&app, body.to_string(), 400, "features_and_instances").await;
        assert!(message.contains("not both"), "{message}");
    }
    app.stop().await;
}

#[tokio::test]
async fn wrong_feature_counts_are_400_and_name_the_row() {
    let app = spawn_app().await;
    let message = check(
        &app,
        r#"{"features": [0.1, 0.2, 0.3]}"#,
        400,
        "wrong_feature_count",
    )
    .await;
    assert_eq!(
        message,
        "expected 10 features, got 3; send {\"features\": [10 numbers]}"
    );
    check(&app, r#"{"features": []}"#, 400, "wrong_feature_count").await;
    let good = vec![0.5; N_FEATURES];
    let body = json!({"instances": [good, good, [1.0, 2.0]]});
    let message = check(&app, body.to_string(), 400, "wrong_feature_count").await;
    assert!(
        message.starts_with("row 2: expected 10 features, got 2"),
        "{message}"
    );
    // A 100 000-element array is just a wrong count.
    let huge = json!({"features": vec![0.5; 100_000]});
    let message = check(&app, huge.to_string(), 400, "wrong_feature_count").await;
    assert!(message.contains("got 100000"), "{message}");
    app.stop().await;
}

#[tokio::test]
async fn an_empty_batch_is_400_and_an_oversized_one_413() {
    let app = spawn_app().await;
    check(&app, r#"{"instances": []}"#, 400, "empty_batch").await;
    let rows = vec![vec![0.5; N_FEATURES]; 1001];
    let message = check(
        &app,
        json!({"instances": rows}).to_string(),
        413,
        "batch_too_large",
    )
    .await;
    assert_eq!(
        message,
        "the batch has more than 1000 rows; send at most 1000 per request"
    );
    let rows = vec![vec![0.5; N_FEATURES]; 1000];
    assert_eq!(
        app.predict(json!({"instances": rows}).to_string())
            .await
            .status(),
        200
    );
    app.stop().await;
}

/// A request head for `POST /api/predict` with JSON and these extra header lines.
fn predict_head(extra: &str) -> String {
    format!(
        "POST /api/predict HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n{extra}\r\n"
    )
}

/// Writes a whole request, head and body, before reading anything, as Python's `http.client`,
/// `requests` and the Functions host do; then reads one answer, up to the end of its JSON body.
/// Fails if the connection breaks while writing or before the answer is read.
async fn write_then_read(stream: &mut TcpStream, head: &str, body: &[u8]) -> String {
    stream
        .write_all(head.as_bytes())
        .await
        .expect("write the head");
    stream
        .write_all(body)
        .await
        .expect("the handler reads the whole body (no broken pipe)");
    let mut response = Vec::new();
    let mut buffer = [0_u8; 4096];
    while !(response.ends_with(b"}") && String::from_utf8_lossy(&response).contains("\r\n\r\n{")) {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer)).await {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => response.extend_from_slice(&buffer[..n]),
            Ok(Err(error)) => panic!("the answer could not be read: {error}"),
            Err(_) => panic!("no answer within 10 s"),
        }
    }
    String::from_utf8_lossy(&response).into_owned()
}

/// A `transfer-encoding: chunked` body carrying `bytes` in chunks of 64 KiB.
fn chunked(bytes: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for piece in bytes.chunks(64 * 1024) {
        body.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        body.extend_from_slice(piece);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    body
}

#[tokio::test]
async fn a_client_that_writes_before_it_reads_gets_its_413_and_keeps_the_connection() {
    let app = spawn_app().await;
    let mut stream = TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");
    // 10 MB with a Content-Length.
    let big = format!("{{\"features\": [{}0]}}", "0,".repeat(5 * 1024 * 1024)).into_bytes();
    let head = predict_head(&format!("content-length: {}\r\n", big.len()));
    let response = write_then_read(&mut stream, &head, &big).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(
        response.contains(r#""code":"payload_too_large""#),
        "{response}"
    );
    assert!(response.contains("1048576 bytes"), "{response}");
    assert!(
        !response.to_ascii_lowercase().contains("connection: close"),
        "{response}"
    );
    // 100 001 rows, streamed without a length.
    let row = format!("[{}],", ["0.5"; N_FEATURES].join(","));
    let batch = format!("{{\"instances\": [{}[1]]}}", row.repeat(100_000));
    let head = predict_head("transfer-encoding: chunked\r\n");
    let response = write_then_read(&mut stream, &head, &chunked(batch.as_bytes())).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    // 2.5 MB of spaces, streamed.
    let spaces = vec![b' '; 40 * 64 * 1024];
    let response = write_then_read(&mut stream, &head, &chunked(&spaces)).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    // Every body was drained, so the same connection still serves.
    let head = predict_head(&format!("content-length: {}\r\n", SEED_REQUEST.len()));
    let response = write_then_read(&mut stream, &head, SEED_REQUEST.as_bytes()).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    app.stop().await;
}

#[tokio::test]
async fn a_body_too_large_to_drain_is_refused_at_once_and_the_connection_closed() {
    let app = spawn_app().await;
    let connect = || TcpStream::connect(("127.0.0.1", app.port));
    // A gigabyte announced, nothing sent: answered without waiting for it.
    let mut stream = connect().await.expect("connect");
    let head = predict_head("content-length: 1000000000\r\n");
    let response = write_then_read(&mut stream, &head, b"").await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(
        response.to_ascii_lowercase().contains("connection: close"),
        "{response}"
    );
    // A client that waits for 100-continue is answered before it sends anything.
    let mut stream = connect().await.expect("connect");
    let head = predict_head("content-length: 2000000\r\nexpect: 100-continue\r\n");
    let response = write_then_read(&mut stream, &head, b"").await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert_eq!(app.predict(SEED_REQUEST).await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_compressed_body_is_415_whatever_it_holds() {
    let app = spawn_app().await;
    for encoding in ["gzip", "deflate", "br"] {
        let response = app
            .client
            .post(app.url("/api/predict"))
            .header("content-type", "application/json")
            .header("content-encoding", encoding)
            .body(SEED_REQUEST)
            .send()
            .await
            .expect("POST");
        let message = assert_error(response, 415, "unsupported_content_encoding").await;
        assert!(message.contains("Content-Encoding"), "{message}");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_body_must_be_declared_json() {
    let app = spawn_app().await;
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut request = app.client.post(app.url("/api/predict")).body(SEED_REQUEST);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.expect("POST");
        let message = assert_error(response, 415, "unsupported_media_type").await;
        assert!(message.contains("Content-Type: application/json"));
    }
    app.stop().await;
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405() {
    let app = spawn_app().await;
    assert_error(app.get("/api/nope").await, 404, "not_found").await;
    assert_error(app.get("/predict").await, 404, "not_found").await;
    let response = app.get("/api/predict").await;
    let allow = response.headers().get("allow").cloned();
    assert_error(response, 405, "method_not_allowed").await;
    assert_eq!(
        allow.as_ref().and_then(|value| value.to_str().ok()),
        Some("POST")
    );
    let response = app
        .client
        .delete(app.url("/api/health"))
        .send()
        .await
        .expect("DELETE");
    assert_error(response, 405, "method_not_allowed").await;
    let response = app
        .client
        .put(app.url("/api/model-info"))
        .send()
        .await
        .expect("PUT");
    assert_error(response, 405, "method_not_allowed").await;
    app.stop().await;
}

#[tokio::test]
async fn a_stalled_body_times_out_with_a_json_error() {
    let mut config = test_config();
    config.limits.request_timeout = Duration::from_millis(300);
    let app = spawn_app_with(config, Some(stumps([0, 1]))).await;
    app.wait_for_version("v1").await;
    let mut stream = app.stalled_predict().await;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .expect("answered before the test gave up")
        .expect("read");
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 504"), "{response}");
    assert!(response.contains(r#""code":"timeout""#), "{response}");
    // The handler is unharmed.
    assert_eq!(app.predict(SEED_REQUEST).await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_battery_of_hostile_requests_leaves_the_handler_serving() {
    let app = spawn_app().await;
    let hostile: Vec<Vec<u8>> = vec![
        vec![0; 4096],
        (0..=255).collect(),
        b"{\"features\": [".repeat(1000),
        b"{\"features\": [1e308, -1e308, 5e-324, -0.0, 0, 1, 1, 1, 1, 1]}".to_vec(),
        format!("{{\"features\": [{}]}}", "1".repeat(100_000)).into_bytes(),
        b"{\"instances\": [[]]}".to_vec(),
        b"{\"instances\": null, \"features\": null}".to_vec(),
        b"{\"features\": [1,1,1,1,1,1,1,1,1,1], \"features\": [1]}".to_vec(),
        b"\"\\ud800\"".to_vec(),
        b"{\"\\u0000\": 1}".to_vec(),
    ];
    for body in hostile {
        let response = app.predict(body.clone()).await;
        let status = response.status().as_u16();
        assert!(
            matches!(status, 200 | 400 | 413 | 422),
            "{status} for {:?}",
            String::from_utf8_lossy(&body[..body.len().min(80)])
        );
        if status != 200 {
            let body = response
                .json::<serde_json::Value>()
                .await
                .expect("JSON error");
            assert!(body["error"]["code"].is_string());
        }
    }
    let health = app.get("/api/health").await;
    assert_eq!(health.status(), 200);
    assert_eq!(app.predict(SEED_REQUEST).await.status(), 200);
    app.stop().await;
}
