//! The `handler` executable itself: start-up errors, graceful shutdown on SIGTERM, concurrent
//! load, no OpenSSL.
//!
//! The executable is cargo's build of the `handler` binary, or the file named by
//! `FLUXOPS_TEST_HANDLER`: `cargo xtask test` points it at the binary inside the Functions zip,
//! so these tests run the bytes that ship. Each handler is started the way the Functions host
//! starts it: on a port chosen for it (`FUNCTIONS_CUSTOMHANDLER_PORT`), ready once that port
//! answers.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::helpers::{SEED_REQUEST, artifact_bytes, publish, stumps, wait_for_health};

/// The executable under test.
fn handler_binary() -> PathBuf {
    std::env::var_os("FLUXOPS_TEST_HANDLER")
        .filter(|path| !path.is_empty())
        .map_or_else(
            || PathBuf::from(env!("CARGO_BIN_EXE_handler")),
            PathBuf::from,
        )
}

/// The handler process with a clean environment apart from `vars`; its console goes to the
/// test's output when `TEST_LOG` is set.
fn handler(vars: &[(&str, &str)]) -> Command {
    let console = || {
        if std::env::var_os("TEST_LOG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        }
    };
    let mut command = Command::new(handler_binary());
    command
        .env_clear()
        .env("RUST_LOG", "info")
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .stdout(console())
        .stderr(console())
        .kill_on_drop(true);
    command
}

#[tokio::test]
async fn bad_settings_stop_the_start_with_one_message_each() {
    let output = handler(&[
        ("FLUXOPS_MAX_BATCH", "zero"),
        ("FLUXOPS_MODEL_REFRESH_SECS", "1e-10"),
        ("FLUXOPS_AZURE_AUTH", "magic"),
        (
            "FLUXOPS_MODEL_SOURCE",
            "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/source/)",
        ),
    ])
    .stderr(Stdio::piped())
    .output()
    .await
    .expect("run the handler");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("FLUXOPS_MAX_BATCH=\\\"zero\\\"")
            || stderr.contains("FLUXOPS_MAX_BATCH=\"zero\""),
        "{stderr}"
    );
    assert!(stderr.contains("FLUXOPS_MODEL_REFRESH_SECS"), "{stderr}");
    assert!(stderr.contains("FLUXOPS_AZURE_AUTH"), "{stderr}");
    assert!(
        stderr.contains("unresolved Key Vault reference"),
        "{stderr}"
    );
}

/// Starts the handler as the Functions host does: on a free port it is told, ready once the
/// port accepts connections. A port taken by someone else between the choice and the bind
/// makes the handler exit, and the start is tried again on another port.
async fn start(vars: &[(&str, &str)]) -> (Child, SocketAddr) {
    for _ in 0..3 {
        let address = free_port();
        let port = address.port().to_string();
        let mut child = handler(vars)
            .env("FUNCTIONS_CUSTOMHANDLER_PORT", &port)
            .spawn()
            .expect("start the handler");
        if listening(&mut child, address).await {
            return (child, address);
        }
    }
    panic!("the handler did not start listening on three free ports");
}

/// A port nobody listens on now (the operating system's choice for port 0).
fn free_port() -> SocketAddr {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
}

/// Waits until `address` accepts connections while `child` runs (the host allows 60 s, Flex
/// Consumption 30 s; a test 20 s); false if the child exits first.
async fn listening(child: &mut Child, address: SocketAddr) -> bool {
    for _ in 0..2000 {
        if child.try_wait().expect("process status").is_some() {
            return false;
        }
        if TcpStream::connect(address).await.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the handler did not listen on {address} within 20 s");
}

/// Waits until the handler at `address` serves a model.
async fn wait_for_model(client: &reqwest::Client, address: SocketAddr) {
    let base = format!("http://{address}");
    wait_for_health(client, &base, "a model served", |health| {
        health["status"] == "healthy"
    })
    .await;
}

/// A registry folder with the stump model as `v1`, and its path.
async fn registry_with_model() -> (tempfile::TempDir, String) {
    let folder = tempfile::tempdir().expect("temporary folder");
    let source = folder.path().to_str().expect("UTF-8 path").to_owned();
    let registry = crate::helpers::open_registry(&source);
    publish(&registry, "v1", artifact_bytes(stumps([0, 1]), "v1")).await;
    (folder, source)
}

#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish_then_exits_cleanly() {
    let (_folder, source) = registry_with_model().await;
    let (mut child, address) = start(&[("FLUXOPS_MODEL_SOURCE", &source)]).await;
    wait_for_model(&reqwest::Client::new(), address).await;

    // A request in flight: headers and half the body sent.
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    let head = format!(
        "POST /api/predict HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        SEED_REQUEST.len()
    );
    let (first, rest) = SEED_REQUEST.split_at(SEED_REQUEST.len() / 2);
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream
        .write_all(first.as_bytes())
        .await
        .expect("write first half");
    tokio::time::sleep(Duration::from_millis(100)).await;

    let pid = child.id().expect("running").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(killed.success());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        child.try_wait().expect("status").is_none(),
        "exited with a request in flight"
    );

    stream
        .write_all(rest.as_bytes())
        .await
        .expect("write the rest");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .expect("answered")
        .expect("read");
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""model_version":"v1""#), "{response}");

    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits after draining")
        .expect("status");
    assert!(status.success(), "{status}");
    assert!(
        TcpStream::connect(&address).await.is_err(),
        "still listening"
    );
}

#[tokio::test]
async fn concurrent_predictions_all_succeed() {
    const N_CLIENTS: usize = 32;
    const N_REQUESTS: usize = 50;
    let (_folder, source) = registry_with_model().await;
    let (_child, address) = start(&[("FLUXOPS_MODEL_SOURCE", &source)]).await;
    let client = reqwest::Client::new();
    wait_for_model(&client, address).await;
    let url = format!("http://{address}/api/predict");
    let clients: Vec<_> = (0..N_CLIENTS)
        .map(|_| {
            let client = client.clone();
            let url = url.clone();
            tokio::spawn(async move {
                for _ in 0..N_REQUESTS {
                    let response = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(SEED_REQUEST)
                        .send()
                        .await
                        .expect("answered");
                    assert_eq!(response.status(), 200);
                    let body: serde_json::Value = response.json().await.expect("JSON");
                    assert_eq!(body["model_version"], "v1", "{body}");
                    assert_eq!(body["prediction"], 0, "{body}");
                }
            })
        })
        .collect();
    for client in clients {
        client.await.expect("every request answered 200");
    }
}

#[test]
fn no_openssl_is_linked() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).expect("Cargo.lock");
    assert!(
        !lock.contains("name = \"openssl-sys\""),
        "openssl-sys is in Cargo.lock: TLS must be rustls only"
    );
    let binary = std::fs::read(handler_binary()).expect("the handler binary");
    for library in [b"libssl.so".as_slice(), b"libcrypto.so".as_slice()] {
        assert!(
            !binary
                .windows(library.len())
                .any(|window| window == library),
            "the handler binary refers to {}",
            String::from_utf8_lossy(library)
        );
    }
}
