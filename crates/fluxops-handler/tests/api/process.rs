//! The `handler` executable itself: start-up errors, graceful shutdown on SIGTERM, no OpenSSL.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::helpers::{SEED_REQUEST, artifact_bytes, publish, stumps};

const HANDLER: &str = env!("CARGO_BIN_EXE_handler");

/// The handler process with a clean environment apart from `vars`.
fn handler(vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(HANDLER);
    command
        .env_clear()
        .env("RUST_LOG", "info")
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

#[tokio::test]
async fn bad_settings_stop_the_start_with_one_message_each() {
    let output = handler(&[
        ("FLUXOPS_MAX_BATCH", "zero"),
        ("FLUXOPS_MODEL_REFRESH_SECS", "-5"),
        (
            "FLUXOPS_MODEL_SOURCE",
            "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/source/)",
        ),
    ])
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
    assert!(
        stderr.contains("unresolved Key Vault reference"),
        "{stderr}"
    );
}

/// Starts the handler on a free port and returns it with its address once it listens.
async fn start(vars: &[(&str, &str)]) -> (Child, String) {
    let mut child = handler(vars)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the handler");
    let (found, address) = tokio::sync::mpsc::channel(2);
    // Logs go to stdout and stderr by level: watch both for the address, and keep draining them.
    let stdout = child.stdout.take().expect("stdout piped");
    let stderr = child.stderr.take().expect("stderr piped");
    tokio::spawn(find_address(BufReader::new(stdout), found.clone()));
    tokio::spawn(find_address(BufReader::new(stderr), found));
    let address = tokio::time::timeout(Duration::from_secs(20), address_of(address))
        .await
        .expect("the handler logs its address");
    (child, address)
}

async fn address_of(mut found: tokio::sync::mpsc::Receiver<String>) -> String {
    found.recv().await.expect("the handler logs its address")
}

async fn find_address(
    output: impl tokio::io::AsyncBufRead + Unpin,
    found: tokio::sync::mpsc::Sender<String>,
) {
    let mut lines = output.lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if std::env::var_os("TEST_LOG").is_some() {
            eprintln!("handler: {line}");
        }
        if line.contains("listening")
            && let Some(start) = line.find("127.0.0.1:")
        {
            let port: String = line[start + 10..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            let _ = found.send(format!("127.0.0.1:{port}")).await;
        }
    }
}

#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish_then_exits_cleanly() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let source = folder.path().to_str().expect("UTF-8 path");
    let registry = fluxops_store::Registry::open(source).expect("registry");
    publish(&registry, "v1", artifact_bytes(stumps([0, 1]), "v1")).await;
    let (mut child, address) = start(&[
        ("FUNCTIONS_CUSTOMHANDLER_PORT", "0"),
        ("FLUXOPS_MODEL_SOURCE", source),
    ])
    .await;
    let client = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..500 {
        if let Ok(response) = client
            .get(format!("http://{address}/api/health"))
            .send()
            .await
            && response.status() == 200
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(ready, "the model never loaded");

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

#[test]
fn no_openssl_is_linked() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).expect("Cargo.lock");
    assert!(
        !lock.contains("name = \"openssl-sys\""),
        "openssl-sys is in Cargo.lock: TLS must be rustls only"
    );
    let binary = std::fs::read(HANDLER).expect("the handler binary");
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
