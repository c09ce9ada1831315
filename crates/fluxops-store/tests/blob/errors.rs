//! Each failure says what is missing or refused, naming account, container and blob.

use std::time::{Duration, Instant};

use fluxops_store::{AccountKey, BlobAuth, BlobSettings, BlobStore, ErrorKind, LatestPointer};

use crate::support::{
    ACCOUNT, MODEL_LIMIT, QUICK_RETRY, assert_says, container_url, fetch, fresh_registry,
    open_registry, publish, settings, unique_container,
};

#[tokio::test]
async fn a_missing_container_is_named() {
    let container = unique_container("absent");
    let registry = open_registry(settings(&container));
    let error = registry.latest("fluxops").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotFound, "{error}");
    assert_says(
        &error,
        &[&format!(
            "container {container} does not exist in storage account {ACCOUNT}"
        )],
    );
}

#[tokio::test]
async fn a_missing_blob_is_named() {
    let (registry, _) = fresh_registry(&unique_container("noblob")).await;
    publish(&registry, "v1").await;
    let mut pointer: LatestPointer = registry.latest("fluxops").await.unwrap().unwrap().pointer;
    pointer.version = "v9".into();
    pointer.path = "fluxops/v9/model.json".into();
    let error = fetch(&registry, &pointer).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotFound, "{error}");
    assert_says(
        &error,
        &[
            "fluxops/v9/model.json does not exist in container noblob-",
            &format!("storage account {ACCOUNT}"),
        ],
    );

    let promote = registry
        .promote("fluxops", "v9", None, MODEL_LIMIT)
        .await
        .unwrap_err();
    assert_eq!(promote.kind(), ErrorKind::NotFound, "{promote}");
}

#[tokio::test]
async fn a_wrong_account_key_is_refused_as_a_permission_error() {
    let container = unique_container("wrongkey");
    BlobStore::new(settings(&container))
        .unwrap()
        .create_container()
        .await
        .unwrap();
    let wrong = BlobSettings::new(
        &container_url(&container),
        BlobAuth::SharedKey(AccountKey::new(ACCOUNT, "d3Jvbmcta2V5LXdyb25nLWtleQ==")),
    )
    .unwrap()
    .with_retry(QUICK_RETRY);
    let error = open_registry(wrong).latest("fluxops").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::PermissionDenied, "{error}");
    // Azure says AuthenticationFailed, Azurite AuthorizationFailure: both are 403.
    assert_says(
        &error,
        &[
            "HTTP 403 ",
            "account key was refused",
            "fluxops/latest.json",
        ],
    );
    assert!(!error.to_string().contains("d3Jvbmcta2V5"), "{error}");
}

#[tokio::test]
async fn an_unreachable_service_is_unavailable_after_bounded_retries() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = fluxops_azurite::container_url(&format!("http://127.0.0.1:{port}"), "models");
    let settings = BlobSettings::new(&url, BlobAuth::SharedKey(AccountKey::development()))
        .unwrap()
        .with_retry(QUICK_RETRY);
    let started = Instant::now();
    let error = open_registry(settings).latest("fluxops").await.unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
    assert_says(&error, &[&format!("cannot reach {url}"), "3 tries"]);
    // Two retries after 100 ms and 200 ms (each plus up to 255 ms of jitter): bounded, not instant.
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}
