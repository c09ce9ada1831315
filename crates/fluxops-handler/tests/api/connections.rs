//! Connections: closed when idle or slow to send a request's head.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, spawn_app_with, stumps, test_config};

async fn app_closing_after(timeout: Duration) -> TestApp {
    let mut config = test_config();
    config.header_read_timeout = timeout;
    let app = spawn_app_with(config, Some(stumps([0, 1]))).await;
    app.wait_for_version("v1").await;
    app
}

/// Reads until the handler closes the connection; panics if it is still open after 10 s.
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut received))
        .await
        .expect("the handler closed the connection")
        .expect("read");
    String::from_utf8_lossy(&received).into_owned()
}

#[tokio::test]
async fn a_connection_that_sends_nothing_or_half_a_head_is_closed() {
    let app = app_closing_after(Duration::from_millis(300)).await;
    let mut silent = TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");
    let mut slow = TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");
    slow.write_all(b"GET /api/health HTTP/1.1\r\nhost: loc")
        .await
        .expect("write");
    read_until_closed(&mut silent).await;
    let answer = read_until_closed(&mut slow).await;
    assert!(!answer.contains("200 OK"), "{answer}");
    app.stop().await;
}

#[tokio::test]
async fn a_kept_alive_connection_is_closed_once_idle() {
    let app = app_closing_after(Duration::from_millis(300)).await;
    let mut stream = TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");
    stream
        .write_all(b"GET /api/health HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .expect("write");
    let answer = read_until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    app.stop().await;
}
