//! The registry rules, enforced by Blob Storage itself: immutable versions, conditional pointer
//! updates, digest checks.

use fluxops_store::{Backend, ErrorKind, Latest, MODEL_FILE, Registry, WriteCondition};

use crate::support::{
    ACCOUNT, MODEL_LIMIT, above_4_mib, artifact, assert_says, fetch, fresh_registry, publish,
    unique_container,
};

/// Checks that `latest` is the current pointer, and that it reads back the artifact published
/// for its version.
async fn assert_current(registry: &Registry, latest: &Latest) {
    assert_eq!(
        registry.latest("fluxops").await.unwrap().as_ref(),
        Some(latest)
    );
    let model_json = fetch(registry, &latest.pointer).await.unwrap();
    assert_eq!(model_json, artifact(&latest.pointer.version));
}

#[tokio::test]
async fn publish_fetch_list_and_roll_back() {
    const OLDER: &str = "20261127T220000Z-aaaa";
    const NEWER: &str = "20261127T230000Z-bbbb";
    let (registry, _) = fresh_registry(&unique_container("roundtrip")).await;
    assert!(registry.latest("fluxops").await.unwrap().is_none());

    let first = publish(&registry, OLDER).await;
    let second = publish(&registry, NEWER).await;
    // The pointer's ETag is what the handler watches: every move changes it.
    assert_ne!(first.etag, second.etag);
    assert_current(&registry, &second).await;
    assert_eq!(
        registry.list_versions("fluxops").await.unwrap(),
        [OLDER, NEWER]
    );

    let rolled_back = registry
        .promote("fluxops", OLDER, Some(second.etag.clone()), MODEL_LIMIT)
        .await
        .unwrap();
    assert_eq!(rolled_back.pointer.version, OLDER);
    assert_current(&registry, &rolled_back).await;
}

#[tokio::test]
async fn a_published_version_cannot_be_overwritten() {
    let (registry, store) = fresh_registry(&unique_container("immutable")).await;
    publish(&registry, "v1").await;
    let again = registry
        .publish("fluxops", "v1", artifact("evil"), b"{}".to_vec())
        .await
        .unwrap_err();
    assert_eq!(again.kind(), ErrorKind::AlreadyExists, "{again}");
    assert_says(&again, &["fluxops/v1/model.json"]);
    let stored = store
        .read(&format!("fluxops/v1/{MODEL_FILE}"), MODEL_LIMIT)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.bytes, artifact("v1"));
}

#[tokio::test]
async fn of_two_writers_holding_the_same_etag_exactly_one_wins() {
    let (registry, _) = fresh_registry(&unique_container("race")).await;
    publish(&registry, "v0").await;
    for version in ["v1", "v2"] {
        publish(&registry, version).await;
    }
    // Both read the same pointer, then both try to move it.
    let read = registry.latest("fluxops").await.unwrap().unwrap();
    let (one, two) = tokio::join!(
        registry.promote("fluxops", "v1", Some(read.etag.clone()), MODEL_LIMIT),
        registry.promote("fluxops", "v2", Some(read.etag.clone()), MODEL_LIMIT),
    );
    let (winner, loser) = match (one, two) {
        (Ok(winner), Err(loser)) | (Err(loser), Ok(winner)) => (winner, loser),
        (one, two) => panic!("expected exactly one winner, got {one:?} and {two:?}"),
    };
    assert_eq!(loser.kind(), ErrorKind::Conflict, "{loser}");
    assert_says(&loser, &["another publisher updated fluxops/latest.json"]);
    let latest = registry.latest("fluxops").await.unwrap().unwrap();
    assert_eq!(latest.pointer.version, winner.pointer.version);
}

#[tokio::test]
async fn concurrent_publishers_never_lose_an_update_silently() {
    let (registry, _) = fresh_registry(&unique_container("publishers")).await;
    publish(&registry, "v0").await;
    let versions = ["p1", "p2", "p3", "p4"];
    let results =
        futures::future::join_all(versions.iter().map(|version| {
            registry.publish("fluxops", version, artifact(version), b"{}".to_vec())
        }))
        .await;
    let winners: Vec<_> = results
        .iter()
        .filter_map(|result| result.as_ref().ok())
        .collect();
    assert!(!winners.is_empty(), "{results:?}");
    for error in results.iter().filter_map(|result| result.as_ref().err()) {
        assert_eq!(error.kind(), ErrorKind::Conflict, "{error}");
    }
    // The pointer names the last winner; every loser was told.
    let latest = registry.latest("fluxops").await.unwrap().unwrap();
    assert!(
        winners
            .iter()
            .any(|winner| winner.pointer == latest.pointer)
    );
    assert_eq!(registry.list_versions("fluxops").await.unwrap().len(), 5);
}

#[tokio::test]
async fn a_tampered_blob_is_refused_and_the_pointer_is_kept() {
    let (registry, store) = fresh_registry(&unique_container("tamper")).await;
    let published = publish(&registry, "v1").await;
    let key = format!("fluxops/v1/{MODEL_FILE}");
    let stored = store.read(&key, MODEL_LIMIT).await.unwrap().unwrap();
    store
        .put(
            &key,
            artifact("tampered"),
            WriteCondition::IfMatch(stored.etag),
        )
        .await
        .unwrap();

    let error = fetch(&registry, &published.pointer).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Integrity, "{error}");
    assert_says(&error, &["SHA-256", &format!("storage account {ACCOUNT}")]);
    let latest = registry.latest("fluxops").await.unwrap().unwrap();
    assert_eq!(latest.pointer, published.pointer);
}

#[tokio::test]
async fn a_model_above_4_mib_round_trips_with_the_account_key() {
    let (registry, _) = fresh_registry(&unique_container("large")).await;
    // Above 4 MiB the SDK uploads in blocks, whose commit request has no Content-Length header.
    let large = above_4_mib();
    let published = registry
        .publish("fluxops", "v1", large.clone(), b"{}".to_vec())
        .await
        .unwrap();
    assert_eq!(fetch(&registry, &published.pointer).await.unwrap(), large);
}
