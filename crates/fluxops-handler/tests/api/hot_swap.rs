//! Model updates: swapped in under load without a failed request; bad artifacts refused.

use std::time::{Duration, Instant};

use fluxops_inference::{NodeSpec, ensemble_sha256};

use crate::helpers::{SEED_REQUEST, artifact_bytes, publish, spawn_app, stumps};

// Several worker threads, so that requests run while the watcher swaps, as in the handler.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_version_is_swapped_in_under_load_without_a_failed_request() {
    let app = spawn_app().await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let client = app.client.clone();
        let url = app.url("/api/predict");
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            let mut seen_v2 = false;
            while outcomes.len() < 150 || (!seen_v2 && started.elapsed() < Duration::from_secs(15))
            {
                let outcome = match client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(SEED_REQUEST)
                    .send()
                    .await
                {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let body: serde_json::Value = response.json().await.unwrap_or_default();
                        let version = body["model_version"].as_str().unwrap_or("").to_owned();
                        seen_v2 |= version == "v2";
                        (status, version)
                    }
                    Err(error) => (0, error.to_string()),
                };
                outcomes.push(outcome);
            }
            outcomes
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    publish(&app.registry, "v2", artifact_bytes(stumps([0, 1]), "v2")).await;
    let mut outcomes = Vec::new();
    for task in tasks {
        let sequence = task.await.expect("load task");
        // Within one client's sequence of requests, once v2 answers v1 never does again.
        let first_v2 = sequence.iter().position(|(_, version)| version == "v2");
        if let Some(first_v2) = first_v2 {
            assert!(
                sequence[first_v2..]
                    .iter()
                    .all(|(_, version)| version == "v2")
            );
        }
        outcomes.extend(sequence);
    }
    let failures: Vec<_> = outcomes
        .iter()
        .filter(|(status, _)| *status != 200)
        .collect();
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(
        outcomes.iter().any(|(_, version)| version == "v1"),
        "v1 served first"
    );
    assert!(
        outcomes.iter().any(|(_, version)| version == "v2"),
        "v2 swapped in"
    );
    assert_eq!(app.wait_for_version("v2").await["model"]["version"], "v2");
    app.stop().await;
}

#[tokio::test]
async fn a_tampered_artifact_is_refused_and_the_old_model_keeps_serving() {
    let app = spawn_app().await;
    let mut tampered = stumps([0, 1]);
    tampered.metadata.name = "fluxops".to_owned();
    tampered.metadata.version = "v2".to_owned();
    // Change the ensemble after its digest was recorded: the registry's digest of the file still
    // matches (it is computed on these bytes), but the artifact's own ensemble digest does not.
    if let NodeSpec::Split { threshold, .. } = &mut tampered.ensemble.trees[0].nodes[0] {
        *threshold = 99.0;
    }
    publish(&app.registry, "v2", tampered.to_json()).await;
    let health = app.wait_for_problem("model_refused").await;
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["model"]["version"], "v1");
    let body: serde_json::Value = app.predict(SEED_REQUEST).await.json().await.expect("JSON");
    assert_eq!(body["model_version"], "v1");

    // A good v3 replaces v1 and clears the problem.
    publish(&app.registry, "v3", artifact_bytes(stumps([0, 1]), "v3")).await;
    let health = app.wait_for_version("v3").await;
    assert!(health.get("problem").is_none(), "{health}");
    app.stop().await;
}

#[tokio::test]
async fn a_broken_forest_with_a_matching_digest_is_refused() {
    let app = spawn_app().await;
    let mut broken = stumps([0, 1]);
    broken.metadata.name = "fluxops".to_owned();
    broken.metadata.version = "v2".to_owned();
    if let NodeSpec::Split { right, .. } = &mut broken.ensemble.trees[0].nodes[0] {
        *right = 7;
    }
    broken.ensemble_sha256 = ensemble_sha256(&broken.ensemble);
    publish(&app.registry, "v2", broken.to_json()).await;
    let health = app.wait_for_problem("model_refused").await;
    assert_eq!(health["model"]["version"], "v1");
    app.stop().await;
}

#[tokio::test]
async fn an_artifact_published_under_another_version_is_refused() {
    let app = spawn_app().await;
    // Valid, but its metadata says v9 while the registry pointer says v2.
    publish(&app.registry, "v2", artifact_bytes(stumps([0, 1]), "v9")).await;
    let health = app.wait_for_problem("model_refused").await;
    assert_eq!(health["model"]["version"], "v1");
    app.stop().await;
}

#[tokio::test]
async fn an_artifact_over_the_byte_cap_is_refused_while_the_old_model_serves() {
    let v1 = artifact_bytes(stumps([0, 1]), "v1");
    let mut config = crate::helpers::test_config();
    config.max_model_bytes = v1.len() + 100;
    let app = crate::helpers::spawn_app_with(config, Some(stumps([0, 1]))).await;
    app.wait_for_version("v1").await;
    let mut large = stumps([0, 1]);
    let trees = large.ensemble.trees.clone();
    for _ in 0..10 {
        large.ensemble.trees.extend(trees.iter().cloned());
    }
    large.ensemble_sha256 = ensemble_sha256(&large.ensemble);
    publish(&app.registry, "v2", artifact_bytes(large, "v2")).await;
    let health = app.wait_for_problem("model_refused").await;
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["model"]["version"], "v1");
    app.stop().await;
}
