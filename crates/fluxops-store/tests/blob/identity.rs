//! The managed-identity path end to end, with the real `azure_identity::ManagedIdentityCredential`.
//!
//! The test starts Azurite over HTTPS with `--oauth basic` (a CA and a server certificate made
//! here) and a loopback `IDENTITY_ENDPOINT` that mints JWTs the way App Service does. The
//! credential reads `IDENTITY_ENDPOINT`, `IDENTITY_HEADER` and `AZURE_CLIENT_ID` from the process
//! environment, which a test cannot change safely, so the test runs itself again as a child
//! process with those variables and `SSL_CERT_FILE` naming the test CA; the child opens the
//! registry exactly as the handler does, with `Registry::from_settings` on the settings
//! `RegistrySettings::from_source` makes from the URL and the process's Azure variables.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fluxops_store::{
    AzureEnvironment, BlobSettings, BlobStore, ErrorKind, Registry, RegistrySettings,
};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::{Azurite, QUICK_RETRY, artifact, assert_says, fetch, publish, workspace_root};

/// This test's name, for the child process to run exactly it.
const TEST_NAME: &str = "identity::managed_identity_signs_in_end_to_end";
/// Tells the child which part to play.
const CHILD: &str = "FLUXOPS_TEST_IDENTITY_CHILD";
/// The registry URL handed to the child.
const REGISTRY: &str = "FLUXOPS_TEST_IDENTITY_REGISTRY";
/// What App Service puts in `IDENTITY_HEADER`; the token endpoint checks it.
const IDENTITY_SECRET: &str = "fluxops-identity-header";
/// A user-assigned identity's client ID.
const CLIENT_ID: &str = "0c9e7a51-5d4e-4f61-9b1a-2f7c3e8d9a10";

#[tokio::test]
async fn managed_identity_signs_in_end_to_end() {
    match std::env::var(CHILD).as_deref() {
        Ok("publish") => return child_publishes_with_the_identity().await,
        Ok("wrong-audience") => return child_is_told_which_role_is_missing().await,
        _ => {}
    }
    let folder = tempfile::tempdir().unwrap();
    let certificates = Certificates::write(folder.path());
    let azurite = Azurite::start(
        &workspace_root(),
        &[
            "--oauth",
            "basic",
            "--cert",
            path_str(&certificates.cert),
            "--key",
            path_str(&certificates.key),
        ],
    )
    .unwrap_or_else(|error| panic!("cannot start Azurite over HTTPS: {error}"));
    assert!(azurite.blob_endpoint().starts_with("https://127.0.0.1:"));
    let registry = fluxops_azurite::container_url(azurite.blob_endpoint(), "models");
    let tokens = TokenServer::start().await;

    run_child(
        "publish",
        &tokens.endpoint("storage"),
        Some(CLIENT_ID),
        &certificates.ca,
        &registry,
    )
    .await;
    run_child(
        "wrong-audience",
        &tokens.endpoint("vault"),
        None,
        &certificates.ca,
        &registry,
    )
    .await;

    let requests = tokens.requests();
    let asked = |path: &str, user_assigned: bool| {
        requests.iter().any(|request| {
            request.path == path
                && request.query.contains("api-version=2019-08-01")
                && request.query.contains("storage.azure.com")
                && request.query.contains(CLIENT_ID) == user_assigned
                && request.secret == IDENTITY_SECRET
        })
    };
    assert!(asked("/storage", true), "{requests:?}");
    assert!(asked("/vault", false), "{requests:?}");
}

/// The registry handed to the child, opened as the handler opens it: the source and the process's
/// Azure variables.
fn open_as_the_handler_does() -> Registry {
    let url = std::env::var(REGISTRY).unwrap();
    let environment = AzureEnvironment::from_process().unwrap();
    Registry::from_settings(RegistrySettings::from_source(&url, &environment).unwrap()).unwrap()
}

/// Child: publish and read back, signed in as a user-assigned identity.
async fn child_publishes_with_the_identity() {
    let url = std::env::var(REGISTRY).unwrap();
    let settings =
        BlobSettings::from_source(&url, &AzureEnvironment::from_process().unwrap()).unwrap();
    assert_eq!(
        settings.auth().to_string(),
        format!("managed identity (user-assigned, client ID {CLIENT_ID})")
    );
    // Azurite's basic OAuth checks the token, not roles, so the identity may create the container.
    let store = BlobStore::new(settings.with_retry(QUICK_RETRY)).unwrap();
    assert!(store.create_container().await.unwrap());

    let registry = open_as_the_handler_does();
    publish(&registry, "v1").await;
    let latest = registry.latest("fluxops").await.unwrap().unwrap();
    assert_eq!(latest.pointer.version, "v1");
    assert_eq!(
        fetch(&registry, &latest.pointer).await.unwrap(),
        artifact("v1")
    );
    assert_eq!(registry.list_versions("fluxops").await.unwrap(), ["v1"]);
}

