//! The registry watcher: loads the published model, then polls `latest` and swaps in new versions.
//!
//! [`supervise`] runs it as a task and starts it again if it ever dies (a panic), so that a bug
//! or a hostile registry object can stop model updates for one interval at most; the model being
//! served keeps serving meanwhile, and `/api/health` counts the restarts. Restarting in place
//! beats exiting: the Functions host would start a fresh process that loads the same registry
//! state, so an object that panics the watcher would crash-loop every instance, and each restart
//! would drop the requests in flight and the good model already in memory.

use std::collections::HashMap;
use std::time::Duration;

use fluxops_inference::{Model, ModelLimits};
use fluxops_store::{ByteLimit, ETag, ErrorKind, Latest, Registry};
use fluxops_telemetry::ModelReload;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tracing::Instrument;

use crate::config::{Config, MAX_MODEL_BYTES_VAR, MIN_REFRESH_INTERVAL};
use crate::state::{AppState, LoadedModel, Problem};

/// How the watcher works, from the configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WatchSettings {
    /// How often the pointer is checked.
    pub(crate) interval: Duration,
    /// Largest artifact read, in bytes.
    pub(crate) max_model_bytes: usize,
}

impl From<&Config> for WatchSettings {
    fn from(config: &Config) -> Self {
        WatchSettings {
            interval: config.refresh_interval,
            max_model_bytes: config.max_model_bytes,
        }
    }
}

/// Most versions whose digests the watcher remembers; past it, it forgets them all and starts
/// again (a process loads a handful of versions in its life).
const MAX_REMEMBERED_VERSIONS: usize = 1024;

/// Runs [`watch`] as a task, forever, starting it again one interval after it panics; abort
/// this future's task to stop both.
pub(crate) async fn supervise(registry: Registry, state: AppState, settings: WatchSettings) {
    loop {
        let watcher = AbortOnDrop(tokio::spawn(watch(
            registry.clone(),
            state.clone(),
            settings,
        )));
        let ended = watcher.join().await;
        let Err(error) = ended else {
            return;
        };
        if !error.is_panic() {
            return;
        }
        state.count_watcher_restart();
        fluxops_telemetry::record_exception("watcher", &error);
        tracing::error!(
            restarts = state.watcher_restarts(),
            "the registry watcher died; starting it again after one refresh interval"
        );
        tokio::time::sleep(settings.interval).await;
    }
}

/// A task handle that aborts the task when dropped, so aborting the supervisor stops the
/// watcher it runs.
struct AbortOnDrop(JoinHandle<()>);

impl AbortOnDrop {
    async fn join(mut self) -> Result<(), tokio::task::JoinError> {
        (&mut self.0).await
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Checks the registry now and then every `settings.interval`, forever.
///
/// A new version is fetched (digest-checked by the registry, and never more than
/// `settings.max_model_bytes` read), verified and swapped in only when the pointer's tag
/// changes. A refused artifact is logged and remembered by its tag, so it is not downloaded again
/// until the pointer moves; the current model keeps serving meanwhile. Reads from a Blob Storage
/// registry are reported as dependencies.
pub(crate) async fn watch(registry: Registry, state: AppState, settings: WatchSettings) {
    let mut watcher = Watcher::new(registry, state, settings.max_model_bytes);
    // The configuration refuses shorter intervals; a zero one would panic the timer.
    let mut ticker = tokio::time::interval(settings.interval.max(MIN_REFRESH_INTERVAL));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        watcher.check().await;
    }
}

struct Watcher {
    registry: Registry,
    state: AppState,
    /// The pointer tag last acted on for good: loaded, or refused (with the problem).
    handled: Option<(ETag, Option<Problem>)>,
    /// The digest of every version loaded so far: versions are immutable, so one that comes
    /// back with other content is refused.
    loaded_digests: HashMap<String, String>,
    /// The container URL of a Blob Storage registry.
    blob_container: Option<String>,
    /// Caps on the artifact: its bytes (also the registry's read limit) and its structure.
    model_limits: ModelLimits,
}

/// Why a published version is not being served.
enum LoadFailure {
    /// The artifact itself is bad: remember its tag and do not try it again.
    Refused(String),
    /// The registry did not answer properly: try again at the next check.
    Transient(String),
}

impl Watcher {
    fn new(registry: Registry, state: AppState, max_model_bytes: usize) -> Self {
        let blob_container = registry.kind().blob_container_url().map(str::to_owned);
        // A watcher started again after a panic knows at least the model being served.
        let loaded_digests = state
            .model()
            .map(|current| (current.version.clone(), current.sha256.clone()))
            .into_iter()
            .collect();
        Watcher {
            registry,
            state,
            handled: None,
            loaded_digests,
            blob_container,
            model_limits: ModelLimits {
                max_model_bytes,
                ..ModelLimits::default()
            },
        }
    }

