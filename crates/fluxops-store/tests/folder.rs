//! Bounded reads from a folder registry: a huge or endless file is refused after reading at
//! most one byte past the limit, which this process's read counter (`rchar` in
//! `/proc/self/io`) shows.
#![cfg(target_os = "linux")]

use std::fs;
use std::path::Path;

use fluxops_store::{
    AzureEnvironment, ByteLimit, ErrorKind, ObjectLocation, Registry, RegistrySettings,
};

/// The limit the handler would pass for `FLUXOPS_MAX_MODEL_BYTES`, small for the test.
const MODEL_LIMIT: ByteLimit = ByteLimit::new(1 << 20, "FLUXOPS_MAX_MODEL_BYTES");
/// Reads by the test harness and the runtime, while a measured read runs, stay below this.
const SLACK: u64 = 64 << 10;

/// One measured read at a time: the counter is the whole process's.
static MEASURING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The bytes this process read through `read(2)` and friends so far.
fn bytes_read() -> u64 {
    let io = fs::read_to_string("/proc/self/io").expect("/proc/self/io");
    io.lines()
        .find_map(|line| line.strip_prefix("rchar:"))
        .and_then(|value| value.trim().parse().ok())
        .expect("an rchar line")
}

/// Runs `read` and returns its result with the bytes the process read meanwhile (minus the
/// counter's own file).
async fn measured<T>(read: impl Future<Output = T>) -> (T, u64) {
    let _one_at_a_time = MEASURING.lock().await;
    let before = bytes_read();
    let result = read.await;
    (result, bytes_read() - before)
}

/// A registry with `fluxops` v1 published, and the path of its `model.json`.
async fn published(folder: &Path) -> (Registry, fluxops_store::Latest) {
    let registry = Registry::from_settings(RegistrySettings::Folder(folder.to_owned())).unwrap();
    let latest = registry
        .publish("fluxops", "v1", b"{}".to_vec(), b"{}".to_vec())
        .await
        .unwrap();
    (registry, latest)
}

/// Replaces a file with a sparse one of `size` bytes: no disk used, every byte readable.
fn sparse(path: &Path, size: u64) {
    fs::remove_file(path).unwrap();
    fs::File::create(path).unwrap().set_len(size).unwrap();
}

#[tokio::test]
async fn a_600_mb_model_is_refused_without_being_read() {
    let folder = tempfile::tempdir().unwrap();
    let (registry, latest) = published(folder.path()).await;
    sparse(&folder.path().join("fluxops/v1/model.json"), 600 << 20);

    let (fetched, read) =
        measured(registry.fetch_within("fluxops", &latest.pointer, MODEL_LIMIT)).await;
    let error = fetched.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TooLarge, "{error}");
    let message = error.to_string();
    for words in [
        "fluxops/v1/model.json in folder ",
        "is 629145600 bytes, more than the limit of 1048576 bytes",
        "raise FLUXOPS_MAX_MODEL_BYTES",
    ] {
        assert!(message.contains(words), "{words:?} not in {message}");
    }
    assert!(read < SLACK, "read {read} bytes");
}

#[tokio::test]
async fn an_endless_model_is_refused_after_the_limit_plus_one_byte() {
    let folder = tempfile::tempdir().unwrap();
    let (registry, latest) = published(folder.path()).await;
    let model = folder.path().join("fluxops/v1/model.json");
    fs::remove_file(&model).unwrap();
    // A device has no size to check first: only counting bytes stops the read.
    std::os::unix::fs::symlink("/dev/zero", &model).unwrap();

    let (fetched, read) =
        measured(registry.fetch_within("fluxops", &latest.pointer, MODEL_LIMIT)).await;
    let error = fetched.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TooLarge, "{error}");
    assert!(
        error.to_string().contains("is larger, more than the limit"),
        "{error}"
    );
    let limit = MODEL_LIMIT.max_bytes();
    assert!(
        read > limit && read <= limit + 1 + SLACK,
        "read {read} bytes"
    );
}

#[tokio::test]
async fn a_100_mb_pointer_is_refused_and_the_registry_says_how_to_recover() {
    let folder = tempfile::tempdir().unwrap();
    let (registry, _) = published(folder.path()).await;
    sparse(&folder.path().join("fluxops/latest.json"), 100 << 20);

    let (latest, read) = measured(registry.latest("fluxops")).await;
    let error = latest.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TooLarge, "{error}");
    let message = error.to_string();
    assert!(
        message.contains("fluxops/latest.json in folder ")
            && message.contains("is 104857600 bytes, more than the limit of 4096 bytes")
            && message.contains("publish or promote a version to replace it"),
        "{message}"
    );
    assert!(read < SLACK, "read {read} bytes");
    // Publishing reads the pointer first, so it is refused the same way and writes nothing.
    let again = registry
        .publish("fluxops", "v2", b"{}".to_vec(), b"{}".to_vec())
        .await
        .unwrap_err();
    assert_eq!(again.kind(), ErrorKind::TooLarge, "{again}");
    assert!(!folder.path().join("fluxops/v2").exists());
}

#[tokio::test]
async fn a_huge_training_file_is_refused_without_being_read() {
    let folder = tempfile::tempdir().unwrap();
    let data = folder.path().join("train.csv");
    fs::write(&data, "a,target\n").unwrap();
    sparse(&data, 600 << 20);
    let location =
        ObjectLocation::parse(data.to_str().unwrap(), &AzureEnvironment::default()).unwrap();

    let (read_data, read) =
        measured(location.read(ByteLimit::new(1 << 20, "--max-data-bytes"))).await;
    let error = read_data.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TooLarge, "{error}");
    assert!(
        error.to_string().contains("train.csv is 629145600 bytes"),
        "{error}"
    );
    assert!(
        error.to_string().contains("raise --max-data-bytes"),
        "{error}"
    );
    assert!(read < SLACK, "read {read} bytes");
}