/// Child: a token for another audience is refused, and the error names the role to grant.
async fn child_is_told_which_role_is_missing() {
    let error = open_as_the_handler_does()
        .latest("fluxops")
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::PermissionDenied, "{error}");
    assert_says(
        &error,
        &[
            "HTTP 403 AuthenticationFailed \"Invalid token audience.\"",
            "grant managed identity (system-assigned) the role 'Storage Blob Data Reader'",
            "container models",
        ],
    );
}

async fn run_child(
    mode: &str,
    identity_endpoint: &str,
    client_id: Option<&str>,
    ca: &Path,
    registry: &str,
) {
    let mut command = tokio::process::Command::new(std::env::current_exe().unwrap());
    command
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, mode)
        .env(REGISTRY, registry)
        .env("IDENTITY_ENDPOINT", identity_endpoint)
        .env("IDENTITY_HEADER", IDENTITY_SECRET)
        .env("SSL_CERT_FILE", ca)
        .env_remove("SSL_CERT_DIR")
        .env_remove("AZURE_STORAGE_CONNECTION_STRING")
        .env_remove("AZURE_FEDERATED_TOKEN_FILE")
        .env_remove("FLUXOPS_AZURE_AUTH")
        .env_remove("AZURE_CLIENT_ID")
        .kill_on_drop(true);
    if let Some(client_id) = client_id {
        command.env("AZURE_CLIENT_ID", client_id);
    }
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .unwrap_or_else(|_| panic!("child {mode} did not finish in 60 s"))
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // "1 passed" also proves the child ran the test rather than filtering it out.
    assert!(
        output.status.success() && text.contains("1 passed"),
        "child {mode} failed:\n{text}"
    );
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// A test CA and a server certificate for `127.0.0.1` and `localhost` that it signed.
struct Certificates {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Certificates {
    fn write(folder: &Path) -> Self {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let server_params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        let server_key = KeyPair::generate().unwrap();
        let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();
        let certificates = Certificates {
            ca: folder.join("ca.pem"),
            cert: folder.join("cert.pem"),
            key: folder.join("key.pem"),
        };
        std::fs::write(&certificates.ca, ca_cert.pem()).unwrap();
        std::fs::write(&certificates.cert, server_cert.pem()).unwrap();
        std::fs::write(&certificates.key, server_key.serialize_pem()).unwrap();
        certificates
    }
}

/// One token request as the endpoint saw it.
#[derive(Debug, Clone)]
struct TokenRequest {
    path: String,
    query: String,
    secret: String,
}

/// A loopback stand-in for App Service's identity endpoint: `GET /<audience>?...` answers with
/// a JWT for `https://storage.azure.com` (`/storage`) or for another audience (`/vault`).
struct TokenServer {
    address: std::net::SocketAddr,
    requests: Arc<Mutex<Vec<TokenRequest>>>,
}

impl TokenServer {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut stream).await else {
                        return;
                    };
                    let response = token_response(&request);
                    seen.lock().unwrap().push(request);
                    let _ = stream.write_all(response.as_bytes()).await;
                });
            }
        });
        TokenServer { address, requests }
    }

    fn endpoint(&self, audience: &str) -> String {
        format!("http://{}/{audience}", self.address)
    }

    fn requests(&self) -> Vec<TokenRequest> {
        self.requests.lock().unwrap().clone()
    }
}

async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<TokenRequest> {
    let mut head = Vec::new();
    let mut buffer = [0_u8; 1024];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
        let read = stream.read(&mut buffer).await.ok()?;
        if read == 0 || head.len() > 16 * 1024 {
            return None;
        }
        head.extend_from_slice(&buffer[..read]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let target = head.lines().next()?.split(' ').nth(1)?.to_owned();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let secret = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("x-identity-header"))
        .map(|(_, value)| value.trim().to_owned())
        .unwrap_or_default();
    Some(TokenRequest {
        path: path.to_owned(),
        query: query.to_owned(),
        secret,
    })
}

fn token_response(request: &TokenRequest) -> String {
    if request.secret != IDENTITY_SECRET {
        return "HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            .to_owned();
    }
    let audience = match request.path.as_str() {
        "/storage" => "https://storage.azure.com",
        _ => "https://vault.azure.net",
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expires = now + 3600;
    let encode = |json: String| azure_core::base64::encode_url_safe(json);
    let jwt = format!(
        "{}.{}.{}",
        encode(r#"{"alg":"RS256","typ":"JWT"}"#.to_owned()),
        encode(format!(
            r#"{{"aud":"{audience}","iss":"https://sts.windows.net/72f988bf-0000-0000-0000-000000000000/","iat":{},"nbf":{},"exp":{expires},"oid":"{CLIENT_ID}"}}"#,
            now - 60,
            now - 60
        )),
        encode("not-checked-by-azurite-basic-oauth".to_owned()),
    );
    let body = format!(
        r#"{{"access_token":"{jwt}","expires_on":"{expires}","resource":"{audience}","token_type":"Bearer"}}"#
    );
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}
