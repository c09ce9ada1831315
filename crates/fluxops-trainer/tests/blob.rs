//! `fluxops-train` against a real Azurite: training data from the `data` container, `--publish
//! azurite`, the run's log in the `logs` container, and what publishing does when `logs` is
//! missing.

use std::path::Path;
use std::process::{Command, Output};

use fluxops_inference::{Model, ModelLimits};
use fluxops_store::{
    AccountKey, Backend, BlobAuth, BlobSettings, BlobStore, ByteLimit, Registry, WriteCondition,
};

/// Reads in these tests are small.
const LIMIT: ByteLimit = ByteLimit::new(16 << 20, "the test's limit");

/// The Azurite the test command started, or one of our own for a plain `cargo test`.
fn blob_endpoint() -> &'static str {
    fluxops_azurite::test_blob_endpoint()
}

fn container_at(endpoint: &str, name: &str) -> BlobStore {
    let url = fluxops_azurite::container_url(endpoint, name);
    BlobStore::new(BlobSettings::new(&url, BlobAuth::SharedKey(AccountKey::development())).unwrap())
        .unwrap()
}

fn container(name: &str) -> BlobStore {
    container_at(blob_endpoint(), name)
}

/// `fluxops-train args... --n-trees 8 --out out`, with the environment `env` on top of the
/// connection string of the Azurite at `endpoint`.
fn train_at(endpoint: &str, args: &[&str], out: &Path, env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fluxops-train"))
        .args(args)
        .args(["--n-trees", "8", "--out"])
        .arg(out)
        .env(
            "AZURE_STORAGE_CONNECTION_STRING",
            fluxops_azurite::connection_string(endpoint),
        )
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn train(args: &[&str], out: &Path) -> Output {
    train_at(blob_endpoint(), args, out, &[])
}

fn stderr(run: &Output) -> String {
    String::from_utf8_lossy(&run.stderr).into_owned()
}

/// Puts a two-class CSV into the `data` container as `blob` and returns its URL.
fn upload_training_data(runtime: &tokio::runtime::Runtime, blob: &str) -> String {
    let data = container("data");
    runtime.block_on(data.create_container()).unwrap();
    let csv: String = "a,b,target\n".to_owned()
        + &(0..200)
            .map(|row| format!("{},{},{}\n", row % 10, row % 3, i32::from(row % 10 > 4)))
            .collect::<String>();
    runtime
        .block_on(data.put(blob, csv.into_bytes(), WriteCondition::IfAbsent))
        .unwrap();
    format!(
        "{}/{blob}",
        fluxops_azurite::container_url(blob_endpoint(), "data")
    )
}

#[test]
fn publishes_to_azurite_with_its_log_and_reads_data_from_a_container() {
    let folder = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();

    // Training data in the `data` container, as the original kept it.
    let data_url = upload_training_data(&runtime, "train.csv");

    // Published to `azurite`, whose containers the trainer creates on the way.
    let run = train(
        &["--data", &data_url, "--publish", "azurite"],
        &folder.path().join("models"),
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{}\n{stdout}", stderr(&run));
    assert!(stdout.contains(&data_url), "{stdout}");

    let models = container("models");
    let registry = Registry::new(std::sync::Arc::new(models));
    let latest = runtime
        .block_on(registry.latest("fluxops"))
        .unwrap()
        .expect("published");
    let bytes = runtime
        .block_on(registry.fetch_within("fluxops", &latest.pointer, LIMIT))
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

    // The run's log is the whole transcript, written after the publication it records.
    let run_log = format!("fluxops/{}/train.log", latest.pointer.version);
    let log = runtime
        .block_on(container("logs").read(&run_log, LIMIT))
        .unwrap()
        .expect("log uploaded");
    let log = String::from_utf8_lossy(&log.bytes);
    assert!(log.contains("confusion matrix"), "{log}");
    assert!(log.contains("published fluxops/"), "{log}");
    assert!(
        runtime
            .block_on(container("logs").read(
                &format!("fluxops/{}/metrics.json", latest.pointer.version),
                LIMIT
            ))
            .unwrap()
            .is_some()
    );
}

#[test]
fn without_a_logs_container_nothing_is_published() {
    // An Azurite of its own: the shared one may have a `logs` container already.
    let azurite = fluxops_azurite::Azurite::start(&fluxops_azurite::workspace_root(), &[]).unwrap();
    let endpoint = azurite.blob_endpoint();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let models = container_at(endpoint, "models");
    runtime.block_on(models.create_container()).unwrap();
    let folder = tempfile::tempdir().unwrap();
    let target = fluxops_azurite::container_url(endpoint, "models");

    let run = train_at(
        endpoint,
        &["--synthetic", "200", "--publish", &target],
        &folder.path().join("models"),
        &[],
    );
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    let message = stderr(&run);
    assert!(
        message.contains("cannot upload the run's metrics.json"),
        "{message}"
    );
    assert!(message.contains("/logs/fluxops/"), "{message}");
    assert!(message.contains("nothing was published"), "{message}");
    let registry = Registry::new(std::sync::Arc::new(models));
    assert_eq!(runtime.block_on(registry.latest("fluxops")).unwrap(), None);
    assert!(
        runtime
            .block_on(registry.list_versions("fluxops"))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn empty_azure_variables_are_unset_and_only_blob_locations_need_them() {
    let folder = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let data_url = upload_training_data(&runtime, "unset.csv");

    // Empty means unset: the loopback development account signs in with its published key.
    let empty = [
        ("AZURE_STORAGE_CONNECTION_STRING", ""),
        ("FLUXOPS_AZURE_AUTH", " "),
        ("AZURE_CLIENT_ID", ""),
    ];
    let run = train_at(
        blob_endpoint(),
        &["--data", &data_url],
        &folder.path().join("empty"),
        &empty,
    );
    assert!(run.status.success(), "{}", stderr(&run));

    // A broken variable stops a Blob run, naming it, but not a run on local files.
    let broken = [("FLUXOPS_AZURE_AUTH", "password")];
    let run = train_at(
        blob_endpoint(),
        &["--data", &data_url],
        &folder.path().join("broken"),
        &broken,
    );
    assert_eq!(run.status.code(), Some(1));
    assert!(
        stderr(&run).contains("FLUXOPS_AZURE_AUTH=\"password\""),
        "{}",
        stderr(&run)
    );
    assert!(!folder.path().join("broken").exists());
    let run = train_at(
        blob_endpoint(),
        &["--synthetic", "200"],
        &folder.path().join("local"),
        &broken,
    );
    assert!(run.status.success(), "{}", stderr(&run));
}

#[test]
fn a_missing_data_blob_is_named_and_nothing_is_written() {
    let folder = tempfile::tempdir().unwrap();
    let data_url = format!(
        "{}/no-such-file.csv",
        fluxops_azurite::container_url(blob_endpoint(), "data")
    );
    let out = folder.path().join("models");
    let run = train(&["--data", &data_url], &out);
    assert!(!run.status.success());
    assert!(
        stderr(&run).contains("no-such-file.csv"),
        "{}",
        stderr(&run)
    );
    assert!(!out.exists());
}
