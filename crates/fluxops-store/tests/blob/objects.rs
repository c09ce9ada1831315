//! Single files for the trainer: data in, metrics and logs out.

use fluxops_store::{ErrorKind, blob_location, create_container, read_object, write_object};

use crate::support::{above_4_mib, container_url, unique_container};

#[tokio::test]
async fn files_round_trip_through_a_container_next_to_the_registry() {
    let logs = unique_container("logs");
    let registry = container_url("models");
    let logs_url = blob_location(&registry, &logs, "").unwrap().unwrap();
    assert_eq!(logs_url, container_url(&logs));
    assert!(create_container(&logs_url).await.unwrap());
    assert!(!create_container(&logs_url).await.unwrap());
    let location = blob_location(&registry, &logs, "run-1/metrics.json")
        .unwrap()
        .unwrap();
    assert_eq!(
        location,
        format!("{}/run-1/metrics.json", container_url(&logs))
    );

    write_object(&location, b"{\"accuracy\":0.97}".to_vec())
        .await
        .unwrap();
    assert_eq!(
        read_object(&location).await.unwrap(),
        b"{\"accuracy\":0.97}"
    );
    // Logs are replaced, not refused, when a run is repeated.
    write_object(&location, b"{\"accuracy\":0.98}".to_vec())
        .await
        .unwrap();
    assert_eq!(
        read_object(&location).await.unwrap(),
        b"{\"accuracy\":0.98}"
    );

    let missing = format!("{}/run-1/train.log", container_url(&logs));
    let error = read_object(&missing).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotFound, "{error}");
    assert!(
        error
            .to_string()
            .contains("blob run-1/train.log does not exist"),
        "{error}"
    );
}

#[tokio::test]
async fn files_above_4_mib_round_trip_with_the_account_key() {
    let data = unique_container("bigdata");
    let url = container_url(&data);
    assert!(create_container(&url).await.unwrap());
    let location = format!("{url}/train.csv");
    let large = above_4_mib();
    write_object(&location, large.clone()).await.unwrap();
    assert_eq!(read_object(&location).await.unwrap(), large);
}