    async fn check(&mut self) {
        let name = self.state.model_name().to_owned();
        let Some(latest) = self.read_pointer(&name).await else {
            return;
        };
        if let Some((etag, problem)) = &self.handled
            && *etag == latest.etag
        {
            self.state.set_registry_problem(*problem);
            return;
        }
        let pointer = &latest.pointer;
        let version = pointer.version.clone();
        let digest = pointer.sha256.clone();
        // Application Insights records the model events as events of this span.
        let span = tracing::info_span!("model.load", model = %name, version = %version);
        if let Some(known) = self.loaded_digests.get(&version)
            && *known != digest
        {
            let reason = format!(
                "version {version} was loaded before with SHA-256 {known} and is now published \
                 with SHA-256 {digest}: versions are immutable, so publish the new content as a \
                 new version"
            );
            span.in_scope(|| self.refuse(latest.etag, &version, &digest, &reason));
            return;
        }
        let current = self.state.model();
        if let Some(current) = &current
            && current.version == version
        {
            self.handled = Some((latest.etag, None));
            self.state.set_registry_problem(None);
            return;
        }
        let loaded = self.load(&name, &latest).instrument(span.clone()).await;
        let _entered = span.enter();
        let metrics = self.state.metrics();
        match loaded {
            Ok(model) => {
                if let Some(current) = &current
                    && version < current.version
                {
                    tracing::warn!(
                        from = %current.version,
                        to = %version,
                        "rollback: the registry points at an older version than the one served"
                    );
                }
                fluxops_telemetry::model_loaded(&version, &digest);
                metrics.record_model_reload(ModelReload::Loaded);
                metrics.set_model_in_service(&version, model.model.metadata().created_at.into());
                if self.loaded_digests.len() >= MAX_REMEMBERED_VERSIONS {
                    self.loaded_digests.clear();
                }
                self.loaded_digests.insert(version, digest);
                self.state.swap_model(model);
                self.handled = Some((latest.etag, None));
                self.state.set_registry_problem(None);
            }
            Err(LoadFailure::Refused(reason)) => {
                self.refuse(latest.etag, &version, &digest, &reason);
            }
            Err(LoadFailure::Transient(reason)) => {
                tracing::warn!(%version, %reason, "cannot fetch the model; will retry");
                metrics.record_model_reload(ModelReload::Failed);
                self.state
                    .set_registry_problem(Some(Problem::RegistryUnavailable));
            }
        }
    }

    /// Reads the pointer; `None` (with the problem recorded) when there is none to act on.
    async fn read_pointer(&mut self, name: &str) -> Option<Latest> {
        let problem = match self.registry.latest(name).await {
            Ok(Some(latest)) => return Some(latest),
            Ok(None) => {
                tracing::warn!(
                    registry = %self.registry.location(),
                    model = name,
                    "the registry has no model of this name yet; publish one"
                );
                Problem::NoModelYet
            }
            // A pointer that is too large or not a pointer will not get better by reading it
            // again, but it is small (the store reads at most a few KiB) and may be replaced at
            // any time, so it is read at every check.
            Err(error) if matches!(error.kind(), ErrorKind::TooLarge | ErrorKind::Integrity) => {
                fluxops_telemetry::model_refused("(pointer)", "", &error.to_string());
                self.state
                    .metrics()
                    .record_model_reload(ModelReload::Refused);
                Problem::ModelRefused
            }
            Err(error) => {
                fluxops_telemetry::record_exception("store", &error);
                self.state
                    .metrics()
                    .record_model_reload(ModelReload::Failed);
                Problem::RegistryUnavailable
            }
        };
        self.state.set_registry_problem(Some(problem));
        None
    }

