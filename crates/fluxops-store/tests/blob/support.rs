//! Shared test plumbing: one Azurite per test binary, a fresh container per test.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

use fluxops_store::{AccountKey, BlobAuth, BlobSettings, BlobStore, Registry, RetrySettings};

#[path = "../../../../xtask/src/azurite.rs"]
mod azurite;

pub use azurite::Azurite;

/// Short retries, so that failure tests stay fast.
pub const QUICK_RETRY: RetrySettings = RetrySettings {
    max_retries: 2,
    initial_delay: Duration::from_millis(50),
    max_elapsed: Duration::from_secs(2),
};

static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var_os("TEST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
            .with_test_writer()
            .init();
    }
});

/// The workspace root, where `.tools/` lives.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The shared Azurite's blob endpoint, `http://127.0.0.1:<port>`.
pub fn blob_endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    static OWN_AZURITE: OnceLock<Azurite> = OnceLock::new();
    LazyLock::force(&TRACING);
    ENDPOINT.get_or_init(|| {
        if let Ok(endpoint) = std::env::var(azurite::AZURITE_ENV) {
            return endpoint;
        }
        let under_ci = std::env::var("CI").is_ok_and(|ci| !matches!(ci.as_str(), "" | "0" | "false"));
        assert!(
            !under_ci,
            "{} is not set: under CI the Blob tests run through `cargo xtask test`, which starts Azurite",
            azurite::AZURITE_ENV
        );
        let own = Azurite::start(&workspace_root(), &[])
            .unwrap_or_else(|error| panic!("cannot start Azurite for the Blob tests: {error}"));
        let endpoint = own.blob_endpoint().to_owned();
        // Kept for the life of the test binary; its guard stops Azurite when the binary exits.
        let _ = OWN_AZURITE.set(own);
        endpoint
    })
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
    format!("{}/devstoreaccount1/{container}", blob_endpoint())
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

/// A registry in a new, empty container, and a raw store on the same container.
pub async fn fresh_registry(label: &str) -> (Registry, BlobStore) {
    let container = unique_container(label);
    let store = BlobStore::new(settings(&container)).expect("store");
    assert!(store.create_container().await.expect("create container"));
    let registry = Registry::open_blob(settings(&container)).expect("registry");
    (registry, store)
}

/// A small artifact whose content names its version.
pub fn artifact(version: &str) -> Vec<u8> {
    format!("{{\"format_version\":1,\"version\":\"{version}\"}}").into_bytes()
}
