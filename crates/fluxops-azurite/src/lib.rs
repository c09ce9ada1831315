//! Test support for Azurite, the local Azure Storage emulator: its blob service (npm
//! `azurite@3.35.0`, installed into `.tools/node` by `ci/tools.sh`) started on a free loopback
//! port, and the URLs and connection strings of its development account on that port.
//!
//! The development account's name and key live once, in `fluxops-store`
//! (`fluxops_store::AZURITE_ACCOUNT`, `AZURITE_ACCOUNT_KEY`), which needs them for
//! `UseDevelopmentStorage=true` and the `azurite` registry source; what ships depends on the store
//! alone, never on this crate. [`connection_string`] and [`container_url`] build on them (the
//! default `account` feature); starting Azurite needs only the standard library, so `xtask`
//! turns that feature off and does not build the store.
//!
//! `cargo xtask test` starts one [`Azurite`] for the whole workspace and hands its address to the
//! tests in [`AZURITE_ENV`]; the Blob tests of the store, the trainer and the handler find it with
//! [`test_blob_endpoint`], which starts their own Azurite under a plain `cargo test`. The
//! managed-identity test starts an HTTPS, OAuth-enabled one with [`Azurite::start`]. Starting
//! Azurite is test support, never used by what ships.
//!
//! Azurite runs under a small `sh` guard that stops it when the guard's standard input closes:
//! when [`Azurite`] is dropped, and also when the owning process dies without dropping it (a
//! test binary's statics are never dropped), so no Azurite outlives its owner.
#![deny(missing_docs)]

use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{OnceLock, mpsc};
use std::time::Duration;

#[cfg(feature = "account")]
use fluxops_store::{
    AZURITE_ACCOUNT, AZURITE_ACCOUNT_KEY, AzureEnvironment, BlobSettings, BlobStore,
};

/// The connection string of the development account on the Azurite at `blob_endpoint`
/// (`http://127.0.0.1:<port>`, as [`Azurite::blob_endpoint`] gives it).
#[cfg(feature = "account")]
pub fn connection_string(blob_endpoint: &str) -> String {
    format!(
        "DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};\
         AccountKey={AZURITE_ACCOUNT_KEY};BlobEndpoint={};",
        container_url(blob_endpoint, "")
    )
}

/// The URL of `container` in the development account on the Azurite at `blob_endpoint`
/// (`http(s)://127.0.0.1:<port>`); an empty `container` gives the account's URL.
#[cfg(feature = "account")]
pub fn container_url(blob_endpoint: &str, container: &str) -> String {
    let account = format!("{}/{AZURITE_ACCOUNT}", blob_endpoint.trim_end_matches('/'));
    if container.is_empty() {
        account
    } else {
        format!("{account}/{container}")
    }
}

/// Creates the container at `container_url` (a [`container_url`] of Azurite's development
/// account) if it is not there yet, signed with the account's key; whether it was new. Azurite
/// starts empty, and in Azure Terraform creates the containers.
///
/// # Panics
/// When Azurite cannot be reached or refuses: a test cannot go on without its container.
#[cfg(feature = "account")]
pub async fn create_container(container_url: &str) -> bool {
    BlobSettings::from_source(container_url, &AzureEnvironment::default())
        .and_then(BlobStore::new)
        .unwrap_or_else(|error| panic!("cannot use {container_url}: {error}"))
        .create_container()
        .await
        .unwrap_or_else(|error| panic!("cannot create {container_url}: {error}"))
}

/// Where `ci/tools.sh` installs Azurite's blob service, relative to the workspace root.
pub const AZURITE_BLOB_BIN: &str = ".tools/node/node_modules/.bin/azurite-blob";
/// The variable that hands the blob endpoint (`http://127.0.0.1:<port>`) to tests.
pub const AZURITE_ENV: &str = "FLUXOPS_TEST_AZURITE_BLOB";
/// How long Azurite may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// What Azurite prints once it listens, followed by its URL.
const LISTENING: &str = "successfully listens on ";

/// The guard script: start Azurite in the background with its output in a log file, print the
/// line that says where it listens (or the whole log if it dies first), wait for standard input
/// to close, stop Azurite. Nothing is written to standard output after start-up, so an owner
/// that exits without reading further cannot break Azurite's shutdown with a broken pipe.
const GUARD: &str = r#"log=$(mktemp)
node "$0" "$@" </dev/null >"$log" 2>&1 & azurite=$!
trap 'kill $azurite 2>/dev/null; wait $azurite 2>/dev/null; rm -f "$log"' EXIT
trap 'exit 143' TERM INT
until grep -q "successfully listens on" "$log"; do
  kill -0 $azurite 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.1
done
grep "successfully listens on" "$log"
cat >/dev/null"#;

/// A running Azurite blob service; stopped when dropped.
#[derive(Debug)]
pub struct Azurite {
    guard: Child,
    stdin: Option<ChildStdin>,
    endpoint: String,
}

