//! Single files for the trainer: data in, metrics and logs out.

use fluxops_azurite::create_container;
use fluxops_store::{AzureEnvironment, ErrorKind, ObjectLocation};

use crate::support::{
    MODEL_LIMIT, above_4_mib, assert_says, container_url, settings, unique_container,
};

/// The file at a blob URL, signed in as a process with no Azure variables is (the development
/// key, for a loopback URL of Azurite's development account).
fn file_at(url: &str) -> ObjectLocation {
    ObjectLocation::parse(url, &AzureEnvironment::default()).expect("a blob URL")
}

#[tokio::test]
async fn files_round_trip_through_a_container_next_to_the_registry() {
    let logs = unique_container("logs");
    let registry = settings("models");
    let logs_url = registry.blob_url(&logs, "");
    assert_eq!(logs_url, container_url(&logs));
    assert!(create_container(&logs_url).await);
    assert!(!create_container(&logs_url).await);
    let location = registry.blob_url(&logs, "run-1/metrics.json");
    assert_eq!(
        location,
        format!("{}/run-1/metrics.json", container_url(&logs))
    );

    let metrics = file_at(&location);
    // Logs are replaced, not refused, when a run is repeated.
    for run in [b"{\"accuracy\":0.97}", b"{\"accuracy\":0.98}"] {
        metrics.write(run.to_vec()).await.unwrap();
        assert_eq!(metrics.read(MODEL_LIMIT).await.unwrap(), run);
    }

    let missing = file_at(&format!("{}/run-1/train.log", container_url(&logs)));
    let error = missing.read(MODEL_LIMIT).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotFound, "{error}");
    assert_says(&error, &["blob run-1/train.log does not exist"]);
}

#[tokio::test]
async fn files_above_4_mib_round_trip_with_the_account_key() {
    let url = container_url(&unique_container("bigdata"));
    assert!(create_container(&url).await);
    let data = file_at(&format!("{url}/train.csv"));
    let large = above_4_mib();
    data.write(large.clone()).await.unwrap();
    assert_eq!(data.read(MODEL_LIMIT).await.unwrap(), large);
}