    /// Refuses a published version for good (until the pointer moves); the current model, if
    /// any, keeps serving.
    fn refuse(&mut self, etag: ETag, version: &str, digest: &str, reason: &str) {
        fluxops_telemetry::model_refused(version, digest, reason);
        self.state
            .metrics()
            .record_model_reload(ModelReload::Refused);
        self.handled = Some((etag, Some(Problem::ModelRefused)));
        self.state.set_registry_problem(Some(Problem::ModelRefused));
    }

    async fn load(&self, name: &str, latest: &Latest) -> Result<LoadedModel, LoadFailure> {
        let pointer = &latest.pointer;
        let limit = ByteLimit::new(
            self.model_limits.max_model_bytes as u64,
            MAX_MODEL_BYTES_VAR,
        );
        let fetch = self.registry.fetch_within(name, pointer, limit);
        let fetched = match &self.blob_container {
            Some(container) => {
                fluxops_telemetry::trace_blob_read(container, &pointer.path, fetch).await
            }
            None => fetch.await,
        };
        let bytes = fetched.map_err(|error| match error.kind() {
            ErrorKind::Integrity | ErrorKind::InvalidInput | ErrorKind::TooLarge => {
                LoadFailure::Refused(error.to_string())
            }
            // Including NotFound: a publisher may write the pointer before the artifact lands.
            _ => LoadFailure::Transient(error.to_string()),
        })?;
        // Parsing and compiling a large forest takes milliseconds: keep it off the request workers.
        let limits = self.model_limits;
        let model = tokio::task::spawn_blocking(move || Model::from_json(&bytes, &limits))
            .await
            .map_err(|error| LoadFailure::Refused(format!("verification did not finish: {error}")))?
            .map_err(|error| LoadFailure::Refused(error.to_string()))?;
        let metadata = model.metadata();
        if metadata.name != name || metadata.version != pointer.version {
            return Err(LoadFailure::Refused(format!(
                "the artifact says it is {:?} version {:?}, but the registry pointer names {name:?} version {:?}",
                metadata.name, metadata.version, pointer.version
            )));
        }
        Ok(LoadedModel::new(
            model,
            pointer.version.clone(),
            pointer.sha256.clone(),
            pointer.published_at,
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex, PoisonError};

    use async_trait::async_trait;
    use fluxops_inference::testing::{Stump, stump_artifact};
    use fluxops_inference::{ClassLabels, ModelArtifact, Task};
    use fluxops_store::sha256_hex;
    use fluxops_store::{
        Backend, Error, LatestPointer, LocalFolder, RegistryKind, StoredObject, WriteCondition,
    };
    use time::OffsetDateTime;

    use super::*;

    /// A folder registry that counts artifact downloads, remembers the limit they were read
    /// with, and can pretend to be unreachable or to panic.
    #[derive(Debug)]
    struct Counting {
        folder: LocalFolder,
        model_reads: AtomicUsize,
        model_read_limit: AtomicU64,
        unreachable: AtomicBool,
        /// Pointer reads that panic before one succeeds.
        panics_left: AtomicUsize,
    }

    #[async_trait]
    impl Backend for Counting {
        fn kind(&self) -> RegistryKind {
            self.folder.kind()
        }

        async fn read(
            &self,
            key: &str,
            limit: ByteLimit,
        ) -> fluxops_store::Result<Option<StoredObject>> {
            if key.ends_with("latest.json")
                && self
                    .panics_left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
            {
                panic!("a bug somewhere below the watcher");
            }
            if key.ends_with("model.json") {
                self.model_reads.fetch_add(1, Ordering::SeqCst);
                self.model_read_limit
                    .store(limit.max_bytes(), Ordering::SeqCst);
                if self.unreachable.load(Ordering::SeqCst) {
                    return Err(Error::new(ErrorKind::Unavailable, "pretend outage"));
                }
            }
            self.folder.read(key, limit).await
        }

        async fn put(
            &self,
            key: &str,
            bytes: Vec<u8>,
            condition: WriteCondition,
        ) -> fluxops_store::Result<ETag> {
            self.folder.put(key, bytes, condition).await
        }

        async fn list(&self, prefix: &str) -> fluxops_store::Result<Vec<String>> {
            self.folder.list(prefix).await
        }
    }

    fn artifact(version: &str, labels: [i64; 2]) -> ModelArtifact {
        let mut artifact = stump_artifact(1, &labels, &[Stump::new(0, 0.5)]);
        artifact.metadata.name = "fluxops".to_owned();
        artifact.metadata.version = version.to_owned();
        artifact
    }

    struct Fixture {
        folder: tempfile::TempDir,
        backend: Arc<Counting>,
        registry: Registry,
        state: AppState,
    }

    impl Fixture {
        fn new() -> Self {
            let folder = tempfile::tempdir().expect("temporary folder");
            let backend = Arc::new(Counting {
                folder: LocalFolder::new(folder.path()),
                model_reads: AtomicUsize::new(0),
                model_read_limit: AtomicU64::new(0),
                unreachable: AtomicBool::new(false),
                panics_left: AtomicUsize::new(0),
            });
            let registry = Registry::new(backend.clone());
            let state = AppState::new(&Config::default(), Default::default());
            Fixture {
                folder,
                backend,
                registry,
                state,
            }
        }

        fn watcher(&self, max_model_bytes: usize) -> Watcher {
            Watcher::new(self.registry.clone(), self.state.clone(), max_model_bytes)
        }

        async fn publish(&self, version: &str, labels: [i64; 2]) {
            self.registry
                .publish(
                    "fluxops",
                    version,
                    artifact(version, labels).to_json(),
                    b"{}".to_vec(),
                )
                .await
                .expect("publish");
        }

        /// Writes `bytes` as `version`'s artifact and points `latest` at it, as a publisher
        /// that ignores the registry's rules would: straight into the folder.
        fn write_behind_the_registrys_back(&self, version: &str, bytes: &[u8]) {
            let root = self.folder.path().join("fluxops");
            std::fs::create_dir_all(root.join(version)).expect("version folder");
            std::fs::write(root.join(version).join("model.json"), bytes).expect("artifact");
            self.write_pointer(version, &sha256_hex(bytes));
        }

        fn write_pointer(&self, version: &str, sha256: &str) {
            let pointer = LatestPointer {
                version: version.to_owned(),
                sha256: sha256.to_owned(),
                path: format!("fluxops/{version}/model.json"),
                published_at: OffsetDateTime::now_utc(),
            };
            let root = self.folder.path().join("fluxops");
            std::fs::create_dir_all(&root).expect("model folder");
            std::fs::write(
                root.join("latest.json"),
                serde_json::to_vec(&pointer).expect("pointer JSON"),
            )
            .expect("pointer");
        }

        fn served(&self) -> Option<(String, i64)> {
            self.state.model().map(|model| {
                let Task::Classifier {
                    labels: ClassLabels::Integers(labels),
                } = &model.model.schema().task
                else {
                    panic!("the test models have integer labels")
                };
                (model.version.clone(), labels[0])
            })
        }

        fn problem(&self) -> Option<Problem> {
            self.state.registry_status().problem
        }

        fn model_reads(&self) -> usize {
            self.backend.model_reads.load(Ordering::SeqCst)
        }
    }

    #[tokio::test]
    async fn a_refused_artifact_is_downloaded_once_until_the_pointer_moves() {
        let fixture = Fixture::new();
        let mut watcher = fixture.watcher(1 << 20);
        let mut tampered = artifact("v1", [0, 1]);
        tampered.ensemble_sha256 = "0".repeat(64);
        fixture
            .registry
            .publish("fluxops", "v1", tampered.to_json(), b"{}".to_vec())
            .await
            .expect("publish");
        for _ in 0..3 {
            watcher.check().await;
        }
        assert_eq!(fixture.model_reads(), 1);
        assert_eq!(fixture.served(), None);
        assert_eq!(fixture.problem(), Some(Problem::ModelRefused));

        fixture.publish("v2", [0, 1]).await;
        watcher.check().await;
        watcher.check().await;
        assert_eq!(fixture.model_reads(), 2);
        assert_eq!(fixture.served(), Some(("v2".to_owned(), 0)));
        assert_eq!(fixture.problem(), None);
    }

    #[tokio::test]
    async fn an_unreachable_artifact_is_retried_at_every_check() {
        let fixture = Fixture::new();
        let mut watcher = fixture.watcher(1 << 20);
        fixture.publish("v1", [0, 1]).await;
        fixture.backend.unreachable.store(true, Ordering::SeqCst);
        watcher.check().await;
        watcher.check().await;
        assert_eq!(fixture.model_reads(), 2);
        assert_eq!(fixture.served(), None);
        assert_eq!(fixture.problem(), Some(Problem::RegistryUnavailable));
        fixture.backend.unreachable.store(false, Ordering::SeqCst);
        watcher.check().await;
        assert_eq!(fixture.served(), Some(("v1".to_owned(), 0)));
        // Loaded: later checks read only the pointer.
        watcher.check().await;
        assert_eq!(fixture.model_reads(), 3);
    }

    #[tokio::test]
    async fn an_artifact_over_the_cap_is_refused_and_read_with_the_cap_as_its_limit() {
        let fixture = Fixture::new();
        let bytes = artifact("v1", [0, 1]).to_json();
        let cap = bytes.len() - 1;
        let mut watcher = fixture.watcher(cap);
        fixture.publish("v1", [0, 1]).await;
        watcher.check().await;
        watcher.check().await;
        assert_eq!(fixture.served(), None);
        assert_eq!(fixture.problem(), Some(Problem::ModelRefused));
        // The store never takes in more than one byte past the limit it is given.
        assert_eq!(
            fixture.backend.model_read_limit.load(Ordering::SeqCst),
            cap as u64
        );
        assert_eq!(fixture.model_reads(), 1, "remembered by the pointer's tag");
    }

    #[tokio::test]
    async fn a_pointer_that_is_too_large_is_refused_and_nothing_else_is_read() {
        let fixture = Fixture::new();
        let mut watcher = fixture.watcher(1 << 20);
        let root = fixture.folder.path().join("fluxops");
        std::fs::create_dir_all(&root).expect("model folder");
        std::fs::write(root.join("latest.json"), vec![b' '; 100_000]).expect("pointer");
        watcher.check().await;
        assert_eq!(fixture.problem(), Some(Problem::ModelRefused));
        assert_eq!(fixture.model_reads(), 0);
    }

    #[tokio::test]
    async fn a_model_json_that_appears_after_its_pointer_is_loaded_when_it_lands() {
        let fixture = Fixture::new();
        let mut watcher = fixture.watcher(1 << 20);
        let bytes = artifact("v1", [0, 1]).to_json();
        fixture.write_pointer("v1", &sha256_hex(&bytes));
        watcher.check().await;
        watcher.check().await;
        assert_eq!(fixture.served(), None);
        assert_eq!(fixture.problem(), Some(Problem::RegistryUnavailable));
        fixture.write_behind_the_registrys_back("v1", &bytes);
        watcher.check().await;
        assert_eq!(fixture.served(), Some(("v1".to_owned(), 0)));
        assert_eq!(fixture.problem(), None);
    }

    #[tokio::test]
    async fn a_version_published_again_with_other_content_is_refused() {
        let fixture = Fixture::new();
        let mut watcher = fixture.watcher(1 << 20);
        fixture.publish("v1", [0, 1]).await;
        watcher.check().await;
        assert_eq!(fixture.served(), Some(("v1".to_owned(), 0)));
        // Same version, other labels: other bytes, a new digest and a new pointer tag.
        let changed = artifact("v1", [5, 6]).to_json();
        fixture.write_behind_the_registrys_back("v1", &changed);
        watcher.check().await;
        watcher.check().await;
        assert_eq!(
            fixture.served(),
            Some(("v1".to_owned(), 0)),
            "v1 as first loaded"
        );
        assert_eq!(fixture.problem(), Some(Problem::ModelRefused));
        assert_eq!(fixture.model_reads(), 1, "refused without downloading");

        // An older version that comes back changed is refused the same way.
        fixture.publish("v2", [0, 1]).await;
        watcher.check().await;
        assert_eq!(fixture.served(), Some(("v2".to_owned(), 0)));
        fixture.write_behind_the_registrys_back("v1", &artifact("v1", [7, 8]).to_json());
        watcher.check().await;
        assert_eq!(fixture.served(), Some(("v2".to_owned(), 0)));
        assert_eq!(fixture.problem(), Some(Problem::ModelRefused));
    }

    /// The log lines written while `work` runs on this thread.
    async fn logs_of(work: impl std::future::Future<Output = ()>) -> String {
        #[derive(Clone, Default)]
        struct Lines(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Lines {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _scoped = tracing::subscriber::set_default(subscriber);
        work.await;
        let bytes = lines.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[tokio::test]
    async fn a_rollback_to_an_older_version_is_served_and_logged_as_one() {
        let fixture = Fixture::new();
        let mut watcher = fixture.watcher(1 << 20);
        fixture.publish("v1", [0, 1]).await;
        fixture.publish("v2", [3, 4]).await;
        watcher.check().await;
        assert_eq!(fixture.served(), Some(("v2".to_owned(), 3)));
        let current = fixture
            .registry
            .latest("fluxops")
            .await
            .expect("pointer")
            .expect("published");
        fixture
            .registry
            .promote(
                "fluxops",
                "v1",
                Some(current.etag),
                ByteLimit::new(1 << 20, "test"),
            )
            .await
            .expect("roll back");
        let logs = logs_of(watcher.check()).await;
        assert_eq!(fixture.served(), Some(("v1".to_owned(), 0)));
        assert!(logs.contains("rollback"), "{logs}");
        assert!(logs.contains("from=v2") && logs.contains("to=v1"), "{logs}");
        // A forward move is not called a rollback.
        fixture.publish("v3", [0, 1]).await;
        let logs = logs_of(watcher.check()).await;
        assert_eq!(fixture.served(), Some(("v3".to_owned(), 0)));
        assert!(!logs.contains("rollback"), "{logs}");
    }

    #[tokio::test]
    async fn a_watcher_that_panics_is_started_again_and_counted() {
        let fixture = Fixture::new();
        fixture.publish("v1", [0, 1]).await;
        fixture.backend.panics_left.store(2, Ordering::SeqCst);
        let settings = WatchSettings {
            interval: Duration::from_millis(10),
            max_model_bytes: 1 << 20,
        };
        let supervisor = tokio::spawn(supervise(
            fixture.registry.clone(),
            fixture.state.clone(),
            settings,
        ));
        tokio::time::timeout(Duration::from_secs(10), async {
            while fixture.served().is_none() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the model is loaded once the panics stop");
        assert_eq!(fixture.state.watcher_restarts(), 2);
        assert!(!supervisor.is_finished());
        supervisor.abort();
    }

    #[tokio::test]
    async fn a_zero_interval_is_clamped_instead_of_panicking_the_timer() {
        let fixture = Fixture::new();
        fixture.publish("v1", [0, 1]).await;
        let settings = WatchSettings {
            interval: Duration::ZERO,
            max_model_bytes: 1 << 20,
        };
        let watcher = tokio::spawn(watch(
            fixture.registry.clone(),
            fixture.state.clone(),
            settings,
        ));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!watcher.is_finished(), "the watcher is still running");
        assert_eq!(fixture.served(), Some(("v1".to_owned(), 0)));
        watcher.abort();
    }
}