impl Azurite {
    /// Starts Azurite from `root`'s `.tools` on `127.0.0.1`, port chosen by the system, data in
    /// memory, telemetry off, any API version accepted (the Rust SDK sends a newer one than
    /// 3.35 knows). `extra` adds options such as `--oauth basic --cert ... --key ...`.
    pub fn start(root: &Path, extra: &[&str]) -> io::Result<Azurite> {
        let bin = root.join(AZURITE_BLOB_BIN);
        if !bin.exists() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} is missing: run `sh ci/tools.sh` first", bin.display()),
            ));
        }
        let mut guard = Command::new("sh")
            .arg("-c")
            .arg(GUARD)
            .arg(&bin)
            .args([
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                "0",
                "--inMemoryPersistence",
                "--extentMemoryLimit",
                "256",
                "--disableTelemetry",
                "--skipApiVersionCheck",
                "--silent",
            ])
            .args(extra)
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = guard.stdin.take();
        let stdout = guard
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?;
        let mut azurite = Azurite {
            guard,
            stdin,
            endpoint: String::new(),
        };
        azurite.endpoint = wait_for_endpoint(stdout)?;
        Ok(azurite)
    }

    /// The blob service's base URL, `http(s)://127.0.0.1:<port>`; the development account's
    /// containers are under `/devstoreaccount1/` ([`container_url`]).
    pub fn blob_endpoint(&self) -> &str {
        &self.endpoint
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        // Closing the guard's input makes it stop Azurite and exit.
        drop(self.stdin.take());
        let _ = self.guard.wait();
    }
}

/// Reads the guard's output until it says where Azurite listens.
fn wait_for_endpoint(stdout: impl io::Read + Send + 'static) -> io::Result<String> {
    let (lines_sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // The receiver is gone once the endpoint is known.
            let _ = lines_sender.send(line);
        }
    });
    let mut seen = Vec::new();
    loop {
        match lines.recv_timeout(START_TIMEOUT) {
            Ok(line) => {
                if let Some((_, url)) = line.split_once(LISTENING) {
                    return Ok(url.trim().trim_end_matches('/').to_owned());
                }
                seen.push(line);
            }
            Err(error) => {
                let why = match error {
                    mpsc::RecvTimeoutError::Timeout => "did not start listening in time",
                    mpsc::RecvTimeoutError::Disconnected => "exited before listening",
                };
                return Err(io::Error::other(format!(
                    "Azurite {why}; its output was:\n{}",
                    seen.join("\n")
                )));
            }
        }
    }
}

/// The blob endpoint (`http://127.0.0.1:<port>`) the Blob tests of one test binary share: the
/// Azurite `cargo xtask test` started, named by [`AZURITE_ENV`], or else one started here from the
/// workspace's `.tools` for the life of the test binary (a plain `cargo test`).
///
/// Under CI (`CI` set and not `false`/`0`) the variable must be set: CI runs the tests through the
/// test command, and a missing Azurite there is a bug to report, not to paper over.
///
/// # Panics
/// When Azurite cannot be started (for instance before `sh ci/tools.sh` installed it): tests
/// cannot go on without it.
pub fn test_blob_endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    static OWN_AZURITE: OnceLock<Azurite> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        if let Ok(endpoint) = std::env::var(AZURITE_ENV) {
            return endpoint;
        }
        let under_ci =
            std::env::var("CI").is_ok_and(|ci| !matches!(ci.as_str(), "" | "0" | "false"));
        assert!(
            !under_ci,
            "{AZURITE_ENV} is not set: under CI the Blob tests run through `cargo xtask test`, which starts Azurite"
        );
        let own = Azurite::start(&workspace_root(), &[])
            .unwrap_or_else(|error| panic!("cannot start Azurite for the Blob tests: {error}"));
        let endpoint = own.blob_endpoint().to_owned();
        // Kept for the life of the test binary; its guard stops Azurite when the binary exits.
        let _ = OWN_AZURITE.set(own);
        endpoint
    })
}

/// The workspace root, where `.tools/` lives.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[cfg(all(test, feature = "account"))]
mod tests {
    use super::*;

    #[test]
    fn urls_and_connection_strings_name_the_development_account() {
        assert_eq!(
            container_url("http://127.0.0.1:4000/", "models"),
            "http://127.0.0.1:4000/devstoreaccount1/models"
        );
        assert_eq!(
            container_url("http://127.0.0.1:10000", ""),
            "http://127.0.0.1:10000/devstoreaccount1"
        );
        let text = connection_string("http://127.0.0.1:4000");
        assert!(text.contains("AccountName=devstoreaccount1;AccountKey=Eby8"));
        assert!(text.ends_with("BlobEndpoint=http://127.0.0.1:4000/devstoreaccount1;"));
    }
}
