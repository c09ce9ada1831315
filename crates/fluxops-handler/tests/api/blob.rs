//! The handler over a Blob Storage registry in a real Azurite: a new version is picked up
//! without a restart, and a tampered blob is refused while the old model keeps serving.

use fluxops_azurite::create_container;
use fluxops_store::{AZURITE_ACCOUNT, AzureEnvironment, LatestPointer, ObjectLocation, sha256_hex};
use time::OffsetDateTime;

use crate::helpers::{
    MODEL, TestApp, artifact_bytes, open_registry, publish, registry_settings, serve, stumps,
    test_config,
};

/// The Azurite the test command started, or one of our own for a plain `cargo test`.
fn blob_endpoint() -> &'static str {
    fluxops_azurite::test_blob_endpoint()
}

/// Writes `bytes` to the blob at `url`, whatever is there.
async fn write_object(url: &str, bytes: Vec<u8>) {
    ObjectLocation::parse(url, &AzureEnvironment::default())
        .expect("blob URL")
        .write(bytes)
        .await
        .expect("write the blob");
}

/// Checks that the anonymous routes name neither the account, its endpoint nor the container.
async fn assert_reveals_no_account(app: &TestApp, url: &str) {
    let container = url.rsplit('/').next().unwrap_or(url);
    let endpoint = blob_endpoint().trim_start_matches("http://");
    for path in ["/api/health", "/api/model-info"] {
        let body = app.get(path).await.text().await.expect("body");
        for secret in [AZURITE_ACCOUNT, endpoint, container, "blob"] {
            assert!(!body.contains(secret), "{path} reveals {secret:?}: {body}");
        }
    }
}

/// A handler over a fresh container of Azurite's development account (the store signs loopback
/// `devstoreaccount1` URLs with Azurite's published key), serving `v1`.
async fn spawn_on_azurite(container: &str) -> (TestApp, String) {
    let url = fluxops_azurite::container_url(blob_endpoint(), container);
    assert!(create_container(&url).await);
    let registry = open_registry(&url);
    publish(&registry, "v1", artifact_bytes(stumps([0, 1]), "v1")).await;
    let mut config = test_config();
    config.registry = registry_settings(&url);
    let app = serve(config, registry, None).await;
    app.wait_for_version("v1").await;
    (app, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_published_to_blob_storage_is_served_without_a_restart() {
    let (app, _) = spawn_on_azurite(&format!("swap-{}", std::process::id())).await;
    publish(&app.registry, "v2", artifact_bytes(stumps([3, 8]), "v2")).await;
    let health = app.wait_for_version("v2").await;
    assert_eq!(health["status"], "healthy");
    let prediction: serde_json::Value = app
        .predict(crate::helpers::SEED_REQUEST)
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(prediction["model_version"], "v2");
    assert_eq!(prediction["prediction"], 3);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_blob_is_refused_and_the_old_model_keeps_serving() {
    let (app, url) = spawn_on_azurite(&format!("tamper-{}", std::process::id())).await;
    // v2's model.json is changed after its digest was taken: the pointer names the digest of
    // the good bytes, the blob holds others.
    let good = artifact_bytes(stumps([3, 8]), "v2");
    let mut tampered = good.clone();
    let last = tampered.len() - 2;
    tampered.insert(last, b' ');
    write_object(&format!("{url}/{MODEL}/v2/model.json"), tampered).await;
    let pointer = LatestPointer {
        version: "v2".to_owned(),
        sha256: sha256_hex(&good),
        path: format!("{MODEL}/v2/model.json"),
        published_at: OffsetDateTime::now_utc(),
    };
    write_object(
        &format!("{url}/{MODEL}/latest.json"),
        serde_json::to_vec(&pointer).expect("pointer JSON"),
    )
    .await;

    // Wait until the watcher has looked at the new pointer and refused it.
    let health = app.wait_for_problem("model_refused").await;
    assert_eq!(health["status"], "healthy");
    assert_reveals_no_account(&app, &url).await;
    assert_eq!(health["model"]["version"], "v1");
    let response = app.predict(crate::helpers::SEED_REQUEST).await;
    assert_eq!(response.status(), 200);
    let prediction: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(prediction["model_version"], "v1");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_not_there_yet_is_reported_then_served_as_soon_as_it_is() {
    let url =
        fluxops_azurite::container_url(blob_endpoint(), &format!("later-{}", std::process::id()));
    let registry = open_registry(&url);
    let mut config = test_config();
    config.registry = registry_settings(&url);
    let app = serve(config, registry, None).await;

    // The container does not exist: unhealthy, with a code that names nothing.
    let health = app.wait_for_problem("registry_unavailable").await;
    assert_eq!(health["status"], "unhealthy");
    assert_eq!(app.get("/api/health").await.status(), 503);
    assert_reveals_no_account(&app, &url).await;

    // The watcher keeps trying: once the model is published, it is served.
    assert!(create_container(&url).await);
    publish(&app.registry, "v1", artifact_bytes(stumps([0, 1]), "v1")).await;
    app.wait_for_version("v1").await;
    assert_eq!(
        app.predict(crate::helpers::SEED_REQUEST).await.status(),
        200
    );
    app.stop().await;
}
