//! `fluxops-train` against a real Azurite: training data from the `data` container, `--publish
//! azurite`, and the run's log in the `logs` container.

use std::process::Command;

use fluxops_inference::{Model, ModelLimits};
use fluxops_store::{
    AccountKey, Backend, BlobAuth, BlobSettings, BlobStore, Registry, WriteCondition,
};

/// The Azurite the test command started, or one of our own for a plain `cargo test`.
fn blob_endpoint() -> &'static str {
    fluxops_azurite::test_blob_endpoint()
}

/// Azurite's development account key: published by Microsoft for the emulator, not a secret.
const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// The connection string of Azurite's development account at the test endpoint.
fn connection_string() -> String {
    format!(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};BlobEndpoint={}/devstoreaccount1;",
        blob_endpoint()
    )
}

fn container(name: &str) -> BlobStore {
    let url = format!("{}/devstoreaccount1/{name}", blob_endpoint());
    BlobStore::new(BlobSettings::new(&url, BlobAuth::SharedKey(AccountKey::development())).unwrap())
        .unwrap()
}

fn train(args: &[&str], out: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fluxops-train"))
        .args(args)
        .args(["--n-trees", "8", "--out"])
        .arg(out)
        .env("AZURE_STORAGE_CONNECTION_STRING", connection_string())
        .output()
        .unwrap()
}

#[test]
fn publishes_to_azurite_with_its_log_and_reads_data_from_a_container() {
    let folder = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();

    // Training data in the `data` container, as the original kept it.
    let data = container("data");
    runtime.block_on(data.create_container()).unwrap();
    let csv: String = "a,b,target\n".to_owned()
        + &(0..200)
            .map(|row| format!("{},{},{}\n", row % 10, row % 3, i32::from(row % 10 > 4)))
            .collect::<String>();
    runtime
        .block_on(data.put("train.csv", csv.into_bytes(), WriteCondition::IfAbsent))
        .unwrap();
    let data_url = format!("{}/devstoreaccount1/data/train.csv", blob_endpoint());

    // Published to `azurite`, whose containers the trainer creates on the way.
    let run = train(
        &["--data", &data_url, "--publish", "azurite"],
        &folder.path().join("models"),
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains(&data_url), "{stdout}");

    let models = container("models");
    let registry = Registry::new(std::sync::Arc::new(models));
    let latest = runtime
        .block_on(registry.latest("fluxops"))
        .unwrap()
        .expect("published");
    let bytes = runtime
        .block_on(registry.fetch("fluxops", &latest.pointer))
        .unwrap();
    let model = Model::from_json(&bytes, &ModelLimits::default()).unwrap();
    assert_eq!(model.schema().feature_names, vec!["a", "b"]);
    assert_eq!(
        model
            .metadata()
            .training_data
            .as_ref()
            .map(|data| &data.source),
        Some(&data_url)
    );

    let run_log = format!("fluxops/{}/train.log", latest.pointer.version);
    let log = runtime
        .block_on(container("logs").get(&run_log))
        .unwrap()
        .expect("log uploaded");
    assert!(String::from_utf8_lossy(&log.bytes).contains("confusion matrix"));
    assert!(
        runtime
            .block_on(
                container("logs").get(&format!("fluxops/{}/metrics.json", latest.pointer.version))
            )
            .unwrap()
            .is_some()
    );
}

#[test]
fn a_missing_data_blob_is_named_and_nothing_is_written() {
    let folder = tempfile::tempdir().unwrap();
    let data_url = format!("{}/devstoreaccount1/data/no-such-file.csv", blob_endpoint());
    let out = folder.path().join("models");
    let run = train(&["--data", &data_url], &out);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("no-such-file.csv"), "{stderr}");
    assert!(!out.exists());
}
