//! Shared test plumbing: one Azurite per test binary, a fresh container per test.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fluxops_store::{AccountKey, BlobAuth, BlobSettings, BlobStore, Registry, RetrySettings};

pub use fluxops_azurite::{Azurite, workspace_root};

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

/// 5 MiB and a bit of patterned bytes: above the 4 MiB where the SDK switches to block uploads.
pub fn above_4_mib() -> Vec<u8> {
    (0..5 * 1024 * 1024 + 123)
        .map(|index: usize| (index % 251) as u8)
        .collect()
}
