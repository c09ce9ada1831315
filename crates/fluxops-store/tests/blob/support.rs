//! Shared test plumbing: one Azurite per test binary, a fresh container per test.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use fluxops_store::{
    AccountKey, BlobAuth, BlobSettings, BlobStore, ByteLimit, Latest, LatestPointer, Registry,
    RegistrySettings, RetrySettings,
};

pub use fluxops_azurite::{Azurite, workspace_root};
pub use fluxops_store::AZURITE_ACCOUNT as ACCOUNT;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Short retries, so that failure tests stay fast.
pub const QUICK_RETRY: RetrySettings = RetrySettings {
    max_retries: 2,
    initial_delay: Duration::from_millis(50),
    max_elapsed: Duration::from_secs(2),
};

/// The limit the tests read artifacts with: above every artifact they publish to be read.
pub const MODEL_LIMIT: ByteLimit = ByteLimit::new(8 << 20, "TEST_MAX_MODEL_BYTES");

static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var_os("TEST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
            .with_test_writer()
            .init();
    }
});

/// The shared Azurite's blob endpoint, `http://127.0.0.1:<port>`.
pub fn blob_endpoint() -> &'static str {
    LazyLock::force(&TRACING);
    fluxops_azurite::test_blob_endpoint()
}

/// A container name no other test (or earlier run against the same Azurite) uses.
pub fn unique_container(label: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{label}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The URL of `container` in the shared Azurite's development account.
pub fn container_url(container: &str) -> String {
    fluxops_azurite::container_url(blob_endpoint(), container)
}

/// Settings for `container` in the shared Azurite, signed with the development account key.
pub fn settings(container: &str) -> BlobSettings {
    BlobSettings::new(
        &container_url(container),
        BlobAuth::SharedKey(AccountKey::development()),
    )
    .expect("valid Azurite settings")
    .with_retry(QUICK_RETRY)
}

/// The registry in the container `settings` name, opened as the handler opens one.
pub fn open_registry(settings: BlobSettings) -> Registry {
    Registry::from_settings(RegistrySettings::Blob(Box::new(settings))).expect("registry")
}

/// A registry in the new, empty container `container`, and a raw store on the same container.
pub async fn fresh_registry(container: &str) -> (Registry, BlobStore) {
    let store = BlobStore::new(settings(container)).expect("store");
    assert!(store.create_container().await.expect("create container"));
    (open_registry(settings(container)), store)
}

/// Publishes `fluxops` `version` (artifact [`artifact`]`(version)`, metrics `{}`) and makes it
/// current.
pub async fn publish(registry: &Registry, version: &str) -> Latest {
    registry
        .publish("fluxops", version, artifact(version), b"{}".to_vec())
        .await
        .expect("publish")
}

/// The `fluxops` artifact `pointer` names, read within [`MODEL_LIMIT`].
pub async fn fetch(registry: &Registry, pointer: &LatestPointer) -> fluxops_store::Result<Vec<u8>> {
    registry.fetch_within("fluxops", pointer, MODEL_LIMIT).await
}

/// Checks that `error`'s message says each of `words`.
#[track_caller]
pub fn assert_says(error: &impl std::fmt::Display, words: &[&str]) {
    let message = error.to_string();
    for words in words {
        assert!(message.contains(words), "{words:?} not in {message}");
    }
}

/// A small artifact whose content names its version.
pub fn artifact(version: &str) -> Vec<u8> {
    format!("{{\"format_version\":1,\"version\":\"{version}\"}}").into_bytes()
}

/// 5 MiB and a bit of patterned bytes: above the 4 MiB where the SDK switches to block uploads.
pub fn above_4_mib() -> Vec<u8> {
    (0..5 * 1024 * 1024 + 123)
        .map(|index: usize| (index % 251) as u8)
        .collect()
}

/// A loopback TCP proxy in front of the shared Azurite that counts the bytes Azurite sends
/// back: what a client really took in, whatever it kept.
pub struct CountingProxy {
    endpoint: String,
    received: Arc<AtomicU64>,
    connections: Arc<AtomicUsize>,
}

impl CountingProxy {
    /// Listens on a free loopback port and forwards every connection to Azurite.
    pub async fn start() -> Self {
        let upstream = blob_endpoint()
            .strip_prefix("http://")
            .expect("Azurite over http")
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let received = Arc::new(AtomicU64::new(0));
        let counter = received.clone();
        let connections = Arc::new(AtomicUsize::new(0));
        let accepted = connections.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                accepted.fetch_add(1, Ordering::Relaxed);
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                });
                let counter = counter.clone();
                tokio::spawn(async move {
                    let mut buffer = vec![0_u8; 64 << 10];
                    while let Ok(read @ 1..) = server_read.read(&mut buffer).await {
                        counter.fetch_add(read as u64, Ordering::Relaxed);
                        if client_write.write_all(&buffer[..read]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        CountingProxy {
            endpoint,
            received,
            connections,
        }
    }

    /// The URL of `container` in the development account, through the proxy.
    pub fn container_url(&self, container: &str) -> String {
        fluxops_azurite::container_url(&self.endpoint, container)
    }

    /// The bytes Azurite has sent through the proxy so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// The connections clients have opened through the proxy so far. An HTTP client reuses an
    /// idle connection before it opens another, so this is the most requests it had in flight.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }
}
