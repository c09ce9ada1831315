//! Bounded reads from Blob Storage: a blob above the limit is refused by its size before its
//! body is read, and no more than one byte past the limit ever crosses the wire, as a counting
//! proxy between the store and Azurite shows.

use fluxops_store::{
    AzureEnvironment, Backend, BlobSettings, ByteLimit, ErrorKind, LatestPointer,
    MAX_POINTER_BYTES, ObjectLocation, Registry, WriteCondition,
};

use crate::support::{
    ACCOUNT, CountingProxy, MODEL_LIMIT, QUICK_RETRY, above_4_mib, assert_says, fetch,
    fresh_registry, open_registry, settings, unique_container,
};

/// A model cap for these tests, named as the handler's variable.
const ONE_MIB: ByteLimit = ByteLimit::new(1 << 20, "FLUXOPS_MAX_MODEL_BYTES");
/// Response headers, on top of the body bytes a read may take in.
const HEADERS: u64 = 16 << 10;

/// A registry on `container` through the proxy, signed with the development key.
fn through(proxy: &CountingProxy, container: &str) -> Registry {
    let url = proxy.container_url(container);
    open_registry(
        BlobSettings::new(&url, settings(container).auth().clone())
            .unwrap()
            .with_retry(QUICK_RETRY),
    )
}

/// `artifact` published as `fluxops` v1 in a fresh container; a registry on that container
/// through a new proxy, the pointer, and the proxy.
async fn published_behind_proxy(
    label: &str,
    artifact: Vec<u8>,
) -> (Registry, LatestPointer, CountingProxy) {
    let container = unique_container(label);
    let (registry, _) = fresh_registry(&container).await;
    let published = registry
        .publish("fluxops", "v1", artifact, b"{}".to_vec())
        .await
        .unwrap();
    let proxy = CountingProxy::start().await;
    let registry = through(&proxy, &container);
    (registry, published.pointer, proxy)
}

/// Checks that no more than `body` bytes (plus headers) came through the proxy.
fn assert_received_at_most(proxy: &CountingProxy, body: u64) {
    let received = proxy.received();
    assert!(received <= body + HEADERS, "received {received} bytes");
}

#[tokio::test]
async fn a_20_mib_model_is_refused_after_at_most_the_limit_plus_one_byte() {
    let (registry, pointer, proxy) = published_behind_proxy("huge", vec![b' '; 20 << 20]).await;
    let error = registry
        .fetch_within("fluxops", &pointer, ONE_MIB)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TooLarge, "{error}");
    assert_says(
        &error,
        &[
            "blob fluxops/v1/model.json in container huge-",
            &format!("of storage account {ACCOUNT}"),
            "is 20971520 bytes, more than the limit of 1048576 bytes",
            "raise FLUXOPS_MAX_MODEL_BYTES",
        ],
    );
    assert_received_at_most(&proxy, ONE_MIB.max_bytes() + 1);
}

#[tokio::test]
async fn a_model_within_the_limit_is_read_whole_through_ranged_requests() {
    let large = above_4_mib();
    let (registry, pointer, _) = published_behind_proxy("ranged", large.clone()).await;
    assert_eq!(fetch(&registry, &pointer).await.unwrap(), large);
    // Exactly at the limit is still within it.
    let exact = ByteLimit::new(large.len() as u64, "TEST");
    assert_eq!(
        registry
            .fetch_within("fluxops", &pointer, exact)
            .await
            .unwrap(),
        large
    );
}

#[tokio::test]
async fn a_large_model_is_read_with_at_most_two_requests_in_flight() {
    // Four 4 MiB partitions: left to itself, the SDK fetches the last three at once, each into a
    // buffer of its own.
    let large: Vec<u8> = (0..16 << 20)
        .map(|index: usize| (index % 251) as u8)
        .collect();
    let (registry, pointer, proxy) = published_behind_proxy("parallel", large.clone()).await;
    let limit = ByteLimit::new(32 << 20, "FLUXOPS_MAX_MODEL_BYTES");
    let fetched = registry.fetch_within("fluxops", &pointer, limit).await;
    assert!(fetched.unwrap() == large, "the model came back changed");
    let connections = proxy.connections();
    assert!(connections <= 2, "{connections} requests were in flight");
}

#[tokio::test]
async fn a_1_mib_pointer_is_refused_after_reading_at_most_4_kib() {
    let container = unique_container("bigpointer");
    let (registry, store) = fresh_registry(&container).await;
    registry
        .publish("fluxops", "v1", b"{}".to_vec(), b"{}".to_vec())
        .await
        .unwrap();
    let current = store
        .read("fluxops/latest.json", MODEL_LIMIT)
        .await
        .unwrap()
        .unwrap();
    store
        .put(
            "fluxops/latest.json",
            vec![b' '; 1 << 20],
            WriteCondition::IfMatch(current.etag),
        )
        .await
        .unwrap();
    let proxy = CountingProxy::start().await;
    let registry = through(&proxy, &container);

    let error = registry.latest("fluxops").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TooLarge, "{error}");
    assert_says(
        &error,
        &["blob fluxops/latest.json in container bigpointer-"],
    );
    assert_received_at_most(&proxy, MAX_POINTER_BYTES + 1);
}

#[tokio::test]
async fn a_huge_training_blob_is_refused_and_an_empty_one_read() {
    let container = unique_container("hugedata");
    let (_, store) = fresh_registry(&container).await;
    store
        .put("train.csv", vec![b'1'; 8 << 20], WriteCondition::IfAbsent)
        .await
        .unwrap();
    store
        .put("empty.csv", Vec::new(), WriteCondition::IfAbsent)
        .await
        .unwrap();
    let proxy = CountingProxy::start().await;
    let container_url = proxy.container_url(&container);
    let location = |blob: &str| {
        ObjectLocation::parse(
            &format!("{container_url}/{blob}"),
            &AzureEnvironment::default(),
        )
        .unwrap()
    };

    let data_limit = ByteLimit::new(1 << 20, "--max-data-bytes");
    let error = location("train.csv").read(data_limit).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TooLarge, "{error}");
    assert_says(&error, &["is 8388608 bytes", "--max-data-bytes"]);
    assert_received_at_most(&proxy, data_limit.max_bytes() + 1);
    // An empty blob answers a ranged request with 416; it is read (empty) all the same.
    let empty = location("empty.csv").read(ONE_MIB).await.unwrap();
    assert!(empty.is_empty());
}
